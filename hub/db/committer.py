"""Group commit: many concurrent writers, one transaction per batch.

Writers submit a *unit* (a list of writes that must commit together) and
await it; the committer task takes every unit waiting, runs them in one
transaction and resolves all their futures after the commit. Within a batch,
inserts run first, then updates, then deletes, each group in submission
order; consecutive :class:`Write` operations that share one statement object
are executed as one ``executemany``, which is what makes thousands of small
journal writes per second cheap on SQLite and PostgreSQL alike.

If a batch fails, each of its units is retried alone so that one bad unit
fails only its own writer. On SQLite the whole batch runs in one worker-thread
call through a synchronous engine: the async adapter costs a thread round trip
per statement, which dominated the batch time when measured.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql import Executable

from hub.errors import StorageError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Write:
    """One statement with one parameter set; merged with its neighbours."""

    statement: Executable
    params: dict[str, Any]


Op = Write


def _rank(op: Op) -> int:
    statement = op.statement
    if getattr(statement, "is_insert", False):
        return 0
    if getattr(statement, "is_update", False):
        return 1
    return 2


def _groups(units: Sequence[Sequence[Op]]) -> list[tuple[Executable, list[dict[str, Any]]]]:
    """The batch as (statement, parameter list) groups, in execution order.

    Inserts first, then updates, then deletes, each in submission order, so that
    the same statement from many units runs as one executemany.
    """
    flat = sorted((op for ops in units for op in ops), key=_rank)
    groups: list[tuple[Executable, list[dict[str, Any]]]] = []
    for op in flat:
        if groups and groups[-1][0] is op.statement:
            groups[-1][1].append(op.params)
        else:
            groups.append((op.statement, [op.params]))
    return groups


@dataclass(slots=True)
class _Unit:
    ops: Sequence[Op]
    future: asyncio.Future[None] = field(repr=False)



class Committer:
    """The single writer task of a database."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        sync_engine: Engine | None = None,
        max_batch: int = 2000,
        max_background: int = 300,
    ) -> None:
        self._engine = engine
        self._sync_engine = sync_engine
        self._sql_cache: dict[
            tuple[int, tuple[str, ...]], tuple[str, tuple[str, ...], dict[str, Any]]
        ] = {}
        self._keep: list[Executable] = []
        self._queue: deque[_Unit] = deque()
        self._urgent: deque[_Unit] = deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._skipped_background = False
        self._max_batch = max_batch
        # Background batches stay small so that a sender waiting for its ACK
        # never waits behind a long transaction.
        self._max_background = max_background
        self._task: asyncio.Task[None] | None = None
        self._writer: PoolProxiedConnection | None = None
        self.batches = 0
        self.units = 0

    def start(self) -> None:
        """Start the writer task on the running loop."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="db-committer")

    async def close(self) -> None:
        """Finish what was submitted, then stop."""
        if self._task is None:
            return
        while self._queue or self._urgent:
            self._idle.clear()
            await self._idle.wait()
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None
        if self._writer is not None:
            writer, self._writer = self._writer, None
            await asyncio.to_thread(writer.close)

    async def run(self, *ops: Op, urgent: bool = False) -> None:
        """Commit ``ops`` atomically, together with whatever else is waiting.

        ``urgent`` units (a sender waiting for its ACK) go into the next batch
        ahead of background work, which then waits for the batch after.
        """
        if self._task is None:
            raise StorageError("database writer is not running")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._queue).append(_Unit(ops, future))
        self._wakeup.set()
        await future

    def _take_batch(self) -> list[_Unit]:
        """Every urgent unit, plus background units unless they would delay urgent ones twice."""
        batch: list[_Unit] = []
        size = 0
        while self._urgent and size < self._max_batch:
            unit = self._urgent.popleft()
            batch.append(unit)
            size += len(unit.ops)
        if batch and self._queue and not self._skipped_background:
            self._skipped_background = True
            return batch
        self._skipped_background = False
        limit = size + self._max_background
        while self._queue and size < limit:
            unit = self._queue.popleft()
            batch.append(unit)
            size += len(unit.ops)
        return batch

    async def _loop(self) -> None:
        while True:
            if not self._queue and not self._urgent:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            await self._commit(self._take_batch())

    async def _commit(self, batch: list[_Unit]) -> None:
        live = [u for u in batch if not u.future.done()]
        try:
            await self._execute(_groups([u.ops for u in live]))
        except Exception as exc:
            if len(live) == 1:
                self._fail(live[0], exc)
                return
            log.warning("batch of %d units failed (%s); retrying one by one", len(live), exc)
            for unit in live:
                await self._commit([unit])
            return
        self.batches += 1
        self.units += len(live)
        for unit in live:
            if not unit.future.done():
                unit.future.set_result(None)

    async def _execute(self, groups: list[tuple[Executable, list[dict[str, Any]]]]) -> None:
        """One transaction; SQLite runs it whole in a worker thread (one hop per batch)."""
        if self._sync_engine is not None:
            await asyncio.to_thread(self._execute_sync, self._sync_engine, groups)
            return
        async with self._engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection  # asyncpg: prepared statements, one round trip
            dialect = self._engine.dialect
            async with driver.transaction():
                for statement, params in groups:
                    sql, names, fixed = self._compiled(dialect, statement, params[0])
                    rows = [tuple(p[n] if n in p else fixed[n] for n in names) for p in params]
                    await driver.executemany(sql, rows)

    def _execute_sync(
        self, engine: Engine, groups: list[tuple[Executable, list[dict[str, Any]]]]
    ) -> None:
        """Run the batch on the driver connection with statements compiled once.

        SQLAlchemy's per-call overhead (about 90 µs per executemany, measured
        here) was most of a batch's time; a compiled statement's SQL and bind
        order are cached, and sqlite3's executemany takes the tuples directly.
        The writer keeps one connection for its whole life: checking one out of
        the pool and back for every batch cost more than the batch's inserts.
        """
        if self._writer is None:
            self._writer = engine.raw_connection()
        driver: Any = self._writer.driver_connection
        cursor = driver.cursor()
        try:
            for statement, params in groups:
                sql, names, fixed = self._compiled(engine.dialect, statement, params[0])
                rows = [tuple(p[n] if n in p else fixed[n] for n in names) for p in params]
                cursor.executemany(sql, rows)
            driver.commit()
        except BaseException:
            self._drop_writer(driver)
            raise
        finally:
            cursor.close()

    def _drop_writer(self, driver: Any) -> None:
        """Roll back and forget the writer connection after a failed batch."""
        writer, self._writer = self._writer, None
        try:
            driver.rollback()
        except Exception as exc:  # the connection is being discarded anyway
            log.debug("rollback after a failed batch failed: %s", exc)
        if writer is not None:
            writer.invalidate()

    def _compiled(
        self, dialect: Dialect, statement: Executable, sample: dict[str, Any]
    ) -> tuple[str, tuple[str, ...], dict[str, Any]]:
        key = (id(statement), tuple(sample))
        found = self._sql_cache.get(key)
        if found is None:
            compiled = statement.compile(  # type: ignore[attr-defined]
                dialect=dialect, column_keys=list(sample)
            )
            names = tuple(compiled.positiontup or ())
            fixed = {n: v for n, v in compiled.params.items() if n not in sample}
            found = (str(compiled), names, fixed)
            self._sql_cache[key] = found
            self._keep.append(statement)  # keeps id(statement) from being reused
        return found

    @staticmethod
    def _fail(unit: _Unit, exc: Exception) -> None:
        if not unit.future.done():
            error = StorageError(f"database write failed: {type(exc).__name__}: {exc}")
            error.__cause__ = exc
            unit.future.set_exception(error)
