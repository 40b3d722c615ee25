"""How the group committer orders and merges a batch (:func:`hub.db.committer._groups`).

Pure: statements are built, never executed. A batch of N messages must run
one executemany per insert statement, not one per message, without changing
what the database ends up holding: inserts into one table by two statements
(an insert and an upsert of the same row) keep their order, updates and
deletes keep submission order, and rows with other parameter names are never
merged into a statement compiled for different names.
"""

from __future__ import annotations

from sqlalchemy import bindparam, delete, insert, update

from hub.db.committer import Write, _groups
from hub.db.tables import blobs, broker_messages, events, messages

INSERT_EVENT = insert(events)
INSERT_BLOB = insert(blobs)
INSERT_BROKER = insert(broker_messages)
UPSERT_BLOB = insert(blobs).prefix_with("OR REPLACE")
SET_STATUS = update(messages).where(messages.c.id == bindparam("m_id"))
DELETE_BROKER = delete(broker_messages).where(broker_messages.c.id == bindparam("b_id"))


def message_unit(n: int) -> list[Write]:
    """The inserts of one stored message: a blob, two events, a broker row."""
    return [
        Write(INSERT_BLOB, {"sha256": f"h{n}", "size": 1}),
        Write(INSERT_EVENT, {"message_id": f"m{n}", "stage": "received"}),
        Write(INSERT_EVENT, {"message_id": f"m{n}", "stage": "routed"}),
        Write(INSERT_BROKER, {"id": n, "queue": "q"}),
    ]


def test_inserts_of_many_units_run_as_one_group_per_statement() -> None:
    groups = _groups([message_unit(n) for n in range(5)])
    assert [g[0] for g in groups] == [INSERT_BLOB, INSERT_EVENT, INSERT_BROKER]
    assert [p["sha256"] for p in groups[0][1]] == [f"h{n}" for n in range(5)]
    assert [(p["message_id"], p["stage"]) for p in groups[1][1]] == [
        (f"m{n}", stage) for n in range(5) for stage in ("received", "routed")]


def test_two_insert_statements_of_one_table_keep_their_order() -> None:
    units = [
        [Write(INSERT_BLOB, {"sha256": "a", "size": 1})],
        [Write(UPSERT_BLOB, {"sha256": "a", "size": 2})],
        [Write(INSERT_BLOB, {"sha256": "b", "size": 1})],
    ]
    groups = _groups(units)
    assert [(g[0], [p["sha256"] for p in g[1]]) for g in groups] == [
        (INSERT_BLOB, ["a"]), (UPSERT_BLOB, ["a"]), (INSERT_BLOB, ["b"])]


def test_rows_with_other_parameter_names_get_their_own_group() -> None:
    units = [
        [Write(INSERT_EVENT, {"message_id": "m1", "stage": "received"})],
        [Write(INSERT_EVENT, {"message_id": "m2", "stage": "failed", "detail": "timeout"})],
        [Write(INSERT_EVENT, {"message_id": "m3", "stage": "received"})],
    ]
    groups = _groups(units)
    assert [[p["message_id"] for p in g[1]] for g in groups] == [["m1"], ["m2"], ["m3"]]


def test_updates_and_deletes_follow_inserts_in_submission_order() -> None:
    units = [
        [Write(SET_STATUS, {"m_id": "m1", "status": "routed"}),
         Write(DELETE_BROKER, {"b_id": 1})],
        [Write(SET_STATUS, {"m_id": "m1", "status": "delivered"})],
        message_unit(7),
        [Write(SET_STATUS, {"m_id": "m2", "status": "routed"})],
    ]
    groups = _groups(units)
    assert [g[0] for g in groups] == [INSERT_BLOB, INSERT_EVENT, INSERT_BROKER, SET_STATUS,
                                      DELETE_BROKER]
    assert [p["status"] for p in groups[3][1]] == ["routed", "delivered", "routed"]
