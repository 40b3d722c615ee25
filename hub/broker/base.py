"""The broker contract shared by the embedded broker and RabbitMQ.

A queue holds opaque ``bytes`` bodies with a few string headers. Publishing
returns only once the broker has durably accepted the message (RabbitMQ
publisher confirm; embedded: database commit). A consumer gets
:class:`Envelope` objects and must settle each exactly once:

- ``ack()``            done, forget it;
- ``retry(delay)``     put it back, deliver again after ``delay`` seconds
                       (RabbitMQ: a per-delay queue whose TTL dead-letters back);
- ``park(reason)``     move it to the queue's parking queue (``<queue>.parked``)
                       with the reason, where it waits for ``redrive``.

A message that was delivered but not settled when its consumer (or the whole
process) died is delivered again, with ``redelivered`` set.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from hub.db.committer import Write


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message to publish."""

    body: bytes
    message_id: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Depth of a queue and age of its oldest waiting message (seconds, 0 when empty)."""

    queue: str
    ready: int
    parked: int
    oldest_age_s: float


@dataclass(frozen=True, slots=True)
class ParkedMessage:
    """A message waiting in a parking queue."""

    queue: str
    message_id: str
    body: bytes
    headers: Mapping[str, str]
    reason: str
    parked_at: float


@runtime_checkable
class Envelope(Protocol):
    """A message handed to a consumer, to be settled exactly once."""

    @property
    def body(self) -> bytes: ...

    @property
    def message_id(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def redelivered(self) -> bool: ...

    @property
    def attempts(self) -> int:
        """How many times this message was handed back by ``retry`` (0 on first delivery)."""
        ...

    async def ack(self) -> None: ...

    async def retry(self, delay_s: float) -> None: ...

    async def park(self, reason: str) -> None: ...


Handler = Callable[[Envelope], Awaitable[None]]


class Consumer(Protocol):
    """A running consumption; ``cancel`` stops taking new messages."""

    async def cancel(self) -> None: ...


@runtime_checkable
class TransactionalBroker(Protocol):
    """A broker whose publishes can join a database transaction (the embedded one).

    ``prepare`` returns the publish as committer ops and a callback to run once
    they are committed; the hub then commits a journal change and its publish
    together, and needs no second copy check after a crash.
    """

    def prepare(
        self, queue: str, messages: Sequence[OutboundMessage]
    ) -> tuple[list[Write], Callable[[], None]]: ...


@runtime_checkable
class TransactionalEnvelope(Protocol):
    """An envelope whose ack can join the consumer's own transaction."""

    def ack_ops(self) -> list[Write]: ...

    def acked(self) -> None: ...


_KIND_CACHE: dict[tuple[type, type], bool] = {}


def conforms(obj: object, protocol: type) -> bool:
    """``isinstance(obj, protocol)`` for a runtime-checkable protocol, cached per class.

    A protocol check walks the protocol's members on every call (a few
    microseconds, several times per message on the hot path); the answer only
    depends on the object's class.
    """
    key = (type(obj), protocol)
    known = _KIND_CACHE.get(key)
    if known is None:
        known = _KIND_CACHE[key] = isinstance(obj, protocol)
    return known


def transactional(broker: Broker) -> TransactionalBroker | None:
    """``broker`` when its publishes can join a transaction, else None."""
    return broker if conforms(broker, TransactionalBroker) else None  # type: ignore[return-value]


class Broker(Protocol):
    """One interface, two implementations (embedded, RabbitMQ)."""

    async def start(self) -> None:
        """Connect and declare the topology of every queue declared so far."""
        ...

    async def close(self) -> None: ...

    async def declare(self, queue: str) -> None:
        """Declare a durable queue with its retry and parking companions (idempotent)."""
        ...

    async def publish(self, queue: str, messages: Sequence[OutboundMessage]) -> None:
        """Publish and return once every message is durably accepted (confirmed)."""
        ...

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 64) -> Consumer:
        """Call ``handler`` for each message; at most ``prefetch`` unsettled at once."""
        ...

    async def stats(self, queue: str) -> QueueStats: ...

    async def parked(self, queue: str, limit: int = 100) -> list[ParkedMessage]: ...

    async def redrive(self, queue: str, message_ids: Sequence[str] | None = None) -> int:
        """Move parked messages (all, or those ids) back to ``queue``; returns how many."""
        ...

    async def purge(self, queue: str) -> None:
        """Remove every message of the queue and its companions (tests, tools)."""
        ...
