"""RabbitMQ implementation of the broker contract (:mod:`hub.broker.base`), on aio-pika.

Topology, per logical queue ``q`` and ``prefix`` (default ``hub``)::

    <prefix>.q                 quorum, durable: the work queue
    <prefix>.q.parked          quorum, durable: parked messages, waiting for redrive
    <prefix>.q.retry.<ms>      quorum, durable, one per retry delay:
                               x-message-ttl=<ms>, dead-lettered (at least once)
                               through the default exchange back to <prefix>.q

Every queue is declared on :meth:`RabbitMQBroker.start` (or at once by
:meth:`RabbitMQBroker.declare` once started) on robust aio-pika channels,
which declare it again after a reconnection ("topology is data").

Decisions:

- **Retry queues are quorum queues** with a queue-wide ``x-message-ttl`` and
  ``x-dead-letter-strategy: at-least-once`` (RabbitMQ >= 3.10). Per-message
  TTL is not used: each retry queue has one delay, so messages expire in
  order at its head. A classic queue would also work, but its dead-lettering
  is at most once and it lives on a single node: a message waiting for its
  retry could be lost with that node. At-least-once dead-lettering requires
  ``x-overflow: reject-publish``, which only matters if a length limit is set.
- **oldest_age_s is always 0.0.** AMQP does not expose the age of a queue's
  head; the management API's ``head_message_timestamp`` exists only for
  classic queues; peeking with ``basic_get`` + requeue would hand the head to
  this process for a moment, letting a consumer overtake it (breaking
  per-patient order) and marking it redelivered.
- **parked() reads with basic_get on a dedicated channel without acking**,
  then closes that channel: RabbitMQ gives every unacknowledged message back
  to the parking queue, in place. Nothing is lost; those messages get the
  redelivered flag and ``x-delivery-count`` + 1 (harmless: no delivery limit
  is configured on parking queues).

Publishing goes through one channel with publisher confirms and
``mandatory=True``: an unconfirmed, nacked or unroutable message, a lost
connection or a timeout raises :class:`hub.errors.StorageError`. Consumers
each get their own channel with ``basic_qos(prefetch)`` and manual acks; each
delivery runs its handler in its own task, and a handler that raises or
returns without settling gets its message retried with the first delay. A
copy made by ``retry``, ``park`` or ``redrive`` is confirmed before the
original is acknowledged, so a crash in between can duplicate a message (at
least once) but never lose it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from yarl import URL

from hub.broker.base import (
    Consumer,
    Handler,
    OutboundMessage,
    ParkedMessage,
    QueueStats,
)
from hub.errors import ConfigError, StorageError

__all__ = ["RabbitMQBroker"]

log = logging.getLogger(__name__)

ATTEMPTS_HEADER = "x-hub-attempts"
PARK_REASON_HEADER = "x-hub-park-reason"
PARKED_AT_HEADER = "x-hub-parked-at"
_HUB_HEADER_PREFIX = "x-hub-"
# Headers RabbitMQ adds (dead-lettering, quorum queues); never the publisher's.
_BROKER_HEADER_PREFIXES = ("x-death", "x-delivery-count", "x-first-death-", "x-last-death-")
_REDRIVE_BATCH = 100
_QUORUM: dict[str, Any] = {"x-queue-type": "quorum"}


@dataclass(frozen=True, slots=True)
class _Topology:
    """Physical names and arguments of one logical queue's RabbitMQ queues."""

    main: str
    parked: str
    retries: tuple[tuple[float, str], ...]

    @classmethod
    def build(cls, prefix: str, queue: str, delays_s: Sequence[float]) -> _Topology:
        main = f"{prefix}.{queue}"
        retries = tuple((d, f"{main}.retry.{round(d * 1000)}") for d in sorted(delays_s))
        return cls(main=main, parked=f"{main}.parked", retries=retries)

    def names(self) -> tuple[str, ...]:
        """Every physical queue name, work queue first."""
        return (self.main, self.parked, *(name for _, name in self.retries))

    def arguments(self) -> dict[str, dict[str, Any]]:
        """Declaration arguments for every physical queue, by name."""
        declared = {self.main: dict(_QUORUM), self.parked: dict(_QUORUM)}
        for delay_s, name in self.retries:
            declared[name] = {
                **_QUORUM,
                "x-message-ttl": round(delay_s * 1000),
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.main,
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            }
        return declared

    def retry_queue(self, delay_s: float) -> str:
        """The smallest retry queue whose delay is at least ``delay_s`` (else the largest)."""
        for queue_delay_s, name in self.retries:
            if queue_delay_s >= delay_s:
                return name
        return self.retries[-1][1]


def _str_headers(raw: Mapping[str, Any] | None) -> dict[str, str]:
    """Headers as strings, bytes decoded, non-scalar values (``x-death``) dropped."""
    headers: dict[str, str] = {}
    for key, value in (raw or {}).items():
        if isinstance(value, bytes):
            headers[key] = value.decode("utf-8", "replace")
        elif isinstance(value, str | int | float):
            headers[key] = str(value)
    return headers


def _user_headers(raw: Mapping[str, Any] | None) -> dict[str, str]:
    """The publisher's headers: without the hub's ``x-hub-*`` and RabbitMQ's own."""
    return {
        key: value
        for key, value in _str_headers(raw).items()
        if not key.startswith((_HUB_HEADER_PREFIX, *_BROKER_HEADER_PREFIXES))
    }


def _attempts(raw: Mapping[str, Any] | None) -> int:
    """``x-hub-attempts`` as an int, 0 when absent or unreadable."""
    value = _str_headers(raw).get(ATTEMPTS_HEADER, "0")
    return int(value) if value.isdigit() else 0


def _outbound(message: OutboundMessage) -> aio_pika.Message:
    """A persistent AMQP message for a new publication."""
    return aio_pika.Message(
        message.body,
        message_id=message.message_id,
        headers=dict(message.headers),
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        timestamp=datetime.now(UTC),
    )


def _copy(message: AbstractIncomingMessage, extra: Mapping[str, str]) -> aio_pika.Message:
    """A persistent copy of a delivered message: same id, body, timestamp; headers + ``extra``."""
    return aio_pika.Message(
        message.body,
        message_id=message.message_id,
        headers={**_user_headers(message.headers), **extra},
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        timestamp=message.timestamp or datetime.now(UTC),
    )


class RabbitMQBroker:
    """The :class:`hub.broker.base.Broker` contract on RabbitMQ (quorum queues, confirms).

    ``timeout_s`` bounds every broker operation (publish confirms included);
    ``reconnect_interval_s`` is the pause between reconnection attempts;
    ``close_grace_s`` is how long :meth:`close` lets running handlers finish
    before cancelling them (their messages are then delivered again).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "hub",
        retry_delays_s: Sequence[float] = (1, 5, 30, 120, 600),
        heartbeat_s: int = 30,
        timeout_s: float = 10.0,
        reconnect_interval_s: float = 5.0,
        close_grace_s: float = 10.0,
    ) -> None:
        if not retry_delays_s or min(retry_delays_s) <= 0:
            raise ConfigError(
                f"expected at least one positive delay, got {list(retry_delays_s)!r}",
                key="broker.retry_delays_s",
            )
        self._url = url
        self._safe_url = str(URL(url).with_password(None).with_user(None))
        self._prefix = prefix
        self._delays_s = tuple(sorted(retry_delays_s))
        self._heartbeat_s = heartbeat_s
        self._timeout_s = timeout_s
        self._reconnect_interval_s = reconnect_interval_s
        self._close_grace_s = close_grace_s
        self._topologies: dict[str, _Topology] = {}
        self._consumers: set[_RabbitConsumer] = set()
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None

    def physical_queues(self, queue: str | None = None) -> tuple[str, ...]:
        """Queue names behind ``queue`` (work, parked, retries); None: all declared."""
        if queue is not None:
            return _Topology.build(self._prefix, queue, self._delays_s).names()
        return tuple(name for t in self._topologies.values() for name in t.names())

    async def start(self) -> None:
        """Connect, open the confirmed publishing channel, declare every known queue."""
        async with self._storage_errors("connect"):
            self._connection = await aio_pika.connect_robust(
                self._url,
                heartbeat=self._heartbeat_s,
                reconnect_interval=self._reconnect_interval_s,
                timeout=self._timeout_s,
            )
            self._channel = await self._connection.channel(
                publisher_confirms=True, on_return_raises=True
            )
        for topology in self._topologies.values():
            await self._declare_topology(topology)
        log.info("connected to RabbitMQ at %s", self._safe_url)

    async def close(self) -> None:
        """Stop every consumer (waiting a little for running handlers) and disconnect."""
        consumers, self._consumers = self._consumers, set()
        await asyncio.gather(*(c.cancel(grace_s=self._close_grace_s) for c in consumers))
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await connection.close()

    async def declare(self, queue: str) -> None:
        """Register ``queue`` and, once started, declare its queues now (idempotent)."""
        if queue in self._topologies:
            return
        topology = _Topology.build(self._prefix, queue, self._delays_s)
        if self._connection is not None:
            await self._declare_topology(topology)
        self._topologies[queue] = topology

    async def publish(self, queue: str, messages: Sequence[OutboundMessage]) -> None:
        """Publish every message and return once RabbitMQ confirmed them all."""
        topology = await self._ensure(queue)
        await self._publish(topology.main, [_outbound(m) for m in messages])

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 64) -> Consumer:
        """Start a consumer on its own channel, at most ``prefetch`` messages unsettled."""
        topology = await self._ensure(queue)
        consumer = _RabbitConsumer(self, topology, handler, prefetch)
        async with self._storage_errors(f"consume from {topology.main!r}"):
            await consumer.start(self._require_connection())
        self._consumers.add(consumer)
        return consumer

    async def stats(self, queue: str) -> QueueStats:
        """Ready counts of the work and parking queues (``oldest_age_s``: always 0.0)."""
        topology = await self._ensure(queue)
        async with self._storage_errors(f"count messages of {topology.main!r}"):
            channel = await self._require_channel().get_underlay_channel()
            main = await channel.queue_declare(topology.main, passive=True)
            parked = await channel.queue_declare(topology.parked, passive=True)
        return QueueStats(
            queue=queue,
            ready=main.message_count or 0,
            parked=parked.message_count or 0,
            oldest_age_s=0.0,
        )

    async def parked(self, queue: str, limit: int = 100) -> list[ParkedMessage]:
        """Up to ``limit`` parked messages, oldest first, left in place."""
        topology = await self._ensure(queue)
        found: list[ParkedMessage] = []
        async with self._temporary_queue(topology.parked) as parking:
            while len(found) < limit:
                message = await parking.get(no_ack=False, fail=False)
                if message is None:
                    break
                found.append(_parked_message(queue, message))
        return found

    async def redrive(self, queue: str, message_ids: Sequence[str] | None = None) -> int:
        """Move parked messages (all, or those ids) back to the work queue; returns how many.

        A redriven message starts again with ``attempts`` 0 and without its park reason.
        """
        topology = await self._ensure(queue)
        wanted = None if message_ids is None else set(message_ids)
        moved = 0
        async with self._temporary_queue(topology.parked) as parking:
            # Read until the parking queue answers empty rather than trusting its
            # message count: a quorum queue's count can lag behind confirmed
            # publishes (seen under load), and messages taken but not chosen stay
            # unacknowledged on this channel, so they are not read twice.
            batch = await _first_batch(parking)
            while batch:
                chosen = [m for m in batch if wanted is None or m.message_id in wanted]
                await self._publish(topology.main, [_copy(m, {}) for m in chosen])
                for message in chosen:
                    await message.ack()
                moved += len(chosen)
                batch = await _get_batch(parking, _REDRIVE_BATCH)
        log.info("redrove %d message(s) from %s", moved, topology.parked)
        return moved

    async def purge(self, queue: str) -> None:
        """Empty the work queue, its parking queue and its retry queues."""
        topology = await self._ensure(queue)
        async with self._storage_errors(f"purge {topology.main!r}"):
            channel = await self._require_channel().get_underlay_channel()
            for name in topology.names():
                await channel.queue_purge(name)

    async def _publish_copy(self, routing_key: str, message: aio_pika.Message) -> None:
        """Publish one copy (retry, park) with a confirm; used by envelopes."""
        await self._publish(routing_key, [message])

    async def _publish(self, routing_key: str, messages: Sequence[aio_pika.Message]) -> None:
        """Publish concurrently on the confirmed channel; any failure raises StorageError."""
        if not messages:
            return
        exchange = self._require_channel().default_exchange
        async with self._storage_errors(f"publish {len(messages)} message(s) to {routing_key!r}"):
            results = await asyncio.gather(
                *(exchange.publish(m, routing_key, mandatory=True) for m in messages),
                return_exceptions=True,
            )
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                raise StorageError(
                    f"RabbitMQ at {self._safe_url} did not confirm {len(failures)} of "
                    f"{len(messages)} message(s) to {routing_key!r}: {failures[0]!r}"
                ) from failures[0]

    async def _ensure(self, queue: str) -> _Topology:
        """The topology of ``queue``, declared first if it was never declared."""
        self._require_connection()
        await self.declare(queue)
        return self._topologies[queue]

    async def _declare_topology(self, topology: _Topology) -> None:
        """Declare every queue of ``topology`` on the robust channel (re-declared on reconnect)."""
        channel = self._require_channel()
        async with self._storage_errors(f"declare {topology.main!r}"):
            for name, arguments in topology.arguments().items():
                await channel.declare_queue(name, durable=True, arguments=arguments)

    @contextlib.asynccontextmanager
    async def _temporary_queue(self, name: str) -> AsyncIterator[AbstractQueue]:
        """``name`` on a channel of its own; closing it requeues whatever was not acked."""
        async with self._storage_errors(f"open a channel to read {name!r}"):
            channel = await self._require_connection().channel(publisher_confirms=False)
        try:
            async with self._storage_errors(f"read {name!r}"):
                yield await channel.declare_queue(name, passive=True, robust=False)
        finally:
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await channel.close()

    @contextlib.asynccontextmanager
    async def _storage_errors(self, action: str) -> AsyncIterator[None]:
        """Bound ``action`` by ``timeout_s`` and turn broker failures into StorageError."""
        try:
            async with asyncio.timeout(self._timeout_s):
                yield
        except StorageError:
            raise
        except (TimeoutError, *CONNECTION_EXCEPTIONS) as exc:
            raise StorageError(
                f"RabbitMQ at {self._safe_url}: could not {action}: {exc!r}"
            ) from exc

    def _require_connection(self) -> AbstractRobustConnection:
        if self._connection is None:
            raise StorageError(f"RabbitMQ broker at {self._safe_url} is not started")
        return self._connection

    def _require_channel(self) -> AbstractRobustChannel:
        if self._channel is None:
            raise StorageError(f"RabbitMQ broker at {self._safe_url} is not started")
        return self._channel


_REQUEUE_GRACE_S = (0.05, 0.1, 0.2)


async def _first_batch(queue: AbstractQueue) -> list[AbstractIncomingMessage]:
    """The first batch of a parking queue, waiting a little when it answers empty.

    Messages another channel just read and released (``parked()`` lists them
    that way) are back in the queue only once the broker has processed that
    channel's close: an operator listing then redriving at once must not get 0.
    """
    batch = await _get_batch(queue, _REDRIVE_BATCH)
    for pause in _REQUEUE_GRACE_S:
        if batch:
            break
        await asyncio.sleep(pause)
        batch = await _get_batch(queue, _REDRIVE_BATCH)
    return batch


async def _get_batch(queue: AbstractQueue, size: int) -> list[AbstractIncomingMessage]:
    """Up to ``size`` messages taken with ``basic_get``, left unacknowledged."""
    batch: list[AbstractIncomingMessage] = []
    while len(batch) < size:
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            break
        batch.append(message)
    return batch


def _parked_message(queue: str, message: AbstractIncomingMessage) -> ParkedMessage:
    """A parked AMQP message as the contract's :class:`ParkedMessage`."""
    headers = _str_headers(message.headers)
    parked_at = headers.get(PARKED_AT_HEADER, "0")
    return ParkedMessage(
        queue=queue,
        message_id=message.message_id or "",
        body=message.body,
        headers=_user_headers(message.headers),
        reason=headers.get(PARK_REASON_HEADER, ""),
        parked_at=float(parked_at) if _is_number(parked_at) else 0.0,
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class _RabbitEnvelope:
    """One delivery, settled exactly once by ``ack``, ``retry`` or ``park``."""

    def __init__(
        self, broker: RabbitMQBroker, topology: _Topology, message: AbstractIncomingMessage
    ) -> None:
        self._broker = broker
        self._topology = topology
        self._message = message
        self._headers = _user_headers(message.headers)
        self.settled = False

    @property
    def body(self) -> bytes:
        return self._message.body

    @property
    def message_id(self) -> str:
        return self._message.message_id or ""

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    @property
    def redelivered(self) -> bool:
        return bool(self._message.redelivered)

    @property
    def attempts(self) -> int:
        """How many times ``retry`` handed this message back (``x-hub-attempts``)."""
        return _attempts(self._message.headers)

    async def ack(self) -> None:
        """Done with the message: RabbitMQ forgets it."""
        self._settle()
        await self._ack_original("ack")

    async def retry(self, delay_s: float) -> None:
        """Deliver again after ``delay_s`` (rounded up to a retry queue's delay)."""
        self._settle()
        extra = {ATTEMPTS_HEADER: str(self.attempts + 1)}
        target = self._topology.retry_queue(delay_s)
        await self._move(target, extra)
        log.info("message %s retried through %s", self.message_id, target)

    async def park(self, reason: str) -> None:
        """Move the message to the parking queue with ``reason``."""
        self._settle()
        extra = {PARK_REASON_HEADER: reason, PARKED_AT_HEADER: f"{time.time():.3f}"}
        extra[ATTEMPTS_HEADER] = str(self.attempts)
        await self._move(self._topology.parked, extra)
        log.warning("message %s parked in %s: %s", self.message_id, self._topology.parked, reason)

    async def give_back(self) -> None:
        """Return the message to its queue at once (last resort when a copy failed)."""
        self.settled = True
        with contextlib.suppress(*CONNECTION_EXCEPTIONS):
            await self._message.nack(requeue=True)

    def _settle(self) -> None:
        if self.settled:
            raise RuntimeError(f"message {self.message_id} is already settled")
        self.settled = True

    async def _move(self, routing_key: str, extra: Mapping[str, str]) -> None:
        """Publish a confirmed copy to ``routing_key``, then ack the original."""
        try:
            await self._broker._publish_copy(routing_key, _copy(self._message, extra))
        except StorageError:
            await self.give_back()
            raise
        await self._ack_original(f"move to {routing_key}")

    async def _ack_original(self, action: str) -> None:
        """Ack; when the channel is gone RabbitMQ already requeued it (it comes back)."""
        try:
            await self._message.ack()
        except CONNECTION_EXCEPTIONS as exc:
            log.warning(
                "message %s: %s not acknowledged (%r); it will be delivered again",
                self.message_id,
                action,
                exc,
            )


class _RabbitConsumer:
    """A consumer on its own robust channel; each delivery handled in its own task."""

    def __init__(
        self, broker: RabbitMQBroker, topology: _Topology, handler: Handler, prefetch: int
    ) -> None:
        self._broker = broker
        self._topology = topology
        self._handler = handler
        self._prefetch = prefetch
        self._channel: AbstractRobustChannel | None = None
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False

    async def start(self, connection: AbstractRobustConnection) -> None:
        """Open the channel, set the prefetch, declare the queue, subscribe."""
        self._channel = await connection.channel(publisher_confirms=False)
        await self._channel.set_qos(prefetch_count=self._prefetch)
        arguments = self._topology.arguments()[self._topology.main]
        self._queue = await self._channel.declare_queue(
            self._topology.main, durable=True, arguments=arguments
        )
        self._tag = await self._queue.consume(self._on_message)

    async def cancel(self, *, grace_s: float | None = None) -> None:
        """Stop taking messages, wait for running handlers (up to ``grace_s``), close."""
        if self._stopping:
            return
        self._stopping = True
        self._broker._consumers.discard(self)
        await self._unsubscribe()
        await self._wait_for_handlers(grace_s)
        if self._channel is not None:
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await self._channel.close()

    async def _unsubscribe(self) -> None:
        if self._queue is not None and self._tag is not None:
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await self._queue.cancel(self._tag)

    async def _wait_for_handlers(self, grace_s: float | None) -> None:
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("%d handler(s) on %s cancelled at close", len(pending), self._topology.main)
            await asyncio.wait(pending)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        """Start the handler in a task of ours (aiormq cancels its own on disconnect)."""
        if self._stopping:
            return  # left unsettled: RabbitMQ requeues it when the channel closes
        task = asyncio.create_task(self._handle(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        envelope = _RabbitEnvelope(self._broker, self._topology, message)
        try:
            await self._handler(envelope)
        except Exception as exc:
            log.error(
                "handler failed on message %s from %s: %r",
                envelope.message_id,
                self._topology.main,
                exc,
            )
            await self._retry_unsettled(envelope)
        else:
            if not envelope.settled:
                log.error("handler returned without settling message %s", envelope.message_id)
                await self._retry_unsettled(envelope)

    async def _retry_unsettled(self, envelope: _RabbitEnvelope) -> None:
        """Retry with the first delay a message its handler failed or forgot to settle."""
        if envelope.settled:
            return
        try:
            await envelope.retry(self._topology.retries[0][0])
        except StorageError as exc:
            log.error("could not retry message %s: %s", envelope.message_id, exc)
