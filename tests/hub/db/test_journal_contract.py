"""The journal and the blob store, through their real API, on SQLite and PostgreSQL.

Every test runs twice (ids ``sqlite`` and ``postgresql``): writes go through
``db.committer.run`` exactly as the intake, pipeline and delivery do, and are
read back with the journal's and blob store's own queries.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from sqlalchemy import func, select

from hub.blobs import INLINE_MAX, BlobStore
from hub.db.engine import Database
from hub.db.tables import blobs
from hub.journal import Journal, MessageRecord, SearchFilter, delivery_key
from tests.hub.db.conftest import BASE_TIME, MakeRecord

# -- message records ----------------------------------------------------------


async def test_record_round_trips_every_field(journal: Journal, make_record: MakeRecord) -> None:
    rec = make_record(error="MSH-9 is 'ADT^A99'", replay_of=None, ack_code="AE")
    await journal.db.committer.run(journal.record(rec))
    got = await journal.get(rec.id)
    assert got is not None
    expected = {
        "id": rec.id, "received_at": rec.received_at, "source": rec.source,
        "protocol": rec.protocol, "peer": rec.peer, "sender": rec.sender,
        "control_id": rec.control_id, "message_type": rec.message_type,
        "sha256": rec.sha256, "size": rec.size, "status": rec.status,
        "patient_key": rec.patient_key, "ack_code": "AE", "error": rec.error,
        "replay_of": None, "updated_at": rec.received_at,
        "ack": rec.ack.decode() if rec.ack else None, "events": [], "deliveries": [],
    }
    assert got == expected


async def test_record_without_ack_or_patient_reads_back_none(
    journal: Journal, make_record: MakeRecord
) -> None:
    rec = make_record(ack=None, patient_key=None, ack_code="")
    await journal.db.committer.run(journal.record(rec))
    got = await journal.get(rec.id)
    assert got is not None
    assert (got["ack"], got["patient_key"], got["ack_code"]) == (None, None, "")


async def test_get_unknown_message_is_none(journal: Journal) -> None:
    assert await journal.get("no-such-id") is None


async def test_status_changes_status_and_updated_at(
    journal: Journal, make_record: MakeRecord
) -> None:
    rec = make_record()
    await journal.db.committer.run(journal.record(rec))
    await journal.db.committer.run(journal.status(rec.id, "rejected"))
    got = await journal.get(rec.id)
    assert got is not None
    assert got["status"] == "rejected"
    assert got["updated_at"] > rec.received_at


# -- events ---------------------------------------------------------------------


async def test_events_come_back_in_the_order_written(
    journal: Journal, make_record: MakeRecord
) -> None:
    rec = make_record()
    run = journal.db.committer.run
    await run(journal.record(rec), journal.event(rec.id, "received", at=BASE_TIME + 1))
    await run(
        journal.event(rec.id, "parsed", detail="ADT^A01", duration_ms=1.5, at=BASE_TIME + 2),
        journal.event(rec.id, "routed", detail="2 destinations", at=BASE_TIME + 3),
    )
    await run(journal.event(rec.id, "delivered", destination="archive", at=BASE_TIME + 4))
    got = await journal.get(rec.id)
    assert got is not None
    rows = [
        (e["message_id"], e["stage"], e["destination"], e["detail"], e["duration_ms"], e["at"])
        for e in got["events"]
    ]
    assert rows == [
        (rec.id, "received", None, None, None, BASE_TIME + 1),
        (rec.id, "parsed", None, "ADT^A01", 1.5, BASE_TIME + 2),
        (rec.id, "routed", None, "2 destinations", None, BASE_TIME + 3),
        (rec.id, "delivered", "archive", None, None, BASE_TIME + 4),
    ]
    assert [e["id"] for e in got["events"]] == sorted(e["id"] for e in got["events"])


async def test_events_of_other_messages_are_not_mixed_in(
    journal: Journal, make_record: MakeRecord
) -> None:
    first, second = make_record(), make_record()
    await journal.db.committer.run(
        journal.record(first), journal.record(second),
        journal.event(first.id, "received"), journal.event(second.id, "received"),
        journal.event(second.id, "parsed"),
    )
    got = await journal.get(first.id)
    assert got is not None
    assert [e["stage"] for e in got["events"]] == ["received"]


# -- deliveries -----------------------------------------------------------------


def deliveries_by_destination(got: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    assert got is not None
    return {d["destination"]: d for d in got["deliveries"]}


async def test_deliveries_planned_are_pending_with_their_keys(
    journal: Journal, make_record: MakeRecord
) -> None:
    rec = make_record()
    await journal.db.committer.run(
        journal.record(rec), *journal.deliveries_planned(rec.id, ["archive", "dmp"])
    )
    planned = deliveries_by_destination(await journal.get(rec.id))
    assert sorted(planned) == ["archive", "dmp"]
    for destination, row in planned.items():
        assert row["key"] == delivery_key(rec.id, destination)
        assert (row["message_id"], row["status"], row["attempts"]) == (rec.id, "pending", 0)
        assert (row["last_error"], row["response"]) == (None, None)
    assert await journal.delivery_status(delivery_key(rec.id, "dmp")) == "pending"


async def test_deliveries_planned_again_keep_existing_rows(
    journal: Journal, make_record: MakeRecord
) -> None:
    rec = make_record()
    run = journal.db.committer.run
    await run(journal.record(rec), *journal.deliveries_planned(rec.id, ["archive", "dmp"]))
    key = delivery_key(rec.id, "archive")
    await run(journal.delivery_outcome(key, "delivered", 2, error=None, response="AA"))
    await run(*journal.deliveries_planned(rec.id, ["archive", "dmp", "mss"]))
    await run(*journal.deliveries_planned(rec.id, ["archive"]))  # a replay, alone in its unit
    planned = deliveries_by_destination(await journal.get(rec.id))
    assert sorted(planned) == ["archive", "dmp", "mss"]
    assert (planned["archive"]["status"], planned["archive"]["attempts"]) == ("delivered", 2)
    assert planned["mss"]["status"] == "pending"


async def test_delivery_outcome_records_status_attempts_error_and_response(
    journal: Journal, make_record: MakeRecord
) -> None:
    rec = make_record()
    key = delivery_key(rec.id, "dmp")
    run = journal.db.committer.run
    await run(journal.record(rec), *journal.deliveries_planned(rec.id, ["dmp"]))
    await run(journal.delivery_outcome(key, "pending", 1, error="timeout", response=None))
    row = deliveries_by_destination(await journal.get(rec.id))["dmp"]
    assert (row["status"], row["attempts"], row["last_error"], row["response"]) == (
        "pending", 1, "timeout", None,
    )
    await run(journal.delivery_outcome(key, "parked", 8, error="AR: unknown patient",
                                       response="AR"))
    row = deliveries_by_destination(await journal.get(rec.id))["dmp"]
    assert (row["status"], row["attempts"], row["last_error"], row["response"]) == (
        "parked", 8, "AR: unknown patient", "AR",
    )
    assert await journal.delivery_status(key) == "parked"


async def test_delivery_outcome_keeps_what_the_file_destination_answers(
    journal: Journal, make_record: MakeRecord
) -> None:
    """The file destination answers ``written <message id>_<destination>.hl7`` (44+ chars)."""
    rec = make_record(id="1a202d4b0a763cd34f64")
    key = delivery_key(rec.id, "adt-archive")
    response = f"written {rec.id}_adt-archive.hl7"
    run = journal.db.committer.run
    await run(journal.record(rec), *journal.deliveries_planned(rec.id, ["adt-archive"]))
    await run(journal.delivery_outcome(key, "delivered", 1, error=None, response=response))
    row = deliveries_by_destination(await journal.get(rec.id))["adt-archive"]
    assert (row["status"], row["response"]) == ("delivered", response)


async def test_delivery_status_of_unknown_key_is_none(journal: Journal) -> None:
    assert await journal.delivery_status(delivery_key("nope", "archive")) is None


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        (["delivered"], "delivered"),
        (["delivered", "delivered", "delivered"], "delivered"),
        (["delivered", "parked"], "parked"),
        (["parked", "pending"], "parked"),
        (["delivered", "pending"], "routed"),
        (["pending", "pending"], "routed"),
    ],
    ids=["one-delivered", "all-delivered", "one-parked", "parked-and-pending",
         "one-pending", "none-done"],
)
async def test_settle_message_derives_status_from_deliveries(
    journal: Journal, make_record: MakeRecord, outcomes: list[str], expected: str
) -> None:
    rec = make_record(status="routed")
    destinations = [f"dest{i}" for i in range(len(outcomes))]
    run = journal.db.committer.run
    await run(journal.record(rec), *journal.deliveries_planned(rec.id, destinations))
    await run(
        *[
            journal.delivery_outcome(delivery_key(rec.id, d), status, 1, error=None, response=None)
            for d, status in zip(destinations, outcomes, strict=True)
        ],
        journal.settle_message(rec.id),
    )
    got = await journal.get(rec.id)
    assert got is not None
    assert got["status"] == expected


async def test_settle_message_touches_only_its_message(
    journal: Journal, make_record: MakeRecord
) -> None:
    done, other = make_record(status="routed"), make_record(status="routed")
    run = journal.db.committer.run
    await run(
        journal.record(done), journal.record(other),
        *journal.deliveries_planned(done.id, ["archive"]),
        *journal.deliveries_planned(other.id, ["archive"]),
    )
    await run(
        journal.delivery_outcome(delivery_key(done.id, "archive"), "delivered", 1,
                                 error=None, response="AA"),
        journal.settle_message(done.id),
    )
    assert await journal.count_by_status() == {"delivered": 1, "routed": 1}


# -- duplicate detection --------------------------------------------------------


async def test_find_by_control_ids_skips_rejected_and_replays(
    journal: Journal, make_record: MakeRecord
) -> None:
    original = make_record(sender="GAM|CHU-A", control_id="C1")
    replay = make_record(sender="GAM|CHU-A", control_id="C1", replay_of=original.id)
    rejected = make_record(sender="GAM|CHU-A", control_id="C2", status="rejected")
    elsewhere = make_record(sender="SIL|LAB", control_id="C1", ack=None)
    await journal.db.committer.run(
        *[journal.record(r) for r in (original, replay, rejected, elsewhere)]
    )
    found = await journal.find_by_control_ids(
        [("GAM|CHU-A", "C1"), ("GAM|CHU-A", "C2"), ("SIL|LAB", "C1"), ("SIL|LAB", "C9"),
         ("GAM|CHU-A", "C1")]
    )
    assert found == {
        ("GAM|CHU-A", "C1"): (original.id, original.sha256, original.ack),
        ("SIL|LAB", "C1"): (elsewhere.id, elsewhere.sha256, None),
    }
    assert isinstance(found[("GAM|CHU-A", "C1")][2], bytes)


async def test_find_by_control_ids_of_nothing_is_empty(journal: Journal) -> None:
    assert await journal.find_by_control_ids([]) == {}


# -- search -----------------------------------------------------------------------


@pytest.fixture
async def seeded(journal: Journal, make_record: MakeRecord) -> list[MessageRecord]:
    """Six messages m0001..m0006, received one second apart, newest last."""
    records = [
        make_record(source="chu-a", status="received", control_id="C1", patient_key="IPP1@CHU-A"),
        make_record(source="chu-b", status="routed", control_id="C2", patient_key="IPP1@CHU-B"),
        make_record(source="chu-a", status="rejected", control_id="C1",
                    patient_key="IPP10@CHU-A"),
        make_record(source="chu-b", status="delivered", control_id="C4", patient_key=None),
        make_record(source="chu-a", status="delivered", control_id="C5", patient_key="IPP1"),
        make_record(source="chu-a", status="parked", control_id="C6", patient_key="IPP2@CHU-A"),
    ]
    await journal.db.committer.run(*[journal.record(r) for r in records])
    return records


T = BASE_TIME

SEARCHES: list[tuple[str, dict[str, Any], list[int]]] = [
    ("everything", {}, [6, 5, 4, 3, 2, 1]),
    ("since-inclusive", {"since": T + 3}, [6, 5, 4, 3]),
    ("until-exclusive", {"until": T + 3}, [2, 1]),
    ("since-and-until", {"since": T + 2, "until": T + 5}, [4, 3, 2]),
    ("source", {"source": "chu-b"}, [4, 2]),
    ("status", {"status": "delivered"}, [5, 4]),
    ("control-id", {"control_id": "C1"}, [3, 1]),
    ("patient-any-authority", {"patient": "IPP1"}, [5, 2, 1]),
    ("patient-with-authority", {"patient": "IPP1@CHU-B"}, [2]),
    ("limit", {"limit": 2}, [6, 5]),
    ("before-id", {"before_id": "m0004"}, [3, 2, 1]),
    ("before-id-and-limit", {"before_id": "m0004", "limit": 2}, [3, 2]),
    ("source-and-status", {"source": "chu-a", "status": "delivered"}, [5]),
    ("no-match", {"source": "chu-z"}, []),
]


@pytest.mark.parametrize(("criteria", "expected"), [(c, e) for _, c, e in SEARCHES],
                         ids=[name for name, _, _ in SEARCHES])
async def test_search_filters_newest_first(
    journal: Journal, seeded: list[MessageRecord], criteria: dict[str, Any], expected: list[int]
) -> None:
    rows = await journal.search(SearchFilter(**criteria))
    assert [r["id"] for r in rows] == [f"m{i:04d}" for i in expected]


async def test_search_rows_carry_the_record_but_not_the_ack(
    journal: Journal, seeded: list[MessageRecord]
) -> None:
    [row] = await journal.search(SearchFilter(control_id="C6"))
    newest = seeded[-1]
    assert "ack" not in row
    assert (row["id"], row["source"], row["status"], row["patient_key"], row["size"]) == (
        newest.id, newest.source, newest.status, newest.patient_key, newest.size,
    )


async def test_search_pages_with_before_id_cover_everything_once(
    journal: Journal, seeded: list[MessageRecord]
) -> None:
    seen: list[str] = []
    before: str | None = None
    while page := await journal.search(SearchFilter(limit=4, before_id=before)):
        seen += [r["id"] for r in page]
        before = page[-1]["id"]
    assert seen == [r.id for r in reversed(seeded)]


@pytest.mark.parametrize(
    ("stored", "asked"),
    [("IPPX1@CHU-A", "IPP_1"), ("IPP%1@CHU-A", "IPP%"), ("ipp7@CHU-A", "IPP7")],
    ids=["underscore-is-literal", "percent-is-literal", "case-sensitive"],
)
async def test_search_patient_matches_the_identifier_literally(
    journal: Journal, make_record: MakeRecord, stored: str, asked: str
) -> None:
    """``patient`` is an identifier, not a pattern, and both databases compare it alike."""
    await journal.db.committer.run(journal.record(make_record(patient_key=stored)))
    assert await journal.search(SearchFilter(patient=asked)) == []


async def test_count_by_status(journal: Journal, seeded: list[MessageRecord]) -> None:
    assert await journal.count_by_status() == {
        "received": 1, "routed": 1, "rejected": 1, "delivered": 2, "parked": 1,
    }


async def test_count_by_status_of_empty_journal(journal: Journal) -> None:
    assert await journal.count_by_status() == {}


# -- blob store -------------------------------------------------------------------


async def blob_rows(db: Database) -> int:
    async with db.connect() as conn:
        count: int = (await conn.execute(select(func.count()).select_from(blobs))).scalar_one()
    return count


async def test_small_blob_is_stored_inline(blob_store: BlobStore, db: Database) -> None:
    data = b"MSH|^~\\&|GAM|CHU-A\rPID|||1\r\x00\xff"
    digest = await blob_store.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert await blob_store.get(digest) == data
    async with db.connect() as conn:
        row = (await conn.execute(select(blobs).where(blobs.c.sha256 == digest))).one()
    assert (row.size, bytes(row.data), row.path) == (len(data), data, None)


async def test_blob_at_the_inline_limit_stays_inline(blob_store: BlobStore, db: Database) -> None:
    data = b"x" * INLINE_MAX
    digest = await blob_store.put(data)
    async with db.connect() as conn:
        row = (await conn.execute(select(blobs.c.path).where(blobs.c.sha256 == digest))).one()
    assert row.path is None
    assert await blob_store.get(digest) == data


async def test_large_blob_is_a_file_and_round_trips(
    blob_store: BlobStore, db: Database, blob_dir: Any
) -> None:
    data = bytes(range(256)) * (INLINE_MAX // 256 + 7)
    digest = await blob_store.put(data)
    assert len(data) > INLINE_MAX
    path = blob_dir / digest[:2] / digest[2:]
    assert path.read_bytes() == data
    async with db.connect() as conn:
        row = (await conn.execute(select(blobs).where(blobs.c.sha256 == digest))).one()
    assert (row.size, row.data, row.path) == (len(data), None, f"{digest[:2]}/{digest[2:]}")
    assert await blob_store.get(digest) == data


@pytest.mark.parametrize("size", [64, INLINE_MAX + 1], ids=["inline", "file"])
async def test_same_content_twice_is_one_blob(
    blob_store: BlobStore, db: Database, blob_dir: Any, size: int
) -> None:
    data = b"\x42" * size
    first = await blob_store.put(data)
    second = await blob_store.put(data)
    _, ops = blob_store.ops_for(data)
    await db.committer.run(*ops, *blob_store.ops_for(data)[1])  # twice in one unit too
    assert first == second
    assert await blob_rows(db) == 1
    assert await blob_store.get(first) == data
    assert len([p for p in blob_dir.rglob("*") if p.is_file()]) == (size > INLINE_MAX)


async def test_get_unknown_blob_raises_key_error(blob_store: BlobStore) -> None:
    with pytest.raises(KeyError):
        await blob_store.get("0" * 64)


async def test_blob_commits_with_its_journal_row(
    blob_store: BlobStore, journal: Journal, make_record: MakeRecord
) -> None:
    data = b"MSH|^~\\&|LAB\r"
    digest, ops = blob_store.ops_for(data)
    rec = make_record(sha256=digest, size=len(data))
    await journal.db.committer.run(*ops, journal.record(rec))
    got = await journal.get(rec.id)
    assert got is not None
    assert await blob_store.get(got["sha256"]) == data
