"""Prepared statements shared by the journal, blob store and embedded broker.

Statement objects are built once per dialect so that the committer can merge
consecutive writes of the same statement into one ``executemany``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sqlalchemy import (
    BindParameter,
    Delete,
    Insert,
    Update,
    and_,
    bindparam,
    case,
    exists,
    insert,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from hub.db.tables import blobs, broker_messages, deliveries, events, messages


def _insert_ignore(dialect: str, table: object) -> Insert:
    """INSERT that does nothing when the primary key already exists."""
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()  # type: ignore[arg-type]
    return sqlite.insert(table).on_conflict_do_nothing()  # type: ignore[arg-type]


@dataclass(frozen=True)
class Statements:
    """Every write statement of the hot path, for one dialect."""

    insert_message: Insert
    insert_event: Insert
    insert_blob: Insert
    insert_delivery: Insert
    update_message_status: Update
    update_delivery: Update
    settle_message: Update
    insert_broker: Insert
    delete_broker: Delete
    update_broker_retry: Update
    update_broker_park: Update


def _settle_message() -> Update:
    """Message status from its deliveries: all delivered, any parked, else routed."""
    d = deliveries.c
    mid: BindParameter[str] = bindparam("b_id")
    undelivered = exists().where(and_(d.message_id == mid, d.status != "delivered"))
    parked = exists().where(and_(d.message_id == mid, d.status == "parked"))
    status = case((~undelivered, "delivered"), (parked, "parked"), else_="routed")
    return (
        update(messages)
        .where(messages.c.id == mid)
        .values(status=status, updated_at=bindparam("b_at"))
    )


@cache
def statements(dialect: str) -> Statements:
    """The statements for ``dialect`` (``sqlite`` or ``postgresql``), built once."""
    from sqlalchemy import delete

    return Statements(
        insert_message=insert(messages),
        insert_event=insert(events),
        insert_blob=_insert_ignore(dialect, blobs),
        insert_delivery=_insert_ignore(dialect, deliveries),
        update_message_status=update(messages)
        .where(messages.c.id == bindparam("b_id"))
        .values(status=bindparam("b_status"), updated_at=bindparam("b_at")),
        update_delivery=update(deliveries)
        .where(deliveries.c.key == bindparam("b_key"))
        .values(
            status=bindparam("b_status"),
            attempts=bindparam("b_attempts"),
            last_error=bindparam("b_error"),
            response=bindparam("b_response"),
            updated_at=bindparam("b_at"),
        ),
        settle_message=_settle_message(),
        insert_broker=insert(broker_messages),
        delete_broker=delete(broker_messages).where(broker_messages.c.id == bindparam("b_id")),
        update_broker_retry=update(broker_messages)
        .where(broker_messages.c.id == bindparam("b_id"))
        .values(available_at=bindparam("b_available"), attempts=bindparam("b_attempts")),
        update_broker_park=update(broker_messages)
        .where(broker_messages.c.id == bindparam("b_id"))
        .values(
            parked=bindparam("b_parked"),
            reason=bindparam("b_reason"),
            parked_at=bindparam("b_parked_at"),
            available_at=bindparam("b_available"),
        ),
    )
