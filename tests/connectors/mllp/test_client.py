"""The MLLP client against our server on loopback, and against misbehaving peers."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from connectors.mllp import tls
from connectors.mllp.client import (
    MLLPClient,
    MLLPConnectError,
    MLLPConnectionClosed,
    MLLPError,
    MLLPTimeout,
)
from connectors.mllp.framing import frame

if TYPE_CHECKING:
    from conftest import RecordingHandler, StartServer


async def test_send_and_context_manager(start_server: StartServer) -> None:
    server = await start_server()
    async with MLLPClient("127.0.0.1", server.port) as client:
        assert client.connected
        assert await client.send(b"one") == b"ACK|one"
    assert not client.connected


async def test_connects_lazily(start_server: StartServer) -> None:
    server = await start_server()
    client = MLLPClient("127.0.0.1", server.port)
    try:
        assert await client.send(b"lazy") == b"ACK|lazy"
    finally:
        await client.close()


@pytest.mark.parametrize("window", [1, 4, 64])
async def test_send_many_keeps_order(
    start_server: StartServer, handler: RecordingHandler, window: int
) -> None:
    server = await start_server()
    payloads = [b"m%03d" % i for i in range(100)]
    async with MLLPClient("127.0.0.1", server.port) as client:
        assert await client.send_many(payloads, window=window) == [b"ACK|" + p for p in payloads]
    assert handler.frames == payloads


async def test_concurrent_sends_on_one_client_are_serialised(start_server: StartServer) -> None:
    server = await start_server()
    async with MLLPClient("127.0.0.1", server.port) as client:
        payloads = [b"t%d" % i for i in range(40)]
        responses = await asyncio.gather(*(client.send(p) for p in payloads))
    assert responses == [b"ACK|" + p for p in payloads]


async def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window"):
        await MLLPClient("127.0.0.1", 1).send_many([b"x"], window=0)


async def test_response_timeout_then_recovers(start_server: StartServer) -> None:
    server = await start_server()
    async with MLLPClient("127.0.0.1", server.port, response_timeout_s=0.2) as client:
        with pytest.raises(MLLPTimeout) as caught:
            await client.send(b"SILENT")
        assert isinstance(caught.value, asyncio.TimeoutError)
        assert not client.connected
        assert await client.send(b"after") == b"ACK|after"


async def test_server_closing_raises_connection_closed(start_server: StartServer) -> None:
    server = await start_server()
    async with MLLPClient("127.0.0.1", server.port) as client:
        with pytest.raises(MLLPConnectionClosed) as caught:
            await client.send(b"RAISE")
        assert isinstance(caught.value, ConnectionError)
        assert await client.send(b"after") == b"ACK|after"


async def test_reconnects_after_idle_close(start_server: StartServer) -> None:
    server = await start_server(idle_timeout_s=0.3)
    async with MLLPClient("127.0.0.1", server.port) as client:
        assert await client.send(b"first") == b"ACK|first"
        async with asyncio.timeout(2.0):
            while server.active_connections:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)
        assert await client.send(b"second") == b"ACK|second"


async def test_connection_refused() -> None:
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    with pytest.raises(MLLPConnectError) as caught:
        await MLLPClient("127.0.0.1", port, connect_timeout_s=2.0).connect()
    assert isinstance(caught.value, ConnectionError)


async def test_oversize_response(start_server: StartServer, handler: RecordingHandler) -> None:
    server = await start_server()
    handler.big_size = 5000
    async with MLLPClient("127.0.0.1", server.port, max_response_bytes=1000) as client:
        with pytest.raises(MLLPError, match="max_response_bytes"):
            await client.send(b"BIG")
        assert await client.send(b"small") == b"ACK|small"


async def test_unanswered_peer_closing_mid_response() -> None:
    async def half_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(frame(b"ACK")[:-1])
        writer.close()

    listener = await asyncio.start_server(half_answer, "127.0.0.1", 0)
    try:
        async with MLLPClient("127.0.0.1", listener.sockets[0].getsockname()[1]) as client:
            with pytest.raises(MLLPConnectionClosed):
                await client.send(b"hello")
    finally:
        listener.close()
        await listener.wait_closed()


async def test_tls_untrusted_certificate_refused(
    start_server: StartServer, server_tls: ssl.SSLContext
) -> None:
    server = await start_server(ssl=server_tls)
    client = MLLPClient("127.0.0.1", server.port, ssl=tls.client_context())
    with pytest.raises(MLLPConnectError):
        await client.connect()


async def test_tls_server_hostname(
    start_server: StartServer, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    server = await start_server(ssl=server_tls)
    async with MLLPClient(
        "127.0.0.1", server.port, ssl=client_tls, server_hostname="localhost"
    ) as client:
        assert await client.send(b"named") == b"ACK|named"


async def test_mutual_tls(start_server: StartServer, cert_files: tuple[Path, Path]) -> None:
    cert, key = cert_files
    server_context = tls.server_context(cert, key, cafile=cert, require_client_cert=True)
    server = await start_server(ssl=server_context)
    with_cert = tls.client_context(cafile=cert, certfile=cert, keyfile=key)
    async with MLLPClient("127.0.0.1", server.port, ssl=with_cert) as client:
        assert await client.send(b"mutual") == b"ACK|mutual"
    without_cert = MLLPClient("127.0.0.1", server.port, ssl=tls.client_context(cafile=cert))
    with pytest.raises(MLLPError):
        await without_cert.send(b"anonymous")
    await without_cert.close()


def test_server_context_needs_ca_for_client_certs(cert_files: tuple[Path, Path]) -> None:
    with pytest.raises(ValueError, match="cafile"):
        tls.server_context(*cert_files, require_client_cert=True)
