"""The spine over real sockets: a third-party MLLP client -> hub subprocess -> MLLP sink.

One hub (``hub run`` in a subprocess) serves the module, with two ``mllp``
destinations, each an in-process :class:`~tests.support.sink.MllpSink` in its
own thread: ``main`` receives everything except the sending application
``GAM-FRAGILE``, which goes to ``fragile`` (the sink the tests take down).
Messages are sent with python-hl7's ``MLLPClient``; the journal is read
through the admin API.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.api import HubApi, stages
from tests.e2e.clients import ThirdPartyClient, msa_by_python_hl7, read_reply, send
from tests.e2e.messages import adt, with_control_id
from tests.support.hubproc import HubProcess, await_until, mllp_destination, write_config
from tests.support.sink import MllpSink, SinkThread

pytestmark = pytest.mark.timeout(120)

HUB_FIXTURES = Path(__file__).parents[1] / "data" / "hl7"
FRAGILE_APP = "GAM-FRAGILE"
FRAGILE_ATTEMPTS = 3
MAIN_TIMEOUT_S = 1.5
ROUTES = f"""\
routes:
  - name: fragile-sender
    when:
      fields:
        "MSH-3.1": {{equals: {FRAGILE_APP}}}
    action: deliver
    to: [fragile]
    final: true
  - name: everything-else
    when: {{}}
    action: deliver
    to: [main]
"""


@dataclass(frozen=True)
class Flow:
    """The module's hub and its two downstream sinks."""

    hub: HubProcess
    main: SinkThread
    fragile: SinkThread


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flow]:
    """A hub subprocess delivering to two sink threads; everything stopped afterwards."""
    directory = tmp_path_factory.mktemp("flow")
    with SinkThread(record_file=directory / "main-sink.hl7") as main, SinkThread() as fragile:
        config = write_config(directory, routes=ROUTES, destinations={
            "main": mllp_destination(main.port, max_attempts=4, initial_s=0.2, max_s=0.5,
                                     timeout_s=MAIN_TIMEOUT_S),
            "fragile": mllp_destination(fragile.port, max_attempts=FRAGILE_ATTEMPTS,
                                        initial_s=0.05, max_s=0.2),
        })
        with HubProcess(config) as hub:
            yield Flow(hub, main, fragile)


@pytest.fixture(scope="module")
def hub(flow: Flow) -> HubProcess:
    """The hub under test (used by the ``api`` fixture)."""
    return flow.hub


@pytest.fixture
def sink(flow: Flow) -> MllpSink:
    """The ``main`` destination's sink."""
    return flow.main.sink


def assert_ack(reply_raw: bytes, code: str, control_id: str) -> None:
    """The ACK has ``code`` and MSA-2 = the sent MSH-10, read by the hub's reader and python-hl7."""
    reply = read_reply(reply_raw)
    assert (reply.code, reply.acked_control_id) == (code, control_id), reply.raw
    assert msa_by_python_hl7(reply_raw, "latin-1") == (code, control_id)


# -- the plain path -------------------------------------------------------------------


async def test_adt_messages_are_acked_stored_and_delivered_byte_identical(
    flow: Flow, sink: MllpSink, api: HubApi
) -> None:
    sent = {
        "FLOW-PLAIN-A01": adt("A01", "FLOW-PLAIN-A01", "700001"),
        "FLOW-PLAIN-A08": adt("A08", "FLOW-PLAIN-A08", "700001", given="AMÉLIE"),
        "FLOW-PLAIN-A40": adt("A40", "FLOW-PLAIN-A40", "700001", merged_ipp="700009"),
    }
    with ThirdPartyClient("127.0.0.1", flow.hub.mllp_port) as client:
        replies = {cid: await asyncio.to_thread(client.send, payload)
                   for cid, payload in sent.items()}

    for cid, payload in sent.items():
        assert_ack(replies[cid], "AA", cid)
        record = await api.wait_status(cid, "delivered")
        assert read_reply(replies[cid]).control_id == record["id"], "ACK MSH-10 is the journal id"
        assert record["ack_code"] == "AA"
        assert [(d["destination"], d["status"], d["attempts"]) for d in record["deliveries"]] \
            == [("main", "delivered", 1)]
        # Routed in the intake transaction (embedded broker): no separate "parsed" stage.
        assert stages(record) == ["received", "routed", "delivered"]
        assert await api.raw(record["id"]) == payload, "stored bytes differ from the sent ones"
        assert sink.accepted_payload(cid) == payload, "delivered bytes differ from the sent ones"
        assert sink.received_count(cid) == 1


# -- per-patient order ------------------------------------------------------------------


class LockedClient:
    """A python-hl7 connection shared by several senders, one exchange at a time."""

    def __init__(self, port: int) -> None:
        self.client = ThirdPartyClient("127.0.0.1", port)
        self.lock = threading.Lock()

    def send(self, payload: bytes) -> bytes:
        with self.lock:
            return self.client.send(payload)


async def test_per_patient_order_is_kept_across_connections(
    flow: Flow, sink: MllpSink
) -> None:
    """A01, A08, A40 of each patient, each acked before the next is sent, on rotating
    connections while the other patients' messages interleave: same order at the sink.

    The A01 of every sixth patient is answered AE once by the destination: its retry
    holds the patient's lane, and the A08 sent meanwhile must not overtake it."""
    patients, events = 24, ("A01", "A08", "A40")
    slowed = range(0, patients, 6)
    for p in slowed:
        sink.script(f"FLOW-ORDER-{p:02d}-A01", "AE")
    connections = [LockedClient(flow.hub.mllp_port) for _ in range(4)]

    async def one_patient(p: int) -> None:
        for k, event in enumerate(events):
            cid = f"FLOW-ORDER-{p:02d}-{event}"
            payload = adt(event, cid, f"71{p:04d}", merged_ipp=f"79{p:04d}")
            raw = await asyncio.to_thread(connections[(p + k) % 4].send, payload)
            assert_ack(raw, "AA", cid)

    try:
        await asyncio.gather(*(one_patient(p) for p in range(patients)))
    finally:
        for connection in connections:
            connection.client.close()

    def order_at_sink() -> list[str] | None:
        arrived = [cid for _, cid in sink.accepted if cid.startswith("FLOW-ORDER-")]
        return arrived if len(arrived) == patients * len(events) else None

    arrived = await await_until(order_at_sink, 30, "every ordered message at the sink")
    for p in range(patients):
        mine = [cid.rsplit("-", 1)[1] for cid in arrived if cid.startswith(f"FLOW-ORDER-{p:02d}-")]
        assert mine == list(events), f"patient {p}: arrived in order {mine}"
    for p in slowed:
        assert sink.received_count(f"FLOW-ORDER-{p:02d}-A01") == 2, "the AE was not retried"


# -- duplicates -------------------------------------------------------------------------


async def test_a_resent_message_gets_the_same_ack_and_is_delivered_once(
    flow: Flow, sink: MllpSink, api: HubApi
) -> None:
    port = flow.hub.mllp_port
    cid = "FLOW-DUP-1"
    payload = adt("A01", cid, "720001")
    first = (await send(port, payload)).raw
    again = (await send(port, payload)).raw
    assert_ack(first, "AA", cid)
    assert again == first, "a duplicate must get the original ACK back, byte for byte"

    # A later message of the same patient: per-patient order means that a second
    # delivery of the duplicate, had it been queued, would arrive before this one.
    barrier = "FLOW-DUP-1-BARRIER"
    assert (await send(port, adt("A08", barrier, "720001"))).code == "AA"
    await api.wait_status(barrier, "delivered")
    await api.wait_status(cid, "delivered")
    assert sink.received_count(cid) == 1
    assert len(await api.by_control_id(cid)) == 1, "the duplicate was journaled again"


async def test_the_same_message_sent_at_once_on_several_connections_is_stored_once(
    flow: Flow, sink: MllpSink, api: HubApi
) -> None:
    """A sender retrying on new connections before the first answer came (its timeout
    was too short): every copy gets the same ACK, one journal record, one delivery."""
    port = flow.hub.mllp_port
    cid = "FLOW-DUP-CONCURRENT"
    payload = adt("A01", cid, "725001")
    replies = await asyncio.gather(*(send(port, payload) for _ in range(6)))
    assert {(r.code, r.acked_control_id) for r in replies} == {("AA", cid)}
    assert len({r.raw for r in replies}) == 1, "the copies got different ACKs"
    barrier = "FLOW-DUP-CONCURRENT-BARRIER"
    assert (await send(port, adt("A08", barrier, "725001"))).code == "AA"
    await api.wait_status(barrier, "delivered")
    await api.wait_status(cid, "delivered")
    assert len(await api.by_control_id(cid)) == 1
    assert sink.received_count(cid) == 1


async def test_same_control_id_with_other_content_is_answered_ae_naming_msh10(
    flow: Flow, sink: MllpSink, api: HubApi
) -> None:
    port = flow.hub.mllp_port
    cid = "FLOW-DUP-2"
    assert (await send(port, adt("A01", cid, "730001"))).code == "AA"
    await api.wait_status(cid, "delivered")

    reply = await send(port, adt("A01", cid, "730001", family="AUTRE"))
    assert (reply.code, reply.acked_control_id) == ("AE", cid), reply.raw
    assert (reply.err_segment, reply.err_field, reply.err_code) == ("MSH", "10", "205"), reply.raw
    records = await api.by_control_id(cid)
    assert sorted(r["status"] for r in records) == ["delivered", "rejected"]
    rejected = next(r for r in records if r["status"] == "rejected")
    assert rejected["id"] == reply.control_id and "MSH-10" in rejected["error"]
    assert sink.received_count(cid) == 1


# -- acknowledgment mode and charset ------------------------------------------------------


def _hub_fixture_a01(cid: str) -> bytes:
    """The hub's own PAM France A01 fixture (MSH-15 AL, MSH-16 NE) under a new MSH-10."""
    text = (HUB_FIXTURES / "pam_fr_adt_a01.er7").read_bytes().replace(b"\n", b"\r")
    return with_control_id(text, cid)


@pytest.mark.parametrize("build", [
    pytest.param(_hub_fixture_a01, id="hub-fixture-pam-a01"),
    pytest.param(lambda cid: adt("A08", cid, "740001", enhanced=True), id="e2e-a08"),
])
async def test_enhanced_mode_msh15_al_is_answered_ca(
    flow: Flow, sink: MllpSink, api: HubApi, build: Callable[[str], bytes],
    request: pytest.FixtureRequest,
) -> None:
    cid = f"FLOW-CA-{request.node.callspec.id}"
    payload = build(cid)
    raw = await asyncio.to_thread(_exchange, flow.hub.mllp_port, payload)
    assert_ack(raw, "CA", cid)
    await api.wait_status(cid, "delivered")
    assert sink.accepted_payload(cid) == payload


def _exchange(port: int, payload: bytes) -> bytes:
    with ThirdPartyClient("127.0.0.1", port) as client:
        return client.send(payload)


async def test_latin1_message_is_acked_and_delivered_byte_identical(
    flow: Flow, sink: MllpSink, api: HubApi
) -> None:
    cid = "FLOW-LATIN1"
    payload = adt("A01", cid, "750001", given="Amélie", charset="8859/1")
    assert b"Am\xe9lie" in payload and b"|8859/1|" in payload
    raw = await asyncio.to_thread(_exchange, flow.hub.mllp_port, payload)
    assert_ack(raw, "AA", cid)
    assert b"|8859/1" in raw, "the ACK should mirror MSH-18 (HL7 v2.5 2.14.9.18)"
    record = await api.wait_status(cid, "delivered")
    assert await api.raw(record["id"]) == payload
    assert sink.accepted_payload(cid) == payload


# -- retries, parking, redrive --------------------------------------------------------------


async def test_ae_from_the_destination_is_retried_then_delivered(
    flow: Flow, sink: MllpSink, api: HubApi
) -> None:
    cid = "FLOW-RETRY-AE"
    sink.script(cid, "AE", "AA")
    payload = adt("A01", cid, "760001")
    assert (await send(flow.hub.mllp_port, payload)).code == "AA"
    record = await api.wait_status(cid, "delivered")
    assert stages(record, "main")[-2:] == ["failed", "delivered"], record["events"]
    failed = next(e for e in record["events"] if e["stage"] == "failed")
    assert "AE" in failed["detail"], failed
    assert record["deliveries"][0]["attempts"] == 2
    assert sink.received_count(cid) == 2 and sink.accepted_payload(cid) == payload


async def test_a_silent_destination_times_out_then_the_message_is_delivered(
    flow: Flow, sink: MllpSink, api: HubApi
) -> None:
    cid = "FLOW-RETRY-SILENT"
    sink.script(cid, "silent", "AA")
    payload = adt("A01", cid, "765001")
    assert (await send(flow.hub.mllp_port, payload)).code == "AA"
    record = await api.wait_status(cid, "delivered", timeout_s=MAIN_TIMEOUT_S + 20)
    assert stages(record, "main")[-2:] == ["failed", "delivered"], record["events"]
    failed = next(e for e in record["events"] if e["stage"] == "failed")
    assert "Timeout" in failed["detail"], failed
    assert sink.received_count(cid) == 2 and sink.accepted_payload(cid) == payload


async def test_destination_down_parks_after_max_attempts_then_redrive_delivers(
    flow: Flow, api: HubApi
) -> None:
    fragile = flow.fragile
    cid = "FLOW-PARK-1"
    payload = adt("A01", cid, "770001", app=FRAGILE_APP)
    await asyncio.to_thread(fragile.stop)
    try:
        assert (await send(flow.hub.mllp_port, payload)).code == "AA"
        record = await api.wait_status(cid, "parked")
    finally:
        await asyncio.to_thread(fragile.start)
    events = stages(record, "fragile")
    assert events.count("failed") == FRAGILE_ATTEMPTS - 1 and events[-1] == "parked", events
    delivery = record["deliveries"][0]
    assert (delivery["status"], delivery["attempts"]) == ("parked", FRAGILE_ATTEMPTS)
    parked = await api.parked("fragile")
    key = f"{record['id']}:fragile"
    assert key in [p["key"] for p in parked], parked
    assert fragile.sink.received_count(cid) == 0

    assert await api.redrive("fragile") >= 1
    record = await api.wait_status(cid, "delivered")
    assert stages(record, "fragile")[-2:] == ["redriven", "delivered"], record["events"]
    assert fragile.sink.accepted_payload(cid) == payload
    assert key not in [p["key"] for p in await api.parked("fragile")]
