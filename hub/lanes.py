"""Per-key ordered execution: work for one key runs in arrival order, keys in parallel.

Used to keep per-patient order from ingress to delivery (ARCHITECTURE rule 5):
a lane is chosen by a stable hash of the patient key, and a lane runs one job
at a time. A delivery that is retrying holds its lane, so a later message of
the same patient cannot overtake it.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
_Work = tuple[Callable[[], Awaitable[Any]], "asyncio.Future[Any]"]


class Lanes:
    """``n`` sequential workers; ``run(key, job)`` waits for the job's turn and result."""

    def __init__(self, n: int, name: str) -> None:
        self._queues: list[asyncio.Queue[_Work]] = [asyncio.Queue() for _ in range(max(1, n))]
        self._tasks = [
            asyncio.create_task(self._work(q), name=f"{name}-lane-{i}")
            for i, q in enumerate(self._queues)
        ]

    def lane_of(self, key: str) -> int:
        """The lane of ``key`` (stable across processes)."""
        return zlib.crc32(key.encode("utf-8")) % len(self._queues)

    def run(self, key: str, job: Callable[[], Awaitable[T]]) -> asyncio.Future[T]:
        """Queue ``job`` on the key's lane now (keeps call order); await its result."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queues[self.lane_of(key)].put_nowait((job, future))
        return future

    async def _work(self, queue: asyncio.Queue[_Work]) -> None:
        while True:
            job, future = await queue.get()
            try:
                result = await job()
            except asyncio.CancelledError:
                if not future.done():
                    future.cancel()
                raise
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(result)

    async def close(self) -> None:
        """Cancel the workers (unsettled work is redelivered by the broker)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
