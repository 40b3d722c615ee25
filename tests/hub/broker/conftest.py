"""Fixtures for the broker contract: one factory per implementation, same backing store.

``await make_broker()`` returns a new, started broker on the same backing
store at every call (the same SQLite file, or the same RabbitMQ vhost and
prefix), so a test can simulate a restart: ``await make_broker.crash(first)``
then ``await make_broker()``. Every broker made is closed at teardown;
RabbitMQ queues are deleted. ``make_recorder`` makes handlers that record
what they get, acking it or holding it unsettled until the test settles it.

RabbitMQ is used when reachable (``HUB_TEST_RABBITMQ_URL``, default the local
guest account); otherwise its cases are skipped, or fail when ``CI`` is set.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import pytest

from hub.broker.base import Broker, Envelope

RABBITMQ_URL = os.environ.get("HUB_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
# Short delays keep the contract tests fast; 1 s is the delay the tests retry with.
TEST_RETRY_DELAYS_S = (1.0, 5.0)
AMQP_PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
WAIT_S = 10.0


def test_id_hash(request: pytest.FixtureRequest) -> str:
    """A short stable hash of the test id, for names that must not collide."""
    return hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:10]


def _probe_amqp(url: str) -> str | None:
    """None when an AMQP 0-9-1 server answers at ``url``, else the reason it does not."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5672
    try:
        with socket.create_connection((host, port), timeout=3) as sock:
            sock.sendall(AMQP_PROTOCOL_HEADER)
            sock.settimeout(3)
            answer = sock.recv(8)
    except OSError as exc:
        return f"RabbitMQ is not reachable at {host}:{port}: {exc}"
    if not answer.startswith(b"\x01"):  # a Connection.Start method frame
        return f"{host}:{port} does not speak AMQP 0-9-1 (answered {answer!r})"
    return None


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """The test RabbitMQ URL once it answers; skip (fail under ``CI``) otherwise."""
    reason = _probe_amqp(RABBITMQ_URL)
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set: RabbitMQ is required)")
        pytest.skip(f"{reason} (set CI to make this a failure)")
    return RABBITMQ_URL


@pytest.fixture
def queue_name(request: pytest.FixtureRequest) -> str:
    """A logical queue name unique to the test."""
    return f"q{test_id_hash(request)}"


async def delete_rabbitmq_queues(url: str, names: set[str]) -> None:
    """Delete ``names`` from RabbitMQ (test cleanup; missing queues are fine)."""
    connection = await aio_pika.connect(url)
    try:
        for name in sorted(names):
            channel = await connection.channel()
            await channel.queue_delete(name)
            await channel.close()
    finally:
        await connection.close()


class BrokerFactory:
    """Makes started brokers on one backing store; ``crash`` simulates a process death."""

    def __init__(
        self,
        make: Callable[[], Awaitable[Broker]],
        crash: Callable[[Broker], Awaitable[None]],
    ) -> None:
        self._make = make
        self._crash = crash

    async def __call__(self) -> Broker:
        return await self._make()

    async def crash(self, broker: Broker) -> None:
        """Stop ``broker`` as a dying process would, leaving its deliveries unsettled."""
        await self._crash(broker)


@pytest.fixture
async def rabbitmq_factory(
    request: pytest.FixtureRequest, rabbitmq_url: str
) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """``await factory(**kwargs)``: a started RabbitMQBroker on this test's prefix."""
    from hub.broker.rabbitmq import RabbitMQBroker

    prefix = f"hubtest-{test_id_hash(request)}"
    brokers: list[RabbitMQBroker] = []

    async def factory(**kwargs: Any) -> RabbitMQBroker:
        options: dict[str, Any] = {
            "prefix": prefix,
            "retry_delays_s": TEST_RETRY_DELAYS_S,
            "close_grace_s": 0.2,
        }
        broker = RabbitMQBroker(kwargs.pop("url", rabbitmq_url), **(options | kwargs))
        brokers.append(broker)
        await broker.start()
        return broker

    yield factory
    names: set[str] = set()
    for broker in brokers:
        await broker.close()
        names.update(broker.physical_queues())
    await delete_rabbitmq_queues(rabbitmq_url, names)


@pytest.fixture
async def embedded_factory(tmp_path: Path) -> AsyncIterator[Callable[[], Awaitable[Broker]]]:
    """``await factory()``: a started EmbeddedBroker on this test's SQLite file."""
    from hub.broker.embedded import EmbeddedBroker
    from hub.db.engine import Database

    url = f"sqlite+aiosqlite:///{tmp_path}/hub.db"
    opened: list[tuple[Any, Any]] = []

    async def factory() -> Broker:
        database = await Database.open(url)
        await database.upgrade()
        broker = EmbeddedBroker(database)
        opened.append((broker, database))
        await broker.start()
        return broker

    yield factory
    for broker, database in opened:
        await broker.close()
        await database.close()


async def _abandon(broker: Broker) -> None:
    """An embedded broker 'dies' by being abandoned: a new instance takes over its rows."""


@pytest.fixture(params=["embedded", "rabbitmq"])
def make_broker(request: pytest.FixtureRequest) -> BrokerFactory:
    """The broker factory of the implementation under test (ids ``embedded``, ``rabbitmq``)."""
    make: Callable[[], Awaitable[Broker]] = request.getfixturevalue(f"{request.param}_factory")
    if request.param == "rabbitmq":
        return BrokerFactory(make, crash=lambda broker: broker.close())
    return BrokerFactory(make, crash=_abandon)


class Held:
    """An envelope a :class:`Recorder` handler keeps unsettled until the test settles it."""

    def __init__(self, envelope: Envelope) -> None:
        self.envelope = envelope
        self.done = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.envelope, name)

    async def ack(self) -> None:
        try:
            await self.envelope.ack()
        finally:
            self.done.set()

    async def retry(self, delay_s: float) -> None:
        try:
            await self.envelope.retry(delay_s)
        finally:
            self.done.set()

    async def park(self, reason: str) -> None:
        try:
            await self.envelope.park(reason)
        finally:
            self.done.set()


class Recorder:
    """A handler recording each envelope and when it came; acks it, or holds it for the test."""

    def __init__(self, *, ack: bool) -> None:
        self.ack = ack
        self.arrivals: asyncio.Queue[tuple[float, Any]] = asyncio.Queue()
        self.held: list[Held] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def __call__(self, envelope: Envelope) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await self._handle(envelope)
        finally:
            self.in_flight -= 1

    async def _handle(self, envelope: Envelope) -> None:
        if self.ack:
            await asyncio.sleep(0)
            await envelope.ack()
            self.arrivals.put_nowait((time.monotonic(), envelope))
            return
        held = Held(envelope)
        self.held.append(held)
        self.arrivals.put_nowait((time.monotonic(), held))
        await held.done.wait()

    def release(self) -> None:
        """Let every held handler return (unsettled ones are then the broker's business)."""
        for held in self.held:
            held.done.set()

    async def take_timed(self, count: int = 1) -> list[tuple[float, Any]]:
        """The next ``count`` (arrival time, envelope) pairs, failing after ``WAIT_S``."""
        async with asyncio.timeout(WAIT_S):
            return [await self.arrivals.get() for _ in range(count)]

    async def take(self, count: int = 1) -> list[Any]:
        """The next ``count`` envelopes, failing after ``WAIT_S``."""
        return [envelope for _, envelope in await self.take_timed(count)]

    async def nothing_within(self, seconds: float) -> bool:
        """True when no envelope arrives for ``seconds``."""
        await asyncio.sleep(seconds)
        return self.arrivals.empty()


@pytest.fixture
def make_recorder(make_broker: BrokerFactory) -> Iterator[Callable[..., Recorder]]:
    """``make_recorder(ack=...)``; held handlers are released before the brokers close."""
    recorders: list[Recorder] = []

    def make(*, ack: bool = True) -> Recorder:
        recorders.append(Recorder(ack=ack))
        return recorders[-1]

    yield make
    for recorder in recorders:
        recorder.release()
