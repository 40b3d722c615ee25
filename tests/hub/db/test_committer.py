"""The group committer (:mod:`hub.db.committer`) on SQLite and PostgreSQL.

Batching, failure isolation, the ordering its docstring promises, and
durability: what ``committer.run`` acknowledged is there for a new process,
even when the writer was killed with SIGKILL right after the acknowledgement.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import bindparam, delete, select, update

from hub.db.committer import Write
from hub.db.engine import Database
from hub.db.statements import statements
from hub.db.tables import broker_messages
from hub.errors import StorageError
from hub.journal import Journal
from tests.hub.db.conftest import MakeRecord, OpenDb

UNITS = 200
REPO_ROOT = Path(__file__).resolve().parents[3]


async def test_concurrent_units_commit_in_few_batches(
    journal: Journal, make_record: MakeRecord
) -> None:
    committer = journal.db.committer
    records = [make_record() for _ in range(UNITS)]
    batches_before, units_before = committer.batches, committer.units
    await asyncio.gather(
        *[committer.run(journal.record(r), journal.event(r.id, "received")) for r in records]
    )
    batches = committer.batches - batches_before
    assert committer.units - units_before == UNITS
    assert 1 <= batches < UNITS // 10, f"{UNITS} units took {batches} batches"
    assert (await journal.count_by_status()) == {"received": UNITS}
    for r in (records[0], records[-1]):
        got = await journal.get(r.id)
        assert got is not None
        assert [e["stage"] for e in got["events"]] == ["received"]


async def test_a_failing_unit_fails_only_its_writer(
    journal: Journal, make_record: MakeRecord
) -> None:
    committer = journal.db.committer
    good = [make_record() for _ in range(20)]
    bad = make_record()
    units = [[journal.record(r), journal.event(r.id, "received")] for r in good]
    # Its first two writes would succeed: the unit must be rolled back whole.
    units.insert(7, [journal.record(bad), journal.event(bad.id, "received"),
                     journal.record(bad)])
    results = await asyncio.gather(*[committer.run(*u) for u in units], return_exceptions=True)
    failures = [r for r in results if r is not None]
    assert len(failures) == 1
    assert results[7] is failures[0]
    assert isinstance(failures[0], StorageError)
    assert await journal.get(bad.id) is None
    assert await journal.count_by_status() == {"received": len(good)}
    for r in good:
        got = await journal.get(r.id)
        assert got is not None
        assert [e["stage"] for e in got["events"]] == ["received"]


async def test_a_duplicate_of_a_stored_message_fails_alone(
    journal: Journal, make_record: MakeRecord
) -> None:
    stored, fresh = make_record(), make_record()
    run = journal.db.committer.run
    await run(journal.record(stored))
    outcome = await asyncio.gather(
        run(journal.record(stored)), run(journal.record(fresh)), return_exceptions=True
    )
    assert isinstance(outcome[0], StorageError)
    assert outcome[1] is None
    assert await journal.get(fresh.id) is not None


async def test_the_committer_keeps_working_after_a_failure(
    journal: Journal, make_record: MakeRecord
) -> None:
    rec = make_record()
    run = journal.db.committer.run
    with pytest.raises(StorageError):
        await run(journal.record(rec), journal.record(rec))
    await run(journal.record(rec))
    assert await journal.get(rec.id) is not None


# -- ordering within a batch -------------------------------------------------------


async def test_inserts_run_before_updates(journal: Journal, make_record: MakeRecord) -> None:
    rec = make_record(status="received")
    # Submitted update first: the committer still runs the insert first.
    await journal.db.committer.run(journal.status(rec.id, "routed"), journal.record(rec))
    got = await journal.get(rec.id)
    assert got is not None
    assert got["status"] == "routed"


def broker_row(row_id: int, queue: str = "ingress") -> dict[str, object]:
    return {
        "id": row_id, "queue": queue, "message_id": f"m{row_id}", "body": b"x",
        "headers": "{}", "created_at": 1.0, "available_at": 1.0, "attempts": 0,
        "parked": False, "reason": None, "parked_at": None,
    }


async def broker_ids(db: Database) -> list[int]:
    async with db.connect() as conn:
        rows = await conn.execute(select(broker_messages.c.id).order_by(broker_messages.c.id))
        return [r.id for r in rows]


async def test_inserts_then_updates_then_deletes_whatever_the_submission_order(
    db: Database,
) -> None:
    bm = broker_messages
    move = update(bm).where(bm.c.id == bindparam("b_id")).values(queue=bindparam("b_queue"))
    drop_queue = delete(bm).where(bm.c.queue == bindparam("b_queue"))
    insert_row = statements(db.dialect).insert_broker
    await db.committer.run(
        Write(drop_queue, {"b_queue": "doomed"}),
        Write(move, {"b_id": 2, "b_queue": "doomed"}),
        Write(insert_row, broker_row(1)),
        Write(insert_row, broker_row(2)),
        Write(insert_row, broker_row(3)),
    )
    # Row 2 was inserted, then moved to "doomed", then deleted with that queue.
    assert await broker_ids(db) == [1, 3]


async def test_updates_apply_in_submission_order(
    journal: Journal, make_record: MakeRecord
) -> None:
    rec = make_record()
    run = journal.db.committer.run
    await run(journal.record(rec))
    await asyncio.gather(*[run(journal.status(rec.id, s))
                           for s in ("routed", "parked", "delivered")])
    got = await journal.get(rec.id)
    assert got is not None
    assert got["status"] == "delivered"


async def test_inserts_of_one_statement_keep_submission_order(
    journal: Journal, make_record: MakeRecord
) -> None:
    rec = make_record()
    run = journal.db.committer.run
    stages = [f"stage{i:02d}" for i in range(30)]
    await run(journal.record(rec))
    await asyncio.gather(*[run(journal.event(rec.id, s)) for s in stages])
    got = await journal.get(rec.id)
    assert got is not None
    assert [e["stage"] for e in got["events"]] == stages


async def test_run_after_close_is_a_storage_error(open_db: OpenDb) -> None:
    db = await open_db()
    await db.upgrade()
    await db.committer.close()
    with pytest.raises(StorageError):
        await db.committer.run(Write(delete(broker_messages), {}))


# -- durability ----------------------------------------------------------------------


async def test_acknowledged_write_is_seen_by_a_new_database(
    open_db: OpenDb, make_record: MakeRecord
) -> None:
    first = await open_db()
    await first.upgrade()
    journal = Journal(first)
    rec = make_record()
    await first.committer.run(journal.record(rec), journal.event(rec.id, "received"))
    await first.close()
    second = await open_db()
    got = await Journal(second).get(rec.id)
    assert got is not None
    assert (got["status"], [e["stage"] for e in got["events"]]) == ("received", ["received"])


WRITER = textwrap.dedent(
    """
    import asyncio, sys, time
    from hub.db.engine import Database
    from hub.journal import Journal, MessageRecord

    async def main(url: str) -> None:
        db = await Database.open(url)
        await db.upgrade()
        journal = Journal(db)
        ids = [f"killed-{i}" for i in range(50)]
        await asyncio.gather(*[
            db.committer.run(journal.record(MessageRecord(
                id=i, received_at=time.time(), source="chu-a", protocol="mllp", peer="",
                sender="GAM|CHU-A", control_id=i, message_type="ADT^A01", sha256="0" * 64,
                size=1, status="received", patient_key=None, ack_code="AA", ack=b"ACK",
            )))
            for i in ids
        ])
        print("committed", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main(sys.argv[1]))
    """
)


async def test_acknowledged_write_survives_sigkill_of_the_writer(
    db_url: str, open_db: OpenDb
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, db_url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO_ROOT,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
        assert line == b"committed\n", proc.stderr.read() if proc.stderr else line
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    started = time.monotonic()
    survivor = await open_db()
    found = await Journal(survivor).find_by_control_ids(
        [("GAM|CHU-A", f"killed-{i}") for i in range(50)]
    )
    assert len(found) == 50
    assert time.monotonic() - started < 10
