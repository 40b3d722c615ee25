"""RabbitMQ-only behaviour: queue types, failures, reconnection through a TCP proxy."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import pytest
from aio_pika.exceptions import ChannelNotFoundEntity, ChannelPreconditionFailed

from hub.broker.base import Envelope, OutboundMessage
from hub.broker.rabbitmq import RabbitMQBroker
from hub.errors import StorageError
from tests.support.tcp_proxy import TcpProxy

Factory = Callable[..., Awaitable[Any]]


def outbound(i: int) -> OutboundMessage:
    return OutboundMessage(body=f"body-{i}".encode(), message_id=f"m{i}")


@pytest.fixture
async def proxy(rabbitmq_url: str) -> AsyncIterator[TcpProxy]:
    """A TCP proxy in front of the test RabbitMQ."""
    parts = urlsplit(rabbitmq_url)
    async with await TcpProxy.start(parts.hostname or "127.0.0.1", parts.port or 5672) as proxy:
        yield proxy


def through(rabbitmq_url: str, proxy: TcpProxy) -> str:
    """``rabbitmq_url`` with its host and port replaced by the proxy's."""
    parts = urlsplit(rabbitmq_url)
    netloc = parts.netloc.rsplit("@", 1)[0] + f"@{proxy.host}:{proxy.port}"
    return parts._replace(netloc=netloc).geturl()


async def existing(url: str, names: Sequence[str]) -> list[str]:
    """Those of ``names`` that exist on the server (passive declare)."""
    found = []
    async with await aio_pika.connect(url) as connection:
        for name in names:
            channel = await connection.channel()
            try:
                await channel.declare_queue(name, passive=True)
                found.append(name)
            except ChannelNotFoundEntity:
                continue
            await channel.close()
    return found


async def delete_queues(url: str, names: Sequence[str]) -> None:
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel()
        for name in names:
            await channel.queue_delete(name)


async def declared_with(url: str, name: str, arguments: dict[str, Any]) -> bool:
    """Whether declaring ``name`` with ``arguments`` matches the existing queue."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        await channel.declare_queue(name, durable=True, arguments=arguments)
        return True
    except ChannelPreconditionFailed:
        return False
    finally:
        await connection.close()


async def test_work_parking_and_retry_queues_are_quorum_queues(
    rabbitmq_factory: Factory, rabbitmq_url: str, queue_name: str
) -> None:
    broker = await rabbitmq_factory()
    await broker.declare(queue_name)
    main, parked, *retries = broker.physical_queues(queue_name)
    assert await existing(rabbitmq_url, [main, parked, *retries]) == [main, parked, *retries]
    assert (parked, retries) == (f"{main}.parked", [f"{main}.retry.1000", f"{main}.retry.5000"])
    for name in (main, parked):
        assert await declared_with(rabbitmq_url, name, {"x-queue-type": "quorum"})
        assert not await declared_with(rabbitmq_url, name, {"x-queue-type": "classic"})
    retry_args = {
        "x-queue-type": "quorum",
        "x-message-ttl": 1000,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": main,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    assert await declared_with(rabbitmq_url, retries[0], retry_args)
    assert not await declared_with(
        rabbitmq_url, retries[0], retry_args | {"x-queue-type": "classic"}
    )


async def test_queues_declared_before_start_are_declared_on_start(
    rabbitmq_url: str, queue_name: str
) -> None:
    broker = RabbitMQBroker(rabbitmq_url, prefix=f"hubtest-{queue_name}-early")
    await broker.declare(queue_name)
    names = broker.physical_queues()
    assert len(names) == 7
    assert await existing(rabbitmq_url, names) == []
    try:
        await broker.start()
        assert await existing(rabbitmq_url, names) == list(names)
    finally:
        await broker.close()
        await delete_queues(rabbitmq_url, names)


async def test_queues_are_declared_again_after_a_reconnection(
    rabbitmq_factory: Factory, rabbitmq_url: str, proxy: TcpProxy, queue_name: str
) -> None:
    url = through(rabbitmq_url, proxy)
    broker = await rabbitmq_factory(url=url, reconnect_interval_s=0.2)
    await broker.declare(queue_name)
    names = list(broker.physical_queues())
    await delete_queues(rabbitmq_url, names)
    await proxy.drop_connections()
    async with asyncio.timeout(10):
        while await existing(rabbitmq_url, names) != names:
            await asyncio.sleep(0.1)
    await broker.publish(queue_name, [outbound(0)])


async def test_failing_handler_gets_its_message_retried_and_the_consumer_goes_on(
    rabbitmq_factory: Factory, queue_name: str
) -> None:
    broker = await rabbitmq_factory()
    await broker.publish(queue_name, [outbound(0), outbound(1)])
    seen: asyncio.Queue[tuple[str, int]] = asyncio.Queue()

    async def handler(envelope: Envelope) -> None:
        seen.put_nowait((envelope.message_id, envelope.attempts))
        if envelope.message_id == "m0" and envelope.attempts == 0:
            raise RuntimeError("destination exploded")
        await envelope.ack()

    await broker.consume(queue_name, handler)
    async with asyncio.timeout(10):
        got = [await seen.get() for _ in range(3)]
    assert got == [("m0", 0), ("m1", 0), ("m0", 1)]
    assert (await broker.stats(queue_name)).ready == 0


async def test_start_and_publish_without_a_server_raise_storage_error(
    rabbitmq_factory: Factory, rabbitmq_url: str, proxy: TcpProxy, queue_name: str
) -> None:
    broker = await rabbitmq_factory(url=through(rabbitmq_url, proxy), timeout_s=2)
    await broker.declare(queue_name)
    await proxy.close()
    with pytest.raises(StorageError, match="RabbitMQ"):
        await broker.publish(queue_name, [outbound(0)])
    with pytest.raises(StorageError, match="connect"):
        await rabbitmq_factory(url=through(rabbitmq_url, proxy), timeout_s=2)


async def test_publish_times_out_during_a_partition_then_recovers(
    rabbitmq_factory: Factory, rabbitmq_url: str, proxy: TcpProxy, queue_name: str
) -> None:
    broker = await rabbitmq_factory(url=through(rabbitmq_url, proxy), timeout_s=1)
    await broker.declare(queue_name)
    proxy.pause()
    started = time.monotonic()
    with pytest.raises(StorageError, match="could not publish"):
        await broker.publish(queue_name, [outbound(0)])
    assert time.monotonic() - started < 3
    proxy.resume()
    await broker.publish(queue_name, [outbound(1)])
    assert (await broker.stats(queue_name)).ready >= 1


async def test_unroutable_publish_raises_storage_error(
    rabbitmq_factory: Factory, rabbitmq_url: str, queue_name: str
) -> None:
    broker = await rabbitmq_factory()
    await broker.declare(queue_name)
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(broker.physical_queues(queue_name)[0])
    with pytest.raises(StorageError, match="did not confirm"):
        await broker.publish(queue_name, [outbound(0)])


async def drop_repeatedly(proxy: TcpProxy, *, times: int, every_s: float) -> None:
    """Abort every proxied connection ``times`` times, ``every_s`` apart."""
    for _ in range(times):
        await asyncio.sleep(every_s)
        await proxy.drop_connections()


async def publish_until(broker: Any, queue: str, done: asyncio.Task[None]) -> tuple[set[str], int]:
    """Publish batches of 10 until ``done`` finishes and 5 more batches are confirmed.

    Returns the ids whose publish returned (confirmed) and how many publishes failed.
    """
    confirmed: set[str] = set()
    failures = batch = confirmed_after = 0
    while confirmed_after < 5:
        finished = done.done()
        messages = [outbound(batch * 10 + i) for i in range(10)]
        batch += 1
        try:
            await broker.publish(queue, messages)
        except StorageError:
            failures += 1
            await asyncio.sleep(0.1)
            continue
        confirmed.update(m.message_id for m in messages)
        confirmed_after += finished
        await asyncio.sleep(0.01)
    return confirmed, failures


async def test_nothing_confirmed_is_lost_when_connections_drop(
    rabbitmq_factory: Factory, rabbitmq_url: str, proxy: TcpProxy, queue_name: str
) -> None:
    url = through(rabbitmq_url, proxy)
    broker = await rabbitmq_factory(url=url, timeout_s=3, reconnect_interval_s=0.2)
    consumed: list[str] = []

    async def handler(envelope: Envelope) -> None:
        consumed.append(envelope.message_id)
        await envelope.ack()

    await broker.consume(queue_name, handler, prefetch=16)
    dropper = asyncio.create_task(drop_repeatedly(proxy, times=3, every_s=0.7))
    async with asyncio.timeout(20):
        confirmed, failures = await publish_until(broker, queue_name, dropper)
        while not confirmed <= set(consumed):
            await asyncio.sleep(0.1)
    print(
        f"\n{len(confirmed)} confirmed, {failures} failed publish(es), "
        f"{len(consumed) - len(set(consumed))} duplicate deliveries, 3 drops"
    )
    assert proxy.connections_accepted >= 4
    assert failures >= 1
