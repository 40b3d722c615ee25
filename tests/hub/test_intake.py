"""Intake under storage failure: nothing is acknowledged that is not stored.

The fault is real: the ``blobs`` table is dropped under a running hub, so the
intake's transaction fails in SQLite itself.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from hub.app import Hub
from hub.errors import ParseError
from hub.hl7.ack import parse_ack
from tests.hub.conftest import HubFactory, adt_a01


async def _break_storage(hub: Hub) -> None:
    assert hub.db is not None and hub.db.sync_engine is not None
    engine = hub.db.sync_engine

    def drop() -> None:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE blobs"))

    await asyncio.to_thread(drop)


async def test_storage_failure_answers_ar_to_the_sender_and_to_a_concurrent_resend(
    start_hub: HubFactory,
) -> None:
    hub = await start_hub(mllp={"enabled": False}, http={"enabled": False})
    assert hub.intake is not None and hub.journal is not None
    await _break_storage(hub)
    payload = adt_a01("FAIL-0001")
    first, resend = await asyncio.gather(
        hub.intake.receive_hl7(payload, "127.0.0.1:1"),
        hub.intake.receive_hl7(payload, "127.0.0.1:2"),
    )
    for ack in (first, resend):
        assert ack is not None
        reply = parse_ack(ack)
        assert reply.code == "AR", ack
        assert reply.control_id == "FAIL-0001"
        assert reply.error_code == "207"
    assert await hub.journal.count_by_status() == {}


async def test_a_resend_waiting_for_an_original_that_fails_is_answered_ar(
    start_hub: HubFactory,
) -> None:
    """The resend arrives in a later batch while the original's commit is blocked
    (another connection holds SQLite's write lock and drops a table); when that
    commit fails, the resend must not get the original's AA."""
    hub = await start_hub(mllp={"enabled": False}, http={"enabled": False})
    assert hub.intake is not None and hub.journal is not None
    database = Path(hub.settings.effective_database_url.split(":///", 1)[1])
    blocker = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        blocker.execute("DROP TABLE blobs")
        payload = adt_a01("LATE-0001")
        original = asyncio.create_task(hub.intake.receive_hl7(payload, "127.0.0.1:1"))
        await asyncio.sleep(0.3)  # planned, its commit waits for the lock
        resend = asyncio.create_task(hub.intake.receive_hl7(payload, "127.0.0.1:2"))
        await asyncio.sleep(0.3)
        assert not original.done() and not resend.done()
        await asyncio.to_thread(blocker.execute, "COMMIT")
        answers = await asyncio.gather(original, resend)
    finally:
        blocker.close()
    for ack in answers:
        assert ack is not None
        assert parse_ack(ack).code == "AR", ack


async def test_a_resend_while_the_original_commits_gets_the_same_ack(
    start_hub: HubFactory,
) -> None:
    hub = await start_hub(mllp={"enabled": False}, http={"enabled": False})
    assert hub.intake is not None and hub.journal is not None
    payload = adt_a01("SAME-0001")
    first, resend = await asyncio.gather(
        hub.intake.receive_hl7(payload, "127.0.0.1:1"),
        hub.intake.receive_hl7(payload, "127.0.0.1:2"),
    )
    assert first is not None and first == resend
    assert parse_ack(first).code == "AA"
    assert sum((await hub.journal.count_by_status()).values()) == 1


async def test_a_message_the_hub_produces_is_stored_and_routed_under_its_internal_source(
    start_hub: HubFactory,
) -> None:
    hub = await start_hub(mllp={"enabled": False}, http={"enabled": False})
    assert hub.intake is not None and hub.journal is not None
    message_id = await hub.intake.submit(adt_a01("SRRI-0001"), source="srri")
    record = await hub.journal.get(message_id)
    assert record is not None
    assert record["source"] == "srri"
    assert record["control_id"] == "SRRI-0001"
    assert record["peer"] == "internal"
    assert record["status"] in ("routed", "unrouted", "delivered")
    with pytest.raises(ValueError, match="not an internal source"):
        await hub.intake.submit(adt_a01("SRRI-0002"), source="chu-x")
    with pytest.raises(ParseError):
        await hub.intake.submit(b"not hl7", source="srri")
