"""Hostile and odd input against one running hub (``hub run`` subprocess).

ARCHITECTURE rules 1 and 3: bad input gets a clear answer (AE/AR with an ERR
naming the field), is journaled as rejected, and never takes the listener
down. After every case a fresh, well-behaved python-hl7 client must still get
AA (autouse fixture :func:`still_serving`).
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.api import HubApi
from tests.e2e.clients import RawConnection, Reply, read_reply, send
from tests.e2e.messages import adt, data_file, with_control_id
from tests.support.hubproc import HubProcess, await_until, mllp_destination, write_config
from tests.support.sink import MllpSink, SinkThread

pytestmark = pytest.mark.timeout(120)

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
ROUTES = """\
routes:
  - name: everything
    when: {}
    action: deliver
    to: [sink]
"""
_ids = itertools.count(1)


def next_id(prefix: str = "HOST") -> str:
    """A control id unique in this module."""
    return f"{prefix}-{next(_ids):04d}"


@pytest.fixture(scope="module")
def sink_thread(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SinkThread]:
    """The downstream sink, in its own thread."""
    with SinkThread() as sink:
        yield sink


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, sink_thread: SinkThread) -> Iterator[HubProcess]:
    """One hub for every hostile case (max_message_bytes 16 MiB)."""
    directory: Path = tmp_path_factory.mktemp("hostile")
    config = write_config(
        directory, routes=ROUTES,
        destinations={"sink": mllp_destination(sink_thread.port)},
        mllp={"max_message_bytes": MAX_MESSAGE_BYTES, "idle_timeout_s": 120},
    )
    with HubProcess(config) as process:
        yield process


@pytest.fixture
def sink(sink_thread: SinkThread) -> MllpSink:
    """The sink's recorded state."""
    return sink_thread.sink


@pytest.fixture(autouse=True)
async def still_serving(hub: HubProcess) -> AsyncIterator[None]:
    """After each case the hub lives and a normal client gets AA on a new connection."""
    yield
    assert hub.running, f"the hub died:\n{hub.log_tail()}"
    cid = next_id("HOST-AFTER")
    reply = await send(hub.mllp_port, adt("A01", cid, "800000"))
    assert (reply.code, reply.acked_control_id) == ("AA", cid), reply.raw


async def assert_rejected_in_journal(api: HubApi, reply: Reply) -> dict[str, object]:
    """The ACK's MSH-10 is the journal id of the refused input, whose status is rejected."""
    record = await api.message(reply.control_id)
    assert record["status"] == "rejected", record
    assert record["ack_code"] == reply.code
    assert record["error"], record
    return record


def junk(seed: int, size: int, excluded: bytes) -> bytes:
    """``size`` seeded random bytes, without the bytes of ``excluded``."""
    rng = random.Random(seed)
    data = bytes(b for b in rng.randbytes(size * 2) if b not in excluded)
    return data[:size]


async def exchange(port: int, *steps: bytes, reply: bool = True) -> bytes:
    """On one raw connection: send ``steps`` unframed, then read one reply frame."""

    def run() -> bytes:
        with RawConnection(port) as connection:
            for step in steps:
                connection.send_raw(step)
            return connection.read_reply() if reply else b""

    return await asyncio.to_thread(run)


def framed(payload: bytes) -> bytes:
    return b"\x0b" + payload + b"\x1c\x0d"


# -- framing ----------------------------------------------------------------------------


async def test_random_bytes_outside_a_frame_get_no_answer_and_the_connection_goes_on(
    hub: HubProcess,
) -> None:
    """Unframed bytes are ignored: the first reply on the connection is the ACK of the
    valid message sent right after them."""
    cid = next_id()
    noise = junk(seed=20250114, size=8192, excluded=b"\x0b")
    raw = await exchange(hub.mllp_port, noise, framed(adt("A01", cid, "800001")))
    reply = read_reply(raw)
    assert (reply.code, reply.acked_control_id) == ("AA", cid), raw


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_bytes_inside_a_frame_are_refused_and_journaled(
    hub: HubProcess, api: HubApi, seed: int
) -> None:
    noise = junk(seed=seed, size=2048, excluded=b"\x0b\x1c")
    reply = read_reply(await exchange(hub.mllp_port, framed(noise)))
    assert reply.code in ("AR", "AE"), reply.raw
    assert reply.err_code and reply.err_segment, f"no ERR naming the problem: {reply.raw!r}"
    await assert_rejected_in_journal(api, reply)


async def test_truncated_frame_then_close(hub: HubProcess, api: HubApi) -> None:
    """Start block and half a message, then the sender hangs up: nothing to answer,
    the listener survives (checked by ``still_serving``) and the partial frame is
    journaled as rejected with the reason."""
    cid = next_id()
    message = adt("A01", cid, "800002")
    await exchange(hub.mllp_port, b"\x0b" + message[: len(message) // 2], reply=False)

    async def journaled() -> list[dict[str, Any]]:
        return await api.by_control_id(cid)

    records = await await_until(journaled, timeout_s=10, what="the truncated frame journaled")
    assert [r["status"] for r in records] == ["rejected"]
    assert "closed inside a frame" in (records[0]["error"] or "")


async def test_oversize_frame_is_answered_ar_207_and_the_connection_stays_usable(
    hub: HubProcess, api: HubApi
) -> None:
    """A 20 MB frame to a hub configured for 16 MiB: AR with ERR-3 207 and MSA-2 read from
    the head of the frame; the product keeps the connection open (the rest of the frame
    is discarded), so a normal message on the same connection gets AA."""
    cid, after = next_id("HOST-BIG"), next_id()
    head = adt("A01", cid, "800003")
    big = head + b"OBX|1|ED|11502-2^CR^LN||^TEXT^XML^Base64^" + b"QUFB" * (5 * 1024 * 1024) + b"\r"
    assert len(big) > 20_000_000

    def run() -> tuple[bytes, bytes]:
        with RawConnection(hub.mllp_port, timeout_s=60) as connection:
            connection.send_raw(framed(big))
            refused = connection.read_reply()
            return refused, connection.exchange(adt("A01", after, "800004"))

    refused_raw, next_raw = await asyncio.to_thread(run)
    refused = read_reply(refused_raw)
    assert (refused.code, refused.acked_control_id, refused.err_code) == ("AR", cid, "207"), \
        refused_raw
    following = read_reply(next_raw)
    assert (following.code, following.acked_control_id) == ("AA", after), next_raw
    record = await assert_rejected_in_journal(api, refused)
    assert record["control_id"] == cid


# -- the MSH header -------------------------------------------------------------------------


async def test_frame_without_msh_is_answered_ar_naming_msh(hub: HubProcess, api: HubApi) -> None:
    payload = b"EVN||20250114093000\rPID|1||800005^^^CH-E2E^PI||SANS^ENTETE\r"
    reply = read_reply(await exchange(hub.mllp_port, framed(payload)))
    assert reply.code == "AR", reply.raw
    assert reply.err_segment == "MSH", reply.raw
    await assert_rejected_in_journal(api, reply)


@pytest.mark.parametrize(("msh9", "code"), [
    pytest.param("ADT^A0X1", "201", id="trigger-A0X1"),
    pytest.param("", "101", id="empty"),
    pytest.param("ADT", "101", id="no-trigger"),
])
async def test_invalid_msh9_is_refused_naming_msh9(
    hub: HubProcess, api: HubApi, msh9: str, code: str
) -> None:
    cid = next_id()
    payload = adt("A01", cid, "800006").replace(b"ADT^A01^ADT_A01", msh9.encode())
    reply = read_reply(await exchange(hub.mllp_port, framed(payload)))
    assert reply.code in ("AR", "AE") and reply.acked_control_id == cid, reply.raw
    assert (reply.err_segment, reply.err_field, reply.err_code) == ("MSH", "9", code), reply.raw
    assert "MSH-9" in reply.text
    await assert_rejected_in_journal(api, reply)


async def test_msh18_utf8_with_latin1_bytes_is_refused_naming_msh18(
    hub: HubProcess, api: HubApi
) -> None:
    cid = next_id()
    payload = adt("A01", cid, "800007", given="Amélie", charset="8859/1").replace(
        b"|8859/1|", b"|UNICODE UTF-8|")
    assert b"Am\xe9lie" in payload
    reply = read_reply(await exchange(hub.mllp_port, framed(payload)))
    assert reply.code in ("AE", "AR") and reply.acked_control_id == cid, reply.raw
    assert (reply.err_segment, reply.err_field) == ("MSH", "18"), reply.raw
    await assert_rejected_in_journal(api, reply)


async def test_unknown_msh18_value_is_refused_naming_msh18(hub: HubProcess, api: HubApi) -> None:
    cid = next_id()
    payload = adt("A01", cid, "800008").replace(b"|UNICODE UTF-8|", b"|KLINGON-8|")
    reply = read_reply(await exchange(hub.mllp_port, framed(payload)))
    assert reply.code in ("AE", "AR") and reply.acked_control_id == cid, reply.raw
    assert (reply.err_segment, reply.err_field, reply.err_code) == ("MSH", "18", "103"), reply.raw
    assert "KLINGON-8" in reply.text
    await assert_rejected_in_journal(api, reply)


@pytest.mark.parametrize("spoil", [
    pytest.param(lambda p: p.replace(b"ADT^A01^ADT_A01", b"ADT^A0X1"), id="msh9"),
    pytest.param(lambda p: p.replace(b"|UNICODE UTF-8|", b"|KLINGON-8|"), id="msh18-unknown"),
    pytest.param(lambda p: p.replace(b"LEF\xc3\x88VRE", b"LEF\xc8VRE"), id="msh18-mismatch"),
])
async def test_refused_messages_can_be_found_by_their_msh10(
    hub: HubProcess, api: HubApi, spoil: Callable[[bytes], bytes]
) -> None:
    """ARCHITECTURE rule 2: every message can be found. When MSH-10 is readable (the hub
    quotes it in MSA-2), the rejected record must carry it, so that ``GET /api/messages?
    control_id=`` finds what the sender reports as refused."""
    cid = next_id("HOST-FIND")
    payload = spoil(adt("A01", cid, "800010"))
    reply = read_reply(await exchange(hub.mllp_port, framed(payload)))
    assert reply.code in ("AE", "AR") and reply.acked_control_id == cid, reply.raw
    record = await assert_rejected_in_journal(api, reply)
    found = [r["id"] for r in await api.by_control_id(cid)]
    assert found == [reply.control_id], (
        f"the rejected record has control_id {record['control_id']!r} and sender "
        f"{record['sender']!r}; searching for MSH-10 {cid!r} finds {found}")


async def test_a_frame_with_two_messages_is_refused_whole_naming_the_second_msh(
    hub: HubProcess, api: HubApi, sink: MllpSink
) -> None:
    """MLLP carries one message per block: a frame holding two is answered AR (ERR-2
    MSH^2, code 100 segment sequence error), journaled rejected with both messages'
    bytes, and neither message is delivered; the connection stays usable."""
    first, second = next_id("HOST-TWO"), next_id("HOST-TWO")
    frame = adt("A01", first, "800020") + adt("A08", second, "800020")

    def run() -> tuple[bytes, bytes]:
        with RawConnection(hub.mllp_port) as connection:
            refused = connection.exchange(frame)
            after = connection.exchange(adt("A01", next_id("HOST-TWO-AFTER"), "800021"))
            return refused, after

    refused_raw, after_raw = await asyncio.to_thread(run)
    reply = read_reply(refused_raw)
    assert (reply.code, reply.acked_control_id) == ("AR", first), reply.raw
    assert (reply.err_segment, reply.err_code) == ("MSH", "100"), reply.raw
    assert b"\rERR||MSH^2|100^" in refused_raw, reply.raw
    assert second in reply.text and "second MSH" in reply.text
    assert read_reply(after_raw).code == "AA", "the connection must stay usable"
    record = await assert_rejected_in_journal(api, reply)
    assert await api.raw(str(record["id"])) == frame, "the whole frame is kept"
    assert await api.by_control_id(second) == [], "the second message was taken apart"
    await asyncio.sleep(0.5)
    assert sink.received_count(first) == 0 and sink.received_count(second) == 0


async def test_err8_quotes_a_value_with_backslashes_once(hub: HubProcess, api: HubApi) -> None:
    """An error text that quotes a value holding a backslash is HL7-escaped once
    (``\\E\\``), not doubled first by a Python repr."""
    cid = next_id()
    payload = adt("A01", cid, "800022").replace(b"ADT^A01^ADT_A01", b"ADT^A\\01")
    reply_raw = await exchange(hub.mllp_port, framed(payload))
    reply = read_reply(reply_raw)
    assert (reply.err_segment, reply.err_field) == ("MSH", "9"), reply.raw
    assert "'ADT^A\\01'" in reply.text, reply.text
    assert "\\\\" not in reply.text, reply.text
    await assert_rejected_in_journal(api, reply)


# -- tolerated variants ----------------------------------------------------------------------


@pytest.mark.parametrize(("line_end", "tail"), [
    pytest.param("\n", "", id="lf"),
    pytest.param("\r\n", "", id="crlf"),
    pytest.param("\r", "\r\r\r", id="empty-trailing-segments"),
    pytest.param("\r\n", "\r\n \r\n", id="blank-trailing-segments-crlf"),
])
async def test_segment_endings_are_accepted(
    hub: HubProcess, api: HubApi, sink: MllpSink, line_end: str, tail: str
) -> None:
    cid = next_id("HOST-EOL")
    payload = adt("A08", cid, "800009", line_end=line_end) + tail.encode()
    reply = read_reply(await exchange(hub.mllp_port, framed(payload)))
    assert (reply.code, reply.acked_control_id) == ("AA", cid), reply.raw
    await api.wait_status(cid, "delivered")
    assert sink.accepted_payload(cid) == payload


async def test_non_ascii_tilde_u02dc_in_msh2_is_accepted(
    hub: HubProcess, api: HubApi, sink: MllpSink
) -> None:
    """The published CI-SIS ORU samples declare MSH-2 ``^˜\\&`` with U+02DC."""
    cid = next_id("HOST-TILDE")
    payload = with_control_id(data_file("cisis_oru_r01_tilde.er7"), cid)
    assert payload.startswith("MSH|^˜\\&|".encode())
    reply = read_reply(await exchange(hub.mllp_port, framed(payload)))
    assert (reply.code, reply.acked_control_id) == ("AA", cid), reply.raw
    assert reply.raw.startswith("MSH|^˜\\&|".encode()), "the ACK keeps the sender's delimiters"
    await api.wait_status(cid, "delivered")
    assert sink.accepted_payload(cid) == payload


# -- connections ------------------------------------------------------------------------------


async def test_200_idle_connections_do_not_stop_a_working_client(hub: HubProcess) -> None:
    idle = [await asyncio.open_connection("127.0.0.1", hub.mllp_port) for _ in range(200)]
    try:
        for n in range(20):
            cid = next_id("HOST-BUSY")
            reply = await asyncio.wait_for(send(hub.mllp_port, adt("A01", cid, f"81{n:04d}")), 10)
            assert (reply.code, reply.acked_control_id) == ("AA", cid), reply.raw
        assert not any(reader.at_eof() for reader, _ in idle), "the hub closed idle connections"

        reader, writer = idle[0]
        cid = next_id("HOST-IDLE")
        writer.write(framed(adt("A01", cid, "820000")))
        raw = await asyncio.wait_for(reader.readuntil(b"\x1c\x0d"), 10)
        reply = read_reply(raw[1:-2])
        assert (reply.code, reply.acked_control_id) == ("AA", cid), raw
    finally:
        for _, writer in idle:
            writer.close()
        await asyncio.gather(*(w.wait_closed() for _, w in idle), return_exceptions=True)
    await await_until(lambda: hub.running, 1, "hub alive")
