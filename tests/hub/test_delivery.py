"""The delivery worker: a lane goes on while outcomes commit; the ack waits for its commit.

A real SQLite database, the embedded broker and a ``file`` destination. The
database's write lock is held from another connection while the worker runs,
so that no delivery outcome (and no broker ack, which commits in the same
transaction) can be written: the lane must still deliver every job of the
patient, and every job must stay in the broker, unsettled, with its delivery
row not yet ``delivered``, until the lock goes and the outcomes commit. A
crash in that window therefore finds each job still in the broker (the
``kill -9`` tests of ``tests/e2e`` run that case on a ``hub run`` process).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from hub.broker.embedded import EmbeddedBroker
from hub.config import FileDestination
from hub.db.engine import Database
from hub.delivery import DeliveryWorker, delivery_job, delivery_queue
from hub.journal import Journal, delivery_key
from hub.metrics import Metrics
from hub.registry import create_destination

JOBS = 12

WaitFor = Callable[..., Awaitable[Any]]


async def test_a_lane_delivers_on_while_outcomes_wait_and_acks_only_come_with_them(
        tmp_path: Path, wait_for: WaitFor) -> None:
    path = tmp_path / "hub.db"
    db = await Database.open(f"sqlite+aiosqlite:///{path}")
    await db.upgrade()
    broker = EmbeddedBroker(db)
    await broker.start()
    journal = Journal(db)
    out = tmp_path / "out"
    destination = create_destination(
        "out", FileDestination(type="file", directory=out), tmp_path)
    ids = [f"m{n:02d}" for n in range(JOBS)]
    await db.committer.run(*[op for m in ids for op in journal.deliveries_planned(m, ["out"])])
    await broker.publish(delivery_queue("out"), [
        delivery_job(f"message {m}".encode(), m, "out", patient_key="PATIENT-1", source="test",
                     control_id=m) for m in ids])
    worker = DeliveryWorker(destination, broker, db, journal, Metrics())
    lock = sqlite3.connect(path, timeout=10)
    lock.execute("BEGIN IMMEDIATE")  # no other writer until rollback
    try:
        await worker.start()

        async def delivered_files() -> bool:
            return out.is_dir() and len(list(out.iterdir())) == JOBS

        # One patient, one lane: it did not wait for any outcome to commit.
        await wait_for(delivered_files, 5)
        pending = lock.execute("SELECT count(*) FROM broker_messages").fetchone()[0]
        statuses = {row[0] for row in lock.execute("SELECT status FROM deliveries")}
        assert pending == JOBS  # nothing acked before its outcome is committed
        assert statuses == {"pending"}
    finally:
        lock.rollback()
        lock.close()

    async def settled() -> bool:
        rows = await journal.db.fetch(broker_count())
        return rows[0][0] == 0

    await wait_for(settled, 15)
    for m in ids:
        assert await journal.delivery_status(delivery_key(m, "out")) == "delivered"
    await worker.close()
    await broker.close()
    await db.close()


def broker_count() -> Any:
    from sqlalchemy import func, select

    from hub.db.tables import broker_messages

    return select(func.count()).select_from(broker_messages)
