"""The embedded broker: in-process asyncio queues made durable by the database.

Every published message is a row of ``broker_messages`` committed (through
the group committer) before ``publish`` returns; acking deletes the row. After
a restart every row still present is delivered again, flagged
``redelivered``. Memory stays bounded whatever the backlog: each queue keeps
at most ``window`` messages in memory and pages the rest in from the table, in
publish order, as consumers drain it.

It also offers :meth:`EmbeddedBroker.prepare`, which returns the publish as
database operations so the intake can commit a journal row and its ingress
message in one transaction.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, select

from hub.broker.base import (
    Consumer,
    Handler,
    OutboundMessage,
    ParkedMessage,
    QueueStats,
)
from hub.db.committer import Op, Write
from hub.db.engine import Database
from hub.db.statements import statements
from hub.db.tables import broker_messages as bm

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Item:
    id: int
    message_id: str
    body: bytes
    headers: dict[str, str]
    created_at: float
    attempts: int = 0
    redelivered: bool = False


@dataclass(slots=True)
class _Queue:
    name: str
    window: int
    ready: deque[_Item] = field(default_factory=deque)
    delayed: list[tuple[float, int, _Item]] = field(default_factory=list)
    cursor: int = 0  # highest id ever loaded into memory
    backlog: bool = True  # rows in the table not yet in memory
    # A publish left in the table while a page-in was reading: read again before
    # declaring the backlog empty (its commit may have come after the read).
    stale: bool = False
    unsettled: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    page_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class _Envelope:
    """A delivered message; settles through its broker."""

    __slots__ = ("_broker", "_item", "_queue", "_settled")

    def __init__(self, broker: EmbeddedBroker, queue: _Queue, item: _Item) -> None:
        self._broker = broker
        self._queue = queue
        self._item = item
        self._settled = False

    @property
    def body(self) -> bytes:
        return self._item.body

    @property
    def message_id(self) -> str:
        return self._item.message_id

    @property
    def headers(self) -> Mapping[str, str]:
        return self._item.headers

    @property
    def redelivered(self) -> bool:
        return self._item.redelivered

    @property
    def attempts(self) -> int:
        return self._item.attempts

    def _settle(self) -> None:
        if self._settled:
            raise RuntimeError(f"message {self._item.message_id} is already settled")
        self._settled = True

    async def ack(self) -> None:
        self._settle()
        await self._broker._ack(self._queue, self._item)

    async def retry(self, delay_s: float) -> None:
        self._settle()
        await self._broker._retry(self._queue, self._item, delay_s)

    async def park(self, reason: str) -> None:
        self._settle()
        await self._broker._park(self._queue, self._item, reason)

    @property
    def settled(self) -> bool:
        return self._settled

    def ack_ops(self) -> list[Op]:
        """The ack as ops to commit with the consumer's own writes; then call :meth:`acked`."""
        return [Write(self._broker._st.delete_broker, {"b_id": self._item.id})]

    def acked(self) -> None:
        """The ops from :meth:`ack_ops` are committed: the message is settled."""
        self._settle()
        self._broker._release(self._queue)


class _EmbeddedConsumer:
    def __init__(self, task: asyncio.Task[None], handlers: set[asyncio.Task[None]]) -> None:
        self._task = task
        self._handlers = handlers

    async def cancel(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        if self._handlers:
            await asyncio.gather(*list(self._handlers), return_exceptions=True)


class EmbeddedBroker:
    """In-process broker persisted in the hub's database."""

    def __init__(self, db: Database, *, window: int = 2000) -> None:
        self._db = db
        self._st = statements(db.dialect)
        self._purge = delete(bm).where(bm.c.queue == bindparam("b_queue"))
        self._window = window
        self._queues: dict[str, _Queue] = {}
        self._ids = itertools.count(time.time_ns() // 1000)
        self._consumers: list[_EmbeddedConsumer] = []
        self._started = False
        self._timer_tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Make ids continue after the highest stored one; queues page in lazily."""
        async with self._db.connect() as conn:
            top = (await conn.execute(select(func.max(bm.c.id)))).scalar()
        start = max(int(top or 0) + 1, time.time_ns() // 1000)
        self._ids = itertools.count(start)
        self._boot_id = start
        self._started = True

    async def close(self) -> None:
        for consumer in self._consumers:
            await consumer.cancel()
        self._consumers.clear()
        for task in list(self._timer_tasks):
            task.cancel()

    async def declare(self, queue: str) -> None:
        self._q(queue)

    def _q(self, name: str) -> _Queue:
        q = self._queues.get(name)
        if q is None:
            q = _Queue(name, self._window)
            self._queues[name] = q
        return q

    # -- publishing ---------------------------------------------------------

    def prepare(
        self, queue: str, messages: Sequence[OutboundMessage]
    ) -> tuple[list[Op], Callable[[], None]]:
        """The publish as ops to commit, and what to call once they are committed."""
        now = time.time()
        items: list[_Item] = []
        ops: list[Op] = []
        for m in messages:
            item = _Item(next(self._ids), m.message_id, m.body, dict(m.headers), now)
            items.append(item)
            ops.append(Write(self._st.insert_broker, self._row(queue, item, now)))
        return ops, lambda: self._enqueue(self._q(queue), items)

    @staticmethod
    def _row(queue: str, item: _Item, now: float) -> dict[str, Any]:
        return {
            "id": item.id,
            "queue": queue,
            "message_id": item.message_id,
            "body": item.body,
            "headers": json.dumps(item.headers),
            "created_at": now,
            "available_at": now,
            "attempts": 0,
            "parked": False,
            "reason": None,
            "parked_at": None,
        }

    async def publish(self, queue: str, messages: Sequence[OutboundMessage]) -> None:
        ops, done = self.prepare(queue, messages)
        await self._db.committer.run(*ops)
        done()

    def _enqueue(self, q: _Queue, items: list[_Item]) -> None:
        for item in items:
            if item.id <= q.cursor:
                continue  # a page load already brought it in
            if q.backlog or len(q.ready) >= q.window:
                q.backlog = True
                q.stale = True
                continue  # stays in the table; paged in later, in order
            q.ready.append(item)
            q.cursor = item.id
        q.changed.set()

    # -- paging -------------------------------------------------------------

    async def _page_in(self, q: _Queue) -> None:
        async with q.page_lock:
            if not q.backlog:
                return
            room = q.window - len(q.ready)
            if room <= 0:
                return
            q.stale = False
            stmt = (
                select(bm)
                .where(and_(bm.c.queue == q.name, bm.c.id > q.cursor, bm.c.parked.is_(False)))
                .order_by(bm.c.id)
                .limit(room)
            )
            rows = await self._db.fetch(stmt)
            now = time.time()
            for row in rows:
                item = _Item(
                    row.id, row.message_id, bytes(row.body), json.loads(row.headers),
                    row.created_at, row.attempts, redelivered=row.id < self._boot_id,
                )
                q.cursor = max(q.cursor, row.id)
                if row.available_at > now:
                    self._delay(q, item, row.available_at)
                else:
                    q.ready.append(item)
            if len(rows) < room and not q.stale:
                q.backlog = False
            q.changed.set()

    def _delay(self, q: _Queue, item: _Item, due: float) -> None:
        heapq.heappush(q.delayed, (due, item.id, item))
        task = asyncio.get_running_loop().create_task(self._release_later(q, due))
        self._timer_tasks.add(task)
        task.add_done_callback(self._timer_tasks.discard)

    async def _release_later(self, q: _Queue, due: float) -> None:
        await asyncio.sleep(max(0.0, due - time.time()))
        now = time.time()
        while q.delayed and q.delayed[0][0] <= now:
            q.ready.append(heapq.heappop(q.delayed)[2])
        q.changed.set()

    # -- consuming ----------------------------------------------------------

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 64) -> Consumer:
        q = self._q(queue)
        handlers: set[asyncio.Task[None]] = set()
        task = asyncio.create_task(self._dispatch(q, handler, prefetch, handlers))
        consumer = _EmbeddedConsumer(task, handlers)
        self._consumers.append(consumer)
        return consumer

    async def _dispatch(
        self, q: _Queue, handler: Handler, prefetch: int, handlers: set[asyncio.Task[None]]
    ) -> None:
        while True:
            if q.backlog and len(q.ready) < q.window // 2:
                await self._page_in(q)
                if q.stale and not q.ready:
                    continue  # a publish raced the read: read again, do not wait
            if not q.ready or q.unsettled >= prefetch:
                q.changed.clear()
                await q.changed.wait()
                continue
            item = q.ready.popleft()
            q.unsettled += 1
            task = asyncio.create_task(self._handle(q, handler, item))
            handlers.add(task)
            task.add_done_callback(handlers.discard)

    async def _handle(self, q: _Queue, handler: Handler, item: _Item) -> None:
        env = _Envelope(self, q, item)
        try:
            await handler(env)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("handler failed on message %s of %s", item.message_id, q.name)
            if not env.settled:
                await env.retry(1.0)
            return
        if not env.settled:
            log.error("handler returned without settling %s; retrying it", item.message_id)
            await env.retry(1.0)

    def _release(self, q: _Queue) -> None:
        q.unsettled -= 1
        q.changed.set()

    async def _ack(self, q: _Queue, item: _Item) -> None:
        try:
            await self._db.committer.run(Write(self._st.delete_broker, {"b_id": item.id}))
        finally:
            self._release(q)

    async def _retry(self, q: _Queue, item: _Item, delay_s: float) -> None:
        due = time.time() + max(0.0, delay_s)
        item.attempts += 1
        params = {"b_id": item.id, "b_available": due, "b_attempts": item.attempts}
        try:
            await self._db.committer.run(Write(self._st.update_broker_retry, params))
        finally:
            self._release(q)
        self._delay(q, item, due)

    async def _park(self, q: _Queue, item: _Item, reason: str) -> None:
        params = {
            "b_id": item.id, "b_parked": True, "b_reason": reason,
            "b_parked_at": time.time(), "b_available": time.time(),
        }
        try:
            await self._db.committer.run(Write(self._st.update_broker_park, params))
        finally:
            self._release(q)

    # -- inspection ---------------------------------------------------------

    async def stats(self, queue: str) -> QueueStats:
        stmt = select(
            bm.c.parked, func.count(), func.min(bm.c.created_at)
        ).where(bm.c.queue == queue).group_by(bm.c.parked)
        async with self._db.connect() as conn:
            rows = (await conn.execute(stmt)).fetchall()
        ready = parked = 0
        oldest = 0.0
        for is_parked, count, first in rows:
            if is_parked:
                parked = count
            else:
                ready = count
                oldest = max(0.0, time.time() - first) if first else 0.0
        return QueueStats(queue, ready, parked, oldest)

    async def parked(self, queue: str, limit: int = 100) -> list[ParkedMessage]:
        stmt = (
            select(bm)
            .where(and_(bm.c.queue == queue, bm.c.parked.is_(True)))
            .order_by(bm.c.id)
            .limit(limit)
        )
        async with self._db.connect() as conn:
            rows = (await conn.execute(stmt)).fetchall()
        return [
            ParkedMessage(queue, r.message_id, bytes(r.body), json.loads(r.headers),
                          r.reason or "", r.parked_at or 0.0)
            for r in rows
        ]

    async def redrive(self, queue: str, message_ids: Sequence[str] | None = None) -> int:
        cond = and_(bm.c.queue == queue, bm.c.parked.is_(True))
        if message_ids is not None:
            cond = and_(cond, bm.c.message_id.in_(list(message_ids)))
        async with self._db.connect() as conn:
            rows = (await conn.execute(select(bm).where(cond).order_by(bm.c.id))).fetchall()
        if not rows:
            return 0
        await self._db.committer.run(*[
            Write(self._st.update_broker_park, {
                "b_id": r.id, "b_parked": False, "b_reason": None, "b_parked_at": None,
                "b_available": time.time(),
            })
            for r in rows
        ])
        q = self._q(queue)
        for r in rows:
            q.ready.append(
                _Item(r.id, r.message_id, bytes(r.body), json.loads(r.headers),
                      r.created_at, r.attempts, redelivered=False)
            )
        q.changed.set()
        return len(rows)

    async def purge(self, queue: str) -> None:
        await self._db.committer.run(Write(self._purge, {"b_queue": queue}))
        q = self._q(queue)
        q.ready.clear()
        q.delayed.clear()
        q.backlog = False
