"""Alembic migrations create exactly ``hub.db.tables.metadata``, on SQLite and PostgreSQL.

The schema is read back with SQLAlchemy's inspector and compared with the
metadata: table names, columns (name, type affinity, string length,
nullability), primary keys and indexes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Dialect, inspect, select
from sqlalchemy.types import TypeEngine

from hub.db.engine import MIGRATIONS, Database
from hub.db.tables import metadata
from hub.journal import Journal
from tests.hub.db.conftest import MakeRecord, OpenDb

ALEMBIC_TABLE = "alembic_version"


def head_revision() -> str | None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


def affinity(type_: TypeEngine[Any]) -> str:
    """The family of a column type, as both dialects store it."""
    python_type = type_.python_type
    return {int: "integer", float: "real", str: "text", bytes: "binary", bool: "boolean"}.get(
        python_type, python_type.__name__
    )


def type_for(type_: TypeEngine[Any], dialect: Dialect) -> TypeEngine[Any]:
    """``type_`` as ``dialect`` sees it (resolves ``with_variant``)."""
    variants: dict[str, TypeEngine[Any]] = getattr(type_, "_variant_mapping", {})
    return variants.get(dialect.name, type_)


@dataclass(frozen=True)
class ColumnShape:
    name: str
    affinity: str
    length: int | None
    nullable: bool


@dataclass(frozen=True)
class TableShape:
    columns: tuple[ColumnShape, ...]
    primary_key: tuple[str, ...]
    indexes: frozenset[tuple[str, tuple[str, ...], bool]]


def column_shape(name: str, type_: TypeEngine[Any], nullable: bool) -> ColumnShape:
    return ColumnShape(name, affinity(type_), getattr(type_, "length", None), nullable)


def expected_schema(dialect: Dialect) -> dict[str, TableShape]:
    """What the metadata says the database should hold."""
    schema: dict[str, TableShape] = {}
    for table in metadata.sorted_tables:
        columns = tuple(
            column_shape(c.name, type_for(c.type, dialect), bool(c.nullable)) for c in table.columns
        )
        indexes = frozenset(
            (ix.name or "", tuple(c.name for c in ix.columns), bool(ix.unique))
            for ix in table.indexes
        )
        primary_key = tuple(c.name for c in table.primary_key.columns)
        schema[table.name] = TableShape(columns, primary_key, indexes)
    return schema


def actual_schema(conn: Connection) -> dict[str, TableShape]:
    """What the database holds, by inspection (Alembic's own table left out)."""
    inspector = inspect(conn)
    schema: dict[str, TableShape] = {}
    for name in inspector.get_table_names():
        if name == ALEMBIC_TABLE:
            continue
        columns = tuple(
            column_shape(c["name"], c["type"], bool(c["nullable"]))
            for c in inspector.get_columns(name)
        )
        indexes = frozenset(
            (ix["name"] or "", tuple(str(c) for c in ix["column_names"]), bool(ix["unique"]))
            for ix in inspector.get_indexes(name)
        )
        primary_key = tuple(inspector.get_pk_constraint(name)["constrained_columns"])
        schema[name] = TableShape(columns, primary_key, indexes)
    return schema


async def schema_of(db: Database) -> dict[str, TableShape]:
    async with db.engine.connect() as conn:
        return await conn.run_sync(actual_schema)


async def test_empty_database_has_no_revision(open_db: OpenDb) -> None:
    db = await open_db()
    assert await db.current_revision() is None
    assert await schema_of(db) == {}


async def test_upgrade_creates_exactly_the_metadata_tables(open_db: OpenDb) -> None:
    db = await open_db()
    await db.upgrade()
    actual = await schema_of(db)
    expected = expected_schema(db.engine.dialect)
    assert sorted(actual) == sorted(expected)
    for name, shape in expected.items():
        assert actual[name] == shape, f"table {name} differs from hub.db.tables"


async def test_upgrade_reaches_the_head_revision(open_db: OpenDb) -> None:
    db = await open_db()
    await db.upgrade()
    head = head_revision()
    assert head is not None
    assert await db.current_revision() == head


async def test_events_id_is_generated_by_the_database(open_db: OpenDb) -> None:
    """SQLite must get INTEGER PRIMARY KEY (a rowid alias) for ids to autoincrement."""
    db = await open_db()
    await db.upgrade()
    journal = Journal(db)
    await db.committer.run(journal.event("m1", "received"), journal.event("m1", "parsed"))
    from hub.db.tables import events

    async with db.connect() as conn:
        ids = (await conn.execute(select(events.c.id).order_by(events.c.id))).scalars().all()
    assert len(ids) == 2
    assert ids[0] < ids[1]


async def test_upgrade_twice_changes_nothing(open_db: OpenDb, make_record: MakeRecord) -> None:
    db = await open_db()
    await db.upgrade()
    journal = Journal(db)
    rec = make_record()
    await db.committer.run(journal.record(rec))
    before = (await schema_of(db), await db.current_revision())
    await db.upgrade()
    again = await open_db()
    await again.upgrade()
    assert (await schema_of(db), await db.current_revision()) == before
    assert await Journal(again).get(rec.id) is not None
