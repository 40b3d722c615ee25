"""The broker contract (:mod:`hub.broker.base`), run on every implementation.

Each test runs once per implementation (ids ``embedded`` and ``rabbitmq``)
with ``make_broker``, a factory of new brokers on one backing store, and
``make_recorder``, a factory of recording handlers (see ``conftest.py``).

Stats are only compared when no message is in flight: a message delivered
but not settled counts as ready in one implementation and not in the other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from hub.broker.base import Broker, OutboundMessage

MakeRecorder = Callable[..., Any]


def outbound(i: int, **headers: str) -> OutboundMessage:
    """Message number ``i``: body ``body-<i>``, id ``m<i>``."""
    return OutboundMessage(body=f"body-{i}".encode(), message_id=f"m{i}", headers=headers)


async def ready_broker(make_broker: Any, queue: str) -> Broker:
    broker: Broker = await make_broker()
    await broker.declare(queue)
    return broker


def ids(envelopes: Sequence[Any]) -> list[str]:
    return [envelope.message_id for envelope in envelopes]


async def park_one(broker: Broker, queue: str, make_recorder: MakeRecorder) -> None:
    """Publish one message, consume it and park it, leaving nothing in flight."""
    await broker.publish(queue, [outbound(0)])
    recorder = make_recorder(ack=False)
    consumer = await broker.consume(queue, recorder, prefetch=1)
    [envelope] = await recorder.take()
    await envelope.park("refused")
    await consumer.cancel()


async def test_publish_then_consume_gets_body_id_and_headers(
    make_broker: Any, queue_name: str, make_recorder: MakeRecorder
) -> None:
    broker = await ready_broker(make_broker, queue_name)
    sent = OutboundMessage(b"\x00MSH|^~\\&|\xff", "msg-1", {"sender": "LAB", "event": "ORU^R01"})
    await broker.publish(queue_name, [sent])
    recorder = make_recorder()
    consumer = await broker.consume(queue_name, recorder)
    [got] = await recorder.take()
    await consumer.cancel()
    assert (got.body, got.message_id) == (sent.body, sent.message_id)
    assert dict(got.headers) == dict(sent.headers)
    assert (got.redelivered, got.attempts) == (False, 0)


async def test_published_message_survives_into_a_new_broker_instance(
    make_broker: Any, queue_name: str, make_recorder: MakeRecorder
) -> None:
    first = await ready_broker(make_broker, queue_name)
    await first.publish(queue_name, [outbound(1)])
    second = await ready_broker(make_broker, queue_name)
    recorder = make_recorder()
    consumer = await second.consume(queue_name, recorder)
    [got] = await recorder.take()
    await consumer.cancel()
    assert (got.message_id, got.body) == ("m1", b"body-1")


async def test_ack_removes_the_message(
    make_broker: Any, queue_name: str, make_recorder: MakeRecorder
) -> None:
    broker = await ready_broker(make_broker, queue_name)
    await broker.publish(queue_name, [outbound(1)])
    recorder = make_recorder()
    consumer = await broker.consume(queue_name, recorder)
    await recorder.take()
    await consumer.cancel()
    await broker.close()
    restarted = await ready_broker(make_broker, queue_name)
    after = make_recorder()
    await restarted.consume(queue_name, after)
    assert await after.nothing_within(1.0)
    assert (await restarted.stats(queue_name)).ready == 0


async def test_unsettled_message_is_redelivered_after_a_crash(
    make_broker: Any, queue_name: str, make_recorder: MakeRecorder
) -> None:
    crashed = await ready_broker(make_broker, queue_name)
    await crashed.publish(queue_name, [outbound(1)])
    first = make_recorder(ack=False)
    await crashed.consume(queue_name, first)
    [unsettled] = await first.take()
    assert not unsettled.redelivered
    await make_broker.crash(crashed)
    restarted = await ready_broker(make_broker, queue_name)
    second = make_recorder()
    await restarted.consume(queue_name, second)
    [again] = await second.take()
    assert (again.message_id, again.body, again.redelivered) == ("m1", b"body-1", True)


async def test_retry_redelivers_after_the_delay_with_attempts_incremented(
    make_broker: Any, queue_name: str, make_recorder: MakeRecorder
) -> None:
    broker = await ready_broker(make_broker, queue_name)
    await broker.publish(queue_name, [outbound(1, sender="LAB")])
    recorder = make_recorder(ack=False)
    await broker.consume(queue_name, recorder)
    [first] = await recorder.take()
    assert first.attempts == 0
    retried_at = time.monotonic()
    await first.retry(1.0)
    [(arrived_at, again)] = await recorder.take_timed()
    await again.ack()
    assert arrived_at - retried_at >= 0.99
    assert (again.message_id, again.body) == ("m1", b"body-1")
    assert dict(again.headers) == {"sender": "LAB"}
    assert again.attempts == 1


async def test_park_keeps_the_message_with_its_reason_and_stops_delivery(
    make_broker: Any, queue_name: str, make_recorder: MakeRecorder
) -> None:
    broker = await ready_broker(make_broker, queue_name)
    await broker.publish(queue_name, [outbound(1, sender="LAB")])
    recorder = make_recorder(ack=False)
    await broker.consume(queue_name, recorder)
    [envelope] = await recorder.take()
    before = time.time()
    await envelope.park("destination refused: AR")
    assert await recorder.nothing_within(1.0)
    [parked] = await broker.parked(queue_name)
    assert (parked.queue, parked.message_id, parked.body) == (queue_name, "m1", b"body-1")
    assert (parked.reason, dict(parked.headers)) == ("destination refused: AR", {"sender": "LAB"})
    assert before - 1 <= parked.parked_at <= time.time() + 1
    assert [p.message_id for p in await broker.parked(queue_name)] == ["m1"]


async def test_redrive_by_id_then_all_delivers_parked_messages_again(
    make_broker: Any, queue_name: str, make_recorder: MakeRecorder
) -> None:
    broker = await ready_broker(make_broker, queue_name)
    await broker.publish(queue_name, [outbound(i) for i in range(3)])
    recorder = make_recorder(ack=False)
    await broker.consume(queue_name, recorder)
    for envelope in await recorder.take(3):
        await envelope.park("refused")
    assert await broker.redrive(queue_name, ["m1"]) == 1
    assert ids(await recorder.take()) == ["m1"]
    assert sorted(p.message_id for p in await broker.parked(queue_name)) == ["m0", "m2"]
    assert await broker.redrive(queue_name) == 2
    assert sorted(ids(await recorder.take(2))) == ["m0", "m2"]
    assert await broker.parked(queue_name) == []


async def test_prefetch_bounds_unsettled_messages(
    make_broker: Any, queue_name: str, make_recorder: MakeRecorder
) -> None:
    broker = await ready_broker(make_broker, queue_name)
    await broker.publish(queue_name, [outbound(i) for i in range(10)])
    recorder = make_recorder(ack=False)
    await broker.consume(queue_name, recorder, prefetch=3)
    held = await recorder.take(3)
    assert await recorder.nothing_within(0.5)
    await held[0].ack()
    held += await recorder.take()
    assert await recorder.nothing_within(0.3)
    for envelope in held[1:]:
        await envelope.ack()
    assert len(await recorder.take(3)) == 3
    assert recorder.max_in_flight == 3


async def test_stats_count_ready_and_parked(
    make_broker: Any, queue_name: str, make_recorder: MakeRecorder
) -> None:
    broker = await ready_broker(make_broker, queue_name)
    await park_one(broker, queue_name, make_recorder)
    await broker.publish(queue_name, [outbound(i) for i in range(1, 5)])
    stats = await broker.stats(queue_name)
    assert (stats.queue, stats.ready, stats.parked) == (queue_name, 4, 1)
    assert stats.oldest_age_s >= 0.0


async def test_prefetch_one_consumes_in_publish_order(
    make_broker: Any, queue_name: str, make_recorder: MakeRecorder
) -> None:
    broker = await ready_broker(make_broker, queue_name)
    await broker.publish(queue_name, [outbound(i) for i in range(30)])
    await broker.publish(queue_name, [outbound(i) for i in range(30, 60)])
    recorder = make_recorder()
    await broker.consume(queue_name, recorder, prefetch=1)
    assert ids(await recorder.take(60)) == [f"m{i}" for i in range(60)]
    assert recorder.max_in_flight == 1


async def test_thousand_messages_round_trip(
    make_broker: Any, queue_name: str, make_recorder: MakeRecorder
) -> None:
    broker = await ready_broker(make_broker, queue_name)
    count = 1000
    started = time.perf_counter()
    for first in range(0, count, 100):
        await broker.publish(queue_name, [outbound(i) for i in range(first, first + 100)])
    published = time.perf_counter()
    recorder = make_recorder()
    await broker.consume(queue_name, recorder, prefetch=64)
    got = await recorder.take(count)
    done = time.perf_counter()
    assert sorted(ids(got)) == sorted(f"m{i}" for i in range(count))
    print(
        f"\n{count} messages: publish {count / (published - started):.0f} msg/s, "
        f"round trip {count / (done - started):.0f} msg/s"
    )


async def test_purge_empties_work_and_parking_queues(
    make_broker: Any, queue_name: str, make_recorder: MakeRecorder
) -> None:
    broker = await ready_broker(make_broker, queue_name)
    await park_one(broker, queue_name, make_recorder)
    await broker.publish(queue_name, [outbound(i) for i in range(1, 5)])
    await broker.purge(queue_name)
    stats = await broker.stats(queue_name)
    assert (stats.ready, stats.parked) == (0, 0)
    assert await broker.parked(queue_name) == []
    after = make_recorder()
    await broker.consume(queue_name, after)
    assert await after.nothing_within(0.5)
