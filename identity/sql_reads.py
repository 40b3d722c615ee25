"""The SRRI's hot reads: a few SELECTs per identity event, without per-call overhead.

Through :meth:`hub.db.engine.Database.fetch` on PostgreSQL, each SELECT
checked a connection out of the pool, sent ``BEGIN``, the statement and
``ROLLBACK`` (three round trips) and paid SQLAlchemy's compilation-cache and
result-row machinery: about a millisecond of the process's CPU per
statement, measured, for an event that needs three or four of them. Here a
statement is compiled once (its SQL text and the order of its parameters
kept, as :mod:`hub.db.committer` does for writes) and every statement of an
event runs on one checked-out asyncpg connection outside any transaction:
one round trip each, on a statement asyncpg prepared once per connection.
Rows are asyncpg records, read by position like SQLAlchemy rows.

SQLite keeps the database layer's own path (a synchronous reader in a
worker thread); the statements are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.sql import Executable

from hub.db.engine import Database

Query = tuple[Executable, dict[str, Any]]
"""A statement with named bind parameters, and the values of those parameters."""


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    fixed: dict[str, Any]
    """Values of the parameters the statement carries itself (constants)."""

    def args(self, params: dict[str, Any]) -> list[Any]:
        return [params[n] if n in params else self.fixed[n] for n in self.names]


class Reader:
    """Runs the statements of one event together (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._compiled: dict[int, _Compiled] = {}
        self._keep: list[Executable] = []

    async def fetch_all(self, queries: Sequence[Query]) -> list[list[Any]]:
        """The rows of each query, in order."""
        if self.db.dialect != "postgresql":
            return [await self.db.fetch(stmt.params(**params))  # type: ignore[attr-defined]
                    for stmt, params in queries]
        async with self.db.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection  # asyncpg, no transaction: one round trip
            return [list(await driver.fetch(compiled.sql, *compiled.args(params)))
                    for compiled, params in ((self._compile(s), p) for s, p in queries)]

    def _compile(self, statement: Executable) -> _Compiled:
        found = self._compiled.get(id(statement))
        if found is None:
            compiled = statement.compile(dialect=self.db.engine.dialect)  # type: ignore[attr-defined]
            names = tuple(compiled.positiontup or ())
            found = _Compiled(str(compiled), names, dict(compiled.params))
            self._compiled[id(statement)] = found
            self._keep.append(statement)  # keeps id(statement) from being reused
        return found
