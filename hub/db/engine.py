"""Database access: one async engine, its group committer, and migrations.

SQLite (default) runs in WAL mode with ``synchronous=FULL``: a commit is on
disk before it returns, so an acknowledged message survives a power cut, not
only a crash. PostgreSQL is reached through asyncpg with the same code.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from hub.db.committer import Committer
from hub.errors import ConfigError, StorageError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.close()


def _no_autocheckpoint(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


def make_sync_engine(url: str, pool_size: int = 1, *, writer: bool = False) -> Engine | None:
    """For SQLite, a synchronous engine on the same file (group committer, hot reads).

    Measured here: a statement through the async adapter costs a thread round
    trip and greenlet switches (0.1 ms idle, several ms under load); a whole
    batch or query in one ``to_thread`` call costs one round trip.
    """
    if not url.startswith("sqlite+aiosqlite"):
        return None
    engine = create_engine(url.replace("sqlite+aiosqlite", "sqlite+pysqlite", 1),
                           pool_size=pool_size, max_overflow=0,
                           connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    if writer:
        # Checkpoints run in the background (Database.checkpoint), not inside
        # the commit of a sender waiting for its ACK.
        event.listen(engine, "connect", _no_autocheckpoint)
    return engine


def make_engine(url: str) -> AsyncEngine:
    """Create the async engine for ``url`` (sqlite+aiosqlite or postgresql+asyncpg)."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, pool_size=4, max_overflow=4)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql+asyncpg"):
        # No pre-ping: it costs a round trip per checkout on the hot path (measured);
        # a dead connection fails its statement, which the caller already handles.
        return create_async_engine(url, pool_size=8, max_overflow=8, pool_recycle=1800)
    raise ConfigError(
        f"'{url.split(':', 1)[0]}' is not supported; use sqlite+aiosqlite:/// or "
        "postgresql+asyncpg://",
        key="database_url",
    )


def _alembic_config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


class Database:
    """The engine plus its single writer."""

    def __init__(self, url: str, engine: AsyncEngine) -> None:
        self.url = url
        self.engine = engine
        self.sync_engine = make_sync_engine(url, writer=True)
        self._sync_reader = make_sync_engine(url, pool_size=4)
        self.committer = Committer(engine, sync_engine=self.sync_engine)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @classmethod
    async def open(cls, url: str) -> Database:
        """Open the database and start its committer (does not migrate)."""
        db = cls(url, make_engine(url))
        try:
            async with db.engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
        except Exception as exc:
            await db.engine.dispose()
            raise StorageError(f"cannot reach the database: {type(exc).__name__}: {exc}") from exc
        db.committer.start()
        return db

    async def upgrade(self, revision: str = "head") -> None:
        """Apply Alembic migrations up to ``revision``."""

        def _upgrade(sync_conn: Connection) -> None:
            command.upgrade(_alembic_config(sync_conn), revision)

        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade)

    async def current_revision(self) -> str | None:
        """The revision the schema is at (None before the first migration)."""

        def _current(sync_conn: Connection) -> str | None:
            from alembic.runtime.migration import MigrationContext

            return MigrationContext.configure(sync_conn).get_current_revision()

        async with self.engine.connect() as conn:
            return await conn.run_sync(_current)

    async def fetch(self, statement: Any) -> list[Any]:
        """Run a SELECT on the hot path and return its rows."""
        if self._sync_reader is not None:
            return await asyncio.to_thread(self._fetch_sync, self._sync_reader, statement)
        async with self.engine.connect() as conn:
            return list((await conn.execute(statement)).fetchall())

    async def checkpoint(self) -> None:
        """Copy the SQLite write-ahead log into the database file (no-op elsewhere)."""
        if self._sync_reader is not None:
            await asyncio.to_thread(self._checkpoint_sync, self._sync_reader)

    @staticmethod
    def _checkpoint_sync(engine: Engine) -> None:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    async def run_checkpoints(self, every_s: float = 1.0) -> None:
        """Checkpoint forever (a background task of the running hub)."""
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.checkpoint()
            except Exception as exc:  # an observer: never stops the hub
                log.warning("WAL checkpoint failed: %s", exc)

    @staticmethod
    def _fetch_sync(engine: Engine, statement: Any) -> list[Any]:
        with engine.connect() as conn:
            return list(conn.execute(statement).fetchall())

    def connect(self) -> Any:
        """A read connection (context manager)."""
        return self.engine.connect()

    async def close(self) -> None:
        """Flush the committer and dispose of the engine."""
        await self.committer.close()
        await self.engine.dispose()
        for sync in (self.sync_engine, self._sync_reader):
            if sync is not None:
                sync.dispose()

