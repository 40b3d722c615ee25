"""Fixtures for the storage contract: every test runs on SQLite and on PostgreSQL.

``db_url`` is parametrised with ids ``sqlite`` and ``postgresql`` (a fresh
database per test, see :mod:`tests.support.databases`). ``open_db`` opens
databases on that URL and closes every one at teardown; ``db`` is one already
migrated to head; ``journal`` and ``blob_store`` sit on it. ``make_record``
builds :class:`~hub.journal.MessageRecord` objects with sensible defaults.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from hub.blobs import BlobStore
from hub.db.engine import Database
from hub.journal import Journal, MessageRecord
from tests.support.databases import DIALECTS, database_url

OpenDb = Callable[[], Awaitable[Database]]
MakeRecord = Callable[..., MessageRecord]

BASE_TIME = 1_700_000_000.0


@pytest.fixture(params=DIALECTS)
async def db_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A database URL on SQLite (``sqlite``) or a fresh PostgreSQL database (``postgresql``)."""
    async with database_url(request) as url:
        yield url


@pytest.fixture
async def open_db(db_url: str) -> AsyncIterator[OpenDb]:
    """``await open_db()``: a new, not migrated Database on ``db_url``; all closed afterwards."""
    opened: list[Database] = []

    async def factory() -> Database:
        database = await Database.open(db_url)
        opened.append(database)
        return database

    yield factory
    for database in reversed(opened):
        await database.close()


@pytest.fixture
async def db(open_db: OpenDb) -> Database:
    """An open database migrated to head."""
    database = await open_db()
    await database.upgrade()
    return database


@pytest.fixture
def journal(db: Database) -> Journal:
    """The journal on ``db``."""
    return Journal(db)


@pytest.fixture
def blob_dir(tmp_path: Path) -> Path:
    """Where the blob store keeps large blobs."""
    return tmp_path / "blobs"


@pytest.fixture
def blob_store(db: Database, blob_dir: Path) -> BlobStore:
    """The blob store on ``db`` and ``blob_dir``."""
    return BlobStore(db, blob_dir)


@pytest.fixture
def make_record() -> MakeRecord:
    """``make_record(**fields)``: a MessageRecord; ids ``m0001``, ``m0002``... by default.

    Default ids grow with each call, so records made later sort as newer.
    """
    counter = itertools.count(1)

    def factory(**fields: Any) -> MessageRecord:
        n = next(counter)
        values: dict[str, Any] = {
            "id": f"m{n:04d}",
            "received_at": BASE_TIME + n,
            "source": "chu-a",
            "protocol": "mllp",
            "peer": "10.0.0.1:40000",
            "sender": "GAM|CHU-A",
            "control_id": f"CTRL{n}",
            "message_type": "ADT^A01",
            "sha256": f"{n:064x}",
            "size": 100 + n,
            "status": "received",
            "patient_key": f"IPP{n}@CHU-A",
            "ack_code": "AA",
            "ack": b"MSH|^~\\&|HUB|ARS\rMSA|AA|CTRL\r",
        }
        values.update(fields)
        return MessageRecord(**values)

    return factory
