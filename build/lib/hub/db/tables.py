"""The journal, blob, delivery and embedded-broker tables (SQLAlchemy Core).

Times are epoch seconds (float): cheap to write in batches, trivially sortable,
identical on SQLite and PostgreSQL. Migrations in ``hub/db/migrations`` create
exactly these tables; a test checks they agree.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

messages = Table(
    "messages",
    metadata,
    Column("id", String(32), primary_key=True, comment="time-ordered message id"),
    Column("received_at", Float, nullable=False),
    Column("source", String(64), nullable=False),
    Column("protocol", String(16), nullable=False),
    Column("peer", String(128), nullable=False, default=""),
    Column("sender", String(256), nullable=False, default="", comment="MSH-3|MSH-4"),
    Column("control_id", String(64), nullable=False, default=""),
    Column("message_type", String(32), nullable=False, default=""),
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("patient_key", String(256), nullable=True),
    Column("ack_code", String(2), nullable=False, default=""),
    Column("ack", LargeBinary, nullable=True, comment="the ACK sent, returned again on duplicates"),
    Column("error", Text, nullable=True),
    Column("replay_of", String(32), nullable=True),
    Column("updated_at", Float, nullable=False),
)
Index("ix_messages_control_sender", messages.c.control_id, messages.c.sender)
Index("ix_messages_received_at", messages.c.received_at)
Index("ix_messages_status", messages.c.status)
Index("ix_messages_patient_key", messages.c.patient_key)

events = Table(
    "events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("message_id", String(32), nullable=False),
    Column("at", Float, nullable=False),
    Column("stage", String(24), nullable=False),
    Column("destination", String(64), nullable=True),
    Column("detail", Text, nullable=True),
    Column("duration_ms", Float, nullable=True),
)
Index("ix_events_message_id", events.c.message_id)

deliveries = Table(
    "deliveries",
    metadata,
    Column("key", String(128), primary_key=True, comment="idempotency key: message x destination"),
    Column("message_id", String(32), nullable=False),
    Column("destination", String(64), nullable=False),
    Column("status", String(16), nullable=False, comment="pending, delivered, parked"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("response", Text, nullable=True, comment="what the destination answered"),
    Column("updated_at", Float, nullable=False),
)
Index("ix_deliveries_message_id", deliveries.c.message_id)
Index("ix_deliveries_status", deliveries.c.status)

blobs = Table(
    "blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=True, comment="inline content for small blobs"),
    Column("path", String(256), nullable=True, comment="relative file path for large blobs"),
)

broker_messages = Table(
    "broker_messages",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False, comment="publish order"),
    Column("queue", String(128), nullable=False),
    Column("message_id", String(64), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("headers", Text, nullable=False, default="{}"),
    Column("created_at", Float, nullable=False),
    Column("available_at", Float, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("parked", Boolean, nullable=False, default=False),
    Column("reason", Text, nullable=True),
    Column("parked_at", Float, nullable=True),
)
Index("ix_broker_messages_queue", broker_messages.c.queue, broker_messages.c.id)
