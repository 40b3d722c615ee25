"""The embedded broker's paging: a publish that races a page-in is not left in the table.

While a queue pages rows in from its table, a publish of the same process
stays in the table (to keep publish order) and is expected to be read by the
page-in. When its commit lands after the page-in's read, that read cannot see
it: the queue must read again instead of declaring its backlog empty, or the
message waits in the table until the next restart. The race is made
deterministic here: the page-in's read publishes a message right after it
has read the table.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hub.broker.base import Envelope, OutboundMessage
from hub.broker.embedded import EmbeddedBroker
from hub.db.engine import Database


async def test_a_publish_committed_during_a_page_in_is_delivered(tmp_path: Path) -> None:
    db = await Database.open(f"sqlite+aiosqlite:///{tmp_path}/hub.db")
    await db.upgrade()
    broker = EmbeddedBroker(db)
    await broker.start()
    read_table = db.fetch
    raced: list[str] = []

    async def fetch_then_publish(statement: Any) -> list[Any]:
        rows = await read_table(statement)
        if not raced:  # the first page-in: a publish commits after its read
            raced.append("late")
            await broker.publish("work", [OutboundMessage(b"late", "late", {})])
        return rows

    db.fetch = fetch_then_publish  # type: ignore[method-assign]
    got: asyncio.Queue[str] = asyncio.Queue()

    async def handler(envelope: Envelope) -> None:
        await envelope.ack()
        got.put_nowait(envelope.message_id)

    consumer = await broker.consume("work", handler)
    try:
        async with asyncio.timeout(5):
            assert await got.get() == "late"
        assert raced == ["late"]
    finally:
        await consumer.cancel()
        await broker.close()
        await db.close()
