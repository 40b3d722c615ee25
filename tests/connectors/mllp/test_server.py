"""The MLLP server on loopback sockets: our client, raw sockets and python-hl7's client."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

import hl7.client
import pytest

from connectors.mllp.client import MLLPClient, MLLPConnectionClosed
from connectors.mllp.framing import END, START, Garbage, Oversize, Truncated, frame
from connectors.mllp.server import MLLPServer

if TYPE_CHECKING:
    from conftest import OpenRaw, RecordingHandler, StartServer

MSG = b"MSH|^~\\&|DPI|CHU|HUB|GRADES|20240101120000||ADT^A01|1|P|2.5\rPID|1||42^^^CHU"


async def assert_serving(server: MLLPServer) -> None:
    """The listener still answers a fresh client."""
    async with MLLPClient("127.0.0.1", server.port) as client:
        assert await client.send(b"alive") == b"ACK|alive"


async def wait_for(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll ``condition`` until it is true."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_round_trip(start_server: StartServer, handler: RecordingHandler) -> None:
    server = await start_server(name="adt-in")
    assert server.port > 0
    async with MLLPClient("127.0.0.1", server.port) as client:
        assert await client.send(MSG) == b"ACK|" + MSG
        assert await client.send(b"") == b"ACK|"
    [peer, _] = handler.peers
    assert (peer.host, peer.tls, peer.listener) == ("127.0.0.1", False, "adt-in")
    assert peer.connection_id >= 1 and peer.port > 0


def test_port_before_start(handler: RecordingHandler) -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = MLLPServer(handler).port


async def test_many_concurrent_clients_in_order(start_server: StartServer) -> None:
    server = await start_server()

    async def one_client(number: int) -> list[bytes]:
        async with MLLPClient("127.0.0.1", server.port) as client:
            return [await client.send(b"c%d-m%d" % (number, i)) for i in range(20)]

    results = await asyncio.gather(*(one_client(n) for n in range(50)))
    for number, responses in enumerate(results):
        assert responses == [b"ACK|c%d-m%d" % (number, i) for i in range(20)]


async def test_pipelined_frames_in_one_write(start_server: StartServer, open_raw: OpenRaw) -> None:
    server = await start_server()
    connection = await open_raw(server.port)
    payloads = [b"p%d" % i for i in range(30)]
    await connection.send_frames(*payloads)
    assert await connection.read_frames(30) == [b"ACK|" + p for p in payloads]


async def test_oversize_frame_answered_and_connection_kept(
    start_server: StartServer, handler: RecordingHandler
) -> None:
    max_bytes = 1_048_576
    server = await start_server(max_message_bytes=max_bytes)
    async with MLLPClient("127.0.0.1", server.port) as client:
        assert await client.send(b"x" * 20_000_000) == b"AR|Oversize"
        assert await client.send(b"next") == b"ACK|next"
    [event] = handler.rejects
    assert isinstance(event, Oversize) and event.size > max_bytes
    assert len(event.prefix) == 64 * 1024
    assert 0 < server.peak_buffered <= max_bytes + 1024


async def test_garbage_reported_and_connection_kept(
    start_server: StartServer, handler: RecordingHandler, open_raw: OpenRaw
) -> None:
    server = await start_server()
    connection = await open_raw(server.port)
    await connection.send(b"hello?" + frame(b"after"))
    assert await connection.read_frames(1) == [b"ACK|after"]
    assert handler.rejects == [Garbage(b"hello?")]


def _random_bytes() -> bytes:
    return random.Random(20240101).randbytes(256 * 1024)


BAD_INPUTS = [
    pytest.param(_random_bytes(), id="random-bytes"),
    pytest.param(START + MSG[:20], id="truncated-frame"),
    pytest.param(START, id="start-block-only"),
    pytest.param(END * 3 + b"\x00\xff", id="end-blocks-and-junk"),
    pytest.param(frame(b"ok") + START + b"cut", id="frame-then-truncated"),
]


@pytest.mark.parametrize("data", BAD_INPUTS)
async def test_bad_input_does_not_kill_listener(
    start_server: StartServer, open_raw: OpenRaw, data: bytes
) -> None:
    server = await start_server()
    connection = await open_raw(server.port)
    await connection.send(data)
    connection.writer.write_eof()
    assert await connection.closed_by_peer()
    await assert_serving(server)


async def test_truncated_frame_reported(
    start_server: StartServer, handler: RecordingHandler, open_raw: OpenRaw
) -> None:
    server = await start_server()
    connection = await open_raw(server.port)
    await connection.send(START + b"MSH|cut")
    connection.writer.write_eof()
    assert await connection.closed_by_peer()
    await wait_for(lambda: handler.rejects)
    assert handler.rejects == [Truncated(b"MSH|cut", 7)]


async def test_connection_reset_does_not_kill_listener(
    start_server: StartServer, open_raw: OpenRaw
) -> None:
    server = await start_server()
    connection = await open_raw(server.port)
    await connection.send(START + b"half a message")
    sock = connection.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.writer.transport.abort()  # RST instead of FIN
    await wait_for(lambda: server.active_connections == 0)
    await assert_serving(server)


async def test_idle_connection_closed(
    start_server: StartServer, handler: RecordingHandler, open_raw: OpenRaw
) -> None:
    server = await start_server(idle_timeout_s=0.2)
    connection = await open_raw(server.port)
    await connection.send_frames(b"one")
    assert await connection.read_frames(1) == [b"ACK|one"]
    assert await connection.closed_by_peer(timeout=2.0)
    assert handler.rejects == []


async def test_trickling_partial_frame_still_times_out(
    start_server: StartServer, handler: RecordingHandler, open_raw: OpenRaw
) -> None:
    server = await start_server(idle_timeout_s=0.3)
    connection = await open_raw(server.port)
    await connection.send(START)

    async def trickle() -> None:
        for _ in range(40):
            await asyncio.sleep(0.05)
            await connection.send(b"x")

    trickling = asyncio.create_task(trickle())
    try:
        assert await connection.closed_by_peer(timeout=2.0)
    finally:
        trickling.cancel()
        await asyncio.gather(trickling, return_exceptions=True)
    assert handler.reject_kinds() == ["Truncated"]


async def test_max_connections(start_server: StartServer, open_raw: OpenRaw) -> None:
    server = await start_server(max_connections=2)
    first, second = await open_raw(server.port), await open_raw(server.port)
    for connection in (first, second):
        await connection.send_frames(b"hi")
        assert await connection.read_frames(1) == [b"ACK|hi"]
    extra = await open_raw(server.port)
    assert await extra.closed_by_peer()
    assert server.active_connections == 2
    await first.close()
    await wait_for(lambda: server.active_connections == 1)
    await assert_serving(server)


async def test_handler_exception_closes_only_that_connection(
    start_server: StartServer, open_raw: OpenRaw, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="connectors.mllp")
    server = await start_server()
    bystander = await open_raw(server.port)
    victim = await open_raw(server.port)
    await victim.send_frames(b"RAISE|PID|1||SECRET-PATIENT-NAME", b"never handled")
    assert await victim.closed_by_peer()
    await bystander.send_frames(b"still here")
    assert await bystander.read_frames(1) == [b"ACK|still here"]
    await assert_serving(server)
    assert "SECRET-PATIENT-NAME" not in caplog.text
    assert any(record.levelno == logging.ERROR for record in caplog.records)


async def test_tls_round_trip(
    start_server: StartServer,
    handler: RecordingHandler,
    server_tls: ssl.SSLContext,
    client_tls: ssl.SSLContext,
) -> None:
    server = await start_server(ssl=server_tls)
    async with MLLPClient("127.0.0.1", server.port, ssl=client_tls) as client:
        assert await client.send(MSG) == b"ACK|" + MSG
        assert await client.send_many([b"a", b"b"], window=2) == [b"ACK|a", b"ACK|b"]
    assert handler.peers[0].tls is True


async def test_python_hl7_client(start_server: StartServer) -> None:
    server = await start_server()

    def exchange() -> list[bytes]:
        with hl7.client.MLLPClient("127.0.0.1", server.port) as client:
            return [client.send_message(MSG), client.send_message(MSG.decode())]

    responses = await asyncio.to_thread(exchange)
    assert responses == [frame(b"ACK|" + MSG)] * 2


async def test_close_with_connections_open(
    start_server: StartServer, handler: RecordingHandler, open_raw: OpenRaw
) -> None:
    server = await start_server()
    idle = await open_raw(server.port)
    partial = await open_raw(server.port)
    busy = await open_raw(server.port)
    await partial.send(START + b"half")
    await busy.send_frames(b"SLOW|in progress", b"queued behind it")
    await handler.slow_started.wait()
    await wait_for(lambda: server.active_connections == 3)

    port = server.port
    closing = asyncio.create_task(server.close(grace_s=5.0))
    assert await idle.closed_by_peer() and await partial.closed_by_peer()
    assert not closing.done()
    handler.release.set()
    await asyncio.wait_for(closing, 5.0)
    assert await busy.read_frames(2) == [b"ACK|SLOW|in progress"]
    assert server.active_connections == 0
    assert handler.rejects == []
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_close_cancels_handlers_after_grace(
    start_server: StartServer, handler: RecordingHandler
) -> None:
    server = await start_server()
    client = MLLPClient("127.0.0.1", server.port, response_timeout_s=5.0)
    sending = asyncio.create_task(client.send(b"SLOW|never released"))
    await handler.slow_started.wait()
    async with asyncio.timeout(2.0):
        await server.close(grace_s=0.2)
    assert server.active_connections == 0
    with pytest.raises(MLLPConnectionClosed):
        await sending
    await client.close()
