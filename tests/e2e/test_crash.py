"""Crash and restart under load (issue "the spine"): ``kill -9`` of ``hub run`` mid-stream.

2,000 PAM France ADT messages stream over 4 MLLP connections (HL7 original
mode: one message in flight per connection). After ~800 AAs the hub is
killed with SIGKILL and started again on the same data directory, database
and ports. Each sender resends, byte for byte, the message that had not been
acknowledged when its connection broke, then goes on to the end.

What must hold (ARCHITECTURE rules 1, 2, 4, 5):

- every message that got an AA, before or after the crash, is in the journal
  once (the hub deduplicates a resend on sender + MSH-10) and delivered;
- the sink, deduplicating as an HL7 receiver must (MSH-3/MSH-4 + MSH-10),
  has accepted each of them exactly once, with the bytes that were sent;
  the raw number of resends it saw (at-least-once transport) is reported;
- each patient's messages were first received by the sink in sending order.

Two set-ups, ids ``embedded`` (SQLite + embedded broker) and
``rabbitmq-postgres`` (RabbitMQ with a ``broker_prefix`` unique to the run,
whose queues are deleted afterwards, and a PostgreSQL database created for
the run and dropped afterwards). A server that cannot be reached skips the
case, or fails it when ``CI`` is set.

A second, deterministic test kills the hub in the window between the intake's
journal commit and RabbitMQ's publisher confirm (RabbitMQ reached through a
paused TCP proxy), the window the streaming test only hits by chance.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import aio_pika
import asyncpg
import pytest

from connectors.mllp.client import MLLPClient, MLLPConnectError, MLLPError
from tests.e2e.api import HubApi
from tests.e2e.clients import read_reply
from tests.e2e.messages import adt
from tests.support.hubproc import HubProcess, await_until, mllp_destination, write_config
from tests.support.sink import MllpSink
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

TOTAL = 2000
CONNECTIONS = 4
KILL_AFTER = 800
EVENTS = ("A01", "A08", "A08", "A40")
SENDER_APP = "GAM-CRASH"
RABBITMQ_URL = os.environ.get("HUB_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
POSTGRES_ADMIN_DSN = os.environ.get(
    "HUB_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
STREAM_DEADLINE_S = 120.0
SETTLE_S = 30.0  # after the last AA: every delivery done, the journal settled


# -- the two set-ups ---------------------------------------------------------------------


def unreachable(reason: str) -> NoReturn:
    """Skip, or fail when CI is set (the servers are required there)."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: the server is required)")
    pytest.skip(f"{reason} (set CI to make this a failure)")


def probe_rabbitmq(url: str) -> None:
    """Skip/fail unless an AMQP 0-9-1 server answers at ``url``."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5672
    try:
        with socket.create_connection((host, port), timeout=3) as sock:
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            sock.settimeout(3)
            answer = sock.recv(8)
    except OSError as exc:
        unreachable(f"RabbitMQ is not reachable at {host}:{port}: {exc}")
    if not answer.startswith(b"\x01"):
        unreachable(f"{host}:{port} does not speak AMQP 0-9-1 (answered {answer!r})")


def hub_queues(prefix: str, destination: str) -> list[str]:
    """Every RabbitMQ queue a hub with ``broker_prefix`` declares for one destination."""
    from hub.broker.rabbitmq import RabbitMQBroker

    broker = RabbitMQBroker(RABBITMQ_URL, prefix=prefix)  # the hub's default retry delays
    return [*broker.physical_queues("ingress"), *broker.physical_queues(f"deliver.{destination}")]


async def delete_queues(url: str, names: Iterable[str]) -> None:
    """Delete the queues of a test run (missing ones are fine)."""
    connection = await aio_pika.connect(url)
    try:
        for name in names:
            channel = await connection.channel()
            await channel.queue_delete(name)
            await channel.close()
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def rabbitmq_prefix(destination: str) -> AsyncIterator[str]:
    """A ``broker_prefix`` unique to this run; its queues are deleted afterwards."""
    probe_rabbitmq(RABBITMQ_URL)
    prefix = f"e2e-{secrets.token_hex(4)}"
    try:
        yield prefix
    finally:
        await delete_queues(RABBITMQ_URL, hub_queues(prefix, destination))


@contextlib.asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A fresh database for this run, dropped afterwards; its SQLAlchemy URL."""
    try:
        admin = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        unreachable(f"PostgreSQL is not reachable ({POSTGRES_ADMIN_DSN}): {exc}")
    name = f"e2e_crash_{secrets.token_hex(4)}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            netloc = urlsplit(POSTGRES_ADMIN_DSN).netloc
            yield f"postgresql+asyncpg://{netloc}/{name}"
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@dataclass(frozen=True)
class Setup:
    """Settings of one set-up and the destination name of this run."""

    name: str
    destination: str
    settings: dict[str, Any]


@pytest.fixture(params=["embedded", "rabbitmq-postgres"])
async def setup(request: pytest.FixtureRequest) -> AsyncIterator[Setup]:
    """The set-up under test; external resources are cleaned whatever happens."""
    destination = "crash-sink"
    if request.param == "embedded":
        yield Setup("embedded", destination, {})
        return
    async with rabbitmq_prefix(destination) as prefix, postgres_database() as database_url:
        yield Setup("rabbitmq-postgres", destination, {
            "broker_url": RABBITMQ_URL, "broker_prefix": prefix, "database_url": database_url})


# -- the senders ---------------------------------------------------------------------------


@dataclass
class Stream:
    """What the senders saw."""

    acked: dict[str, bool] = field(default_factory=dict)  # control id -> acked after the kill
    unanswered: set[str] = field(default_factory=set)  # sent, connection broke before the ACK
    refused: Counter[str] = field(default_factory=Counter)  # negative ACKs by code
    crashed: bool = False


def workload() -> list[list[tuple[str, bytes]]]:
    """2,000 messages: 500 patients x (A01, A08, A08, A40), a patient per connection,
    the connection's patients interleaved (event k of every patient, then event k+1)."""
    patients = TOTAL // len(EVENTS)
    lanes: list[list[tuple[str, bytes]]] = [[] for _ in range(CONNECTIONS)]
    for k, event in enumerate(EVENTS):
        for p in range(patients):
            cid = f"CRASH-{p:04d}-{k}"
            payload = adt(event, cid, f"9{p:05d}", merged_ipp=f"8{p:05d}", app=SENDER_APP)
            lanes[p % CONNECTIONS].append((cid, payload))
    return lanes


async def send_all(port: int, items: list[tuple[str, bytes]], stream: Stream,
                   deadline: float) -> None:
    """Send each message until it gets an AA; resend the same bytes after a broken connection."""
    client = MLLPClient("127.0.0.1", port, connect_timeout_s=2, response_timeout_s=20)
    try:
        for cid, payload in items:
            while True:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{cid}: no AA before the deadline")
                try:
                    raw = await client.send(payload)
                except MLLPConnectError:
                    await asyncio.sleep(0.05)  # the hub is down: poll until it listens again
                    continue
                except (MLLPError, OSError):
                    stream.unanswered.add(cid)
                    await asyncio.sleep(0.05)
                    continue
                reply = read_reply(raw)
                if reply.code == "AA" and reply.acked_control_id == cid:
                    stream.acked[cid] = stream.crashed
                    break
                stream.refused[reply.code] += 1
                if reply.code != "AR":  # AR: could not store, send again (rule 1)
                    raise AssertionError(f"{cid} answered {reply.code}: {reply.text}")
                await asyncio.sleep(0.05)
    finally:
        await client.close()


# -- the test ---------------------------------------------------------------------------


ROUTES = """\
routes:
  - name: everything
    when: {{}}
    action: deliver
    to: [{destination}]
"""


async def test_kill_9_mid_stream_loses_nothing_and_duplicates_nothing(
    setup: Setup, tmp_path: Path
) -> None:
    started = time.monotonic()
    lanes = workload()
    every_cid = {cid for lane in lanes for cid, _ in lane}
    sent = {cid: payload for lane in lanes for cid, payload in lane}
    stream = Stream()
    async with MllpSink() as sink:
        config = write_config(
            tmp_path, routes=ROUTES.format(destination=setup.destination),
            destinations={setup.destination: mllp_destination(
                sink.port, max_attempts=20, initial_s=0.2, max_s=1.0, timeout_s=10)},
            **setup.settings,
        )
        hub = HubProcess(config)
        try:
            await asyncio.to_thread(hub.start)
            deadline = time.monotonic() + STREAM_DEADLINE_S
            senders = [asyncio.create_task(send_all(hub.mllp_port, lane, stream, deadline))
                       for lane in lanes]
            await await_until(lambda: len(stream.acked) >= KILL_AFTER, 60, f"{KILL_AFTER} AAs")
            stream.crashed = True
            await asyncio.to_thread(hub.kill)
            acked_at_kill = len(stream.acked)
            await asyncio.to_thread(hub.start)
            await asyncio.gather(*senders)
            report = await check_outcome(hub, sink, stream, every_cid, sent)
        except BaseException:
            print(f"hub log:\n{hub.log_tail(60)}")
            raise
        finally:
            await asyncio.to_thread(hub.stop)
    report.update(setup=setup.name, acked_at_kill=acked_at_kill,
                  seconds=round(time.monotonic() - started, 1))
    print("crash report:", json.dumps(report))
    (tmp_path / "crash-report.json").write_text(json.dumps(report), encoding="utf-8")


async def check_outcome(hub: HubProcess, sink: MllpSink, stream: Stream,
                        every_cid: set[str], sent: dict[str, bytes]) -> dict[str, Any]:
    """Assert the outcome; return the numbers worth reporting."""
    assert set(stream.acked) == every_cid
    api = HubApi(hub)
    try:
        async def diagnosed(probe: Callable[[], Any], what: str) -> Any:
            try:
                return await await_until(probe, SETTLE_S, what)
            except AssertionError as exc:
                diagnosis = await _diagnosis(api, sink, stream, every_cid)
                raise AssertionError(f"{exc}\n{diagnosis}") from None

        await diagnosed(lambda: sink.accepted_count >= len(every_cid),
                        "every acknowledged message accepted by the sink")
        journal = await diagnosed(lambda: _all_delivered(api, every_cid),
                                  "every journal record delivered")
        accepted = {cid: payload for (_, cid), payload in sink.accepted.items()}
        disordered = patients_out_of_order(list(accepted))
        histories = await _histories(api, journal, disordered)
    finally:
        await api.close()
    assert set(accepted) == every_cid, "the sink accepted messages that were never acked"
    assert all(accepted[cid] == sent[cid] for cid in every_cid), "forwarded bytes differ"
    assert sink.conflicts == 0
    assert len(sink.received) == len(accepted) + sink.resends
    assert not disordered, (
        f"per-patient order broken for {len(disordered)} patients (first arrivals at the "
        f"sink, by event index): {dict(list(disordered.items())[:5])}; journal of the first "
        f"ones:\n{histories}")
    return {
        "acked_after_kill": sum(stream.acked.values()),
        "resent_after_crash_by_clients": len(stream.unanswered),
        "negative_acks": dict(stream.refused),
        "journal_rows": len(journal),
        "journal_rejected_rows": sum(1 for r in journal if r["status"] == "rejected"),
        "sink_received": len(sink.received),
        "sink_accepted": len(accepted),
        "sink_resends": sink.resends,
    }


async def _all_delivered(api: HubApi, every_cid: set[str]) -> list[dict[str, Any]] | None:
    """The journal once each message has exactly one accepted record, all delivered."""
    journal = await api.every_message()
    kept = Counter(r["control_id"] for r in journal if r["status"] != "rejected")
    duplicated = {cid: n for cid, n in kept.items() if n > 1}
    assert not duplicated, f"journaled more than once after resending: {duplicated}"
    assert set(kept) <= every_cid
    statuses = Counter(r["status"] for r in journal if r["status"] != "rejected")
    if set(kept) == every_cid and statuses == Counter({"delivered": len(every_cid)}):
        return journal
    return None


async def _diagnosis(api: HubApi, sink: MllpSink, stream: Stream, every_cid: set[str]) -> str:
    """Where the messages the sink did not get stand: journal, queues, a few histories."""
    journal = await api.every_message()
    undelivered = {r["control_id"] for r in journal if r["status"] != "delivered"}
    missing = sorted((every_cid - {cid for _, cid in sink.accepted}) | undelivered)
    ids = {r["control_id"]: r["id"] for r in journal if r["status"] != "rejected"}
    queues = (await api.client.get("/api/queues")).json()
    lines = [f"sink accepted {sink.accepted_count}; not at the sink or not delivered in the "
             f"journal: {len(missing)}: {missing[:10]}",
             f"journal statuses: {dict(Counter(r['status'] for r in journal))}",
             f"queues: {queues}"]
    for cid in missing[:3]:
        lines.append(f"  {cid}: AA {'after' if stream.acked.get(cid) else 'before'} the kill, "
                     f"{'resent' if cid in stream.unanswered else 'sent once'} by its client")
        if cid not in ids:
            lines.append(f"  {cid}: not in the journal")
            continue
        record = await api.message(ids[cid])
        lines += [f"  {cid} {e['at']} {e['stage']} {e['destination'] or ''} {e['detail'] or ''}"
                  for e in record["events"]]
        lines.append(f"  {cid} deliveries: {record['deliveries']}")
    return "\n".join(lines)


def patients_out_of_order(first_arrivals: list[str]) -> dict[str, list[int]]:
    """Patients whose control ids (``CRASH-<patient>-<k>``) did not first arrive in order of k."""
    by_patient: dict[str, list[int]] = {}
    for cid in first_arrivals:
        _, patient, k = cid.split("-")
        by_patient.setdefault(patient, []).append(int(k))
    return {p: ks for p, ks in by_patient.items() if ks != sorted(ks)}


async def _histories(api: HubApi, journal: list[dict[str, Any]],
                     disordered: dict[str, list[int]], patients: int = 2) -> str:
    """The journal events of the first disordered patients' messages, one line per event."""
    ids = {r["control_id"]: r["id"] for r in journal if r["status"] != "rejected"}
    lines = []
    for patient in list(disordered)[:patients]:
        for k in range(len(EVENTS)):
            cid = f"CRASH-{patient}-{k}"
            record = await api.message(ids[cid])
            lines += [f"  {cid} {e['at']} {e['stage']} {e['detail'] or ''}"[:200]
                      for e in record["events"]]
    return "\n".join(lines)


# -- a deterministic case: killed between the journal commit and the broker confirm ------------


async def test_resend_after_a_kill_between_journal_commit_and_broker_confirm_is_delivered(
    tmp_path: Path,
) -> None:
    """RabbitMQ reached through a TCP proxy that is paused while a message is taken in:
    the intake commits the journal row, then waits for RabbitMQ's confirm; the hub is
    killed in that window. The sender never got an ACK, so it resends the same bytes
    to the restarted hub. Whatever the hub answers, an AA must mean the message will be
    delivered (ARCHITECTURE rule 1: nothing acknowledged that is not durably queued)."""
    parts = urlsplit(RABBITMQ_URL)
    destination = "crash-sink"
    async with (rabbitmq_prefix(destination) as prefix,
                await TcpProxy.start(parts.hostname or "127.0.0.1", parts.port or 5672) as proxy,
                MllpSink() as sink):
        config = write_config(
            tmp_path, routes=ROUTES.format(destination=destination),
            destinations={destination: mllp_destination(sink.port)},
            broker_url=f"amqp://{parts.username}:{parts.password}@127.0.0.1:{proxy.port}/",
            broker_prefix=prefix,
        )
        hub = HubProcess(config)
        try:
            await asyncio.to_thread(hub.start)
            await _kill_while_publishing(hub, proxy, sink)
        except BaseException:
            print(f"hub log:\n{hub.log_tail(60)}")
            raise
        finally:
            await asyncio.to_thread(hub.stop)


async def _kill_while_publishing(hub: HubProcess, proxy: TcpProxy, sink: MllpSink) -> None:
    api = HubApi(hub)
    try:
        before, cid = "CRASH-WINDOW-0", "CRASH-WINDOW-1"
        client = MLLPClient("127.0.0.1", hub.mllp_port, response_timeout_s=30)
        assert read_reply(await client.send(adt("A01", before, "950000"))).code == "AA"
        await api.wait_status(before, "delivered")

        payload = adt("A01", cid, "950001")
        proxy.pause()
        in_flight = asyncio.create_task(client.send(payload))
        await await_until(lambda: api.by_control_id(cid), 10, "journal row of the message")
        assert not in_flight.done(), "the hub answered before RabbitMQ confirmed"
        await asyncio.to_thread(hub.kill)
        # Abort the dead hub's links first, so that the bytes held by the pause (its
        # publish) never reach RabbitMQ, then resume: TcpProxy.drop_connections waits for
        # its pumps, which wait for the resume.
        dropping = asyncio.create_task(proxy.drop_connections())
        await asyncio.sleep(0)
        proxy.resume()
        await dropping
        with pytest.raises(MLLPError):
            await in_flight
        await client.close()

        await asyncio.to_thread(hub.start)
        reply = read_reply(await client.send(payload))
        await client.close()
        assert (reply.code, reply.acked_control_id) == ("AA", cid), reply.raw
        try:
            await api.wait_status(cid, "delivered", timeout_s=20)
        except AssertionError:
            records = await api.by_control_id(cid)
            raise AssertionError(
                f"{cid} was acknowledged AA after the restart but is never delivered; "
                f"journal: {[(r['id'], r['status']) for r in records]}, "
                f"sink got it: {sink.accepted_payload(cid) is not None}") from None
        assert sink.accepted_payload(cid) == payload
    finally:
        await api.close()
