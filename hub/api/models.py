"""The JSON shapes of the admin API (documented in ``/openapi.json``).

Times are ISO-8601 UTC strings (``2024-05-01T08:30:00.123Z``). Shapes allow
extra fields so that a column added to the journal shows up without a change
here.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow")


class Health(_Shape):
    """Liveness or readiness."""

    status: str = Field(description="'ok', or 'not ready' while the hub starts or stops")


class MessageSummary(_Shape):
    """One journal record, as listed."""

    id: str = Field(description="time-ordered message id")
    received_at: str = Field(description="when the hub stored it (ISO-8601 UTC)")
    source: str = Field(description="inbound source name")
    protocol: str = Field(description="hl7v2, ...")
    sender: str = Field(description="MSH-3|MSH-4")
    control_id: str = Field(description="MSH-10 as sent")
    message_type: str = Field(description="MSH-9.1^MSH-9.2")
    status: str = Field(description="one of hub.journal.STATUSES")
    ack_code: str = Field(description="the acknowledgment code sent back")
    error: str | None = Field(None, description="why it was rejected, filtered or parked")
    replay_of: str | None = Field(None, description="the original message id of a replay")


class MessagePage(_Shape):
    """A page of messages, newest first."""

    items: list[MessageSummary]
    next: str | None = Field(description="pass as ?before= for the next page; null at the end")


class Event(_Shape):
    """One stage of a message's history."""

    at: str
    stage: str
    destination: str | None = None
    detail: str | None = None
    duration_ms: float | None = None


class Delivery(_Shape):
    """Where one delivery of the message stands."""

    key: str = Field(description="idempotency key <message id>:<destination>")
    destination: str
    status: str = Field(description="pending, delivered or parked")
    attempts: int
    last_error: str | None = None
    response: str | None = None
    updated_at: str


class MessageDetail(MessageSummary):
    """One message with its events and deliveries (and its text when asked)."""

    ack: str | None = Field(None, description="the acknowledgment sent back, as text")
    events: list[Event]
    deliveries: list[Delivery]
    raw: str | None = Field(None, description="?raw=true: the message decoded with `charset`")
    charset: str | None = Field(None, description="?raw=true: the codec used to decode it")


class Replayed(_Shape):
    """A replay was accepted."""

    replayed: str = Field(description="the original message id")
    new_id: str = Field(description="the id of the new message")


class Resent(_Shape):
    """A resend was queued."""

    resent: str = Field(description="the message id")
    destination: str


class QueueStat(_Shape):
    """Depth of one broker queue."""

    queue: str
    ready: int = Field(description="messages waiting")
    parked: int = Field(description="messages parked")
    oldest_age_s: float = Field(description="age of the oldest waiting message, seconds")


class ParkedItem(_Shape):
    """A delivery waiting in a parking queue."""

    key: str = Field(description="the delivery key, as given to redrive")
    message_id: str = Field(description="the original message id")
    destination: str
    reason: str
    parked_at: str


class RedriveRequest(BaseModel):
    """Which parked deliveries to put back in their queue."""

    model_config = ConfigDict(extra="forbid")

    destination: str | None = Field(None, description="one destination, or null for all")
    keys: list[str] | None = Field(None, description="these delivery keys only, or null for all")


class Redriven(_Shape):
    """How many parked deliveries were put back; the asked keys that were not parked."""

    redriven: int
    not_parked: list[str] = []
