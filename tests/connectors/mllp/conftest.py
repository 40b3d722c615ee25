"""MLLP test fixtures: a recording handler, servers on port 0, raw connections, TLS files."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from connectors.mllp import tls
from connectors.mllp.framing import END, START, Frame, FrameDecoder, Reject
from connectors.mllp.server import MLLPServer, PeerInfo
from tests.support.certs import make_certificate


class RecordingHandler:
    """Answers ``ACK|<payload>``; a few payload prefixes trigger other behaviours.

    ``RAISE`` raises (the exception text quotes the payload), ``SILENT``
    answers nothing, ``SLOW`` waits for :attr:`release`, ``BIG`` answers
    :attr:`big_size` bytes. Rejections are recorded and answered ``AR|<kind>``.
    """

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.rejects: list[Reject] = []
        self.peers: list[PeerInfo] = []
        self.slow_started = asyncio.Event()
        self.release = asyncio.Event()
        self.big_size = 4096

    async def on_frame(self, payload: bytes, peer: PeerInfo) -> bytes | None:
        self.frames.append(payload)
        self.peers.append(peer)
        if payload.startswith(b"RAISE"):
            raise ValueError(f"cannot handle {payload!r}")
        if payload.startswith(b"SILENT"):
            return None
        if payload.startswith(b"SLOW"):
            self.slow_started.set()
            await self.release.wait()
        if payload.startswith(b"BIG"):
            return b"B" * self.big_size
        return b"ACK|" + payload

    async def on_reject(self, event: Reject, peer: PeerInfo) -> bytes | None:
        self.rejects.append(event)
        return b"AR|" + type(event).__name__.encode()

    def reject_kinds(self) -> list[str]:
        return [type(event).__name__ for event in self.rejects]


class RawConnection:
    """A plain asyncio connection for sending arbitrary bytes and reading frames back."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = FrameDecoder(64 * 1024 * 1024)
        self.pending: list[bytes] = []

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send_frames(self, *payloads: bytes) -> None:
        await self.send(b"".join(START + payload + END for payload in payloads))

    async def read_frames(self, count: int, timeout: float = 5.0) -> list[bytes]:
        """The next ``count`` response payloads; fewer when the server closes first."""
        async with asyncio.timeout(timeout):
            while len(self.pending) < count:
                data = await self.reader.read(65536)
                if not data:
                    break
                self.pending += [e.payload for e in self.decoder.feed(data) if isinstance(e, Frame)]
        taken, self.pending = self.pending[:count], self.pending[count:]
        return taken

    async def closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True when the server closes the connection (end of stream or reset) in time."""
        try:
            async with asyncio.timeout(timeout):
                while await self.reader.read(65536):
                    pass
        except ConnectionError:
            return True
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


StartServer = Callable[..., Awaitable[MLLPServer]]
OpenRaw = Callable[..., Awaitable[RawConnection]]


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
async def start_server(handler: RecordingHandler) -> AsyncIterator[StartServer]:
    """Factory: a started :class:`MLLPServer` on 127.0.0.1 port 0, closed after the test."""
    servers: list[MLLPServer] = []

    async def start(**kwargs: Any) -> MLLPServer:
        server = MLLPServer(kwargs.pop("handler", handler), **kwargs)
        await server.start()
        servers.append(server)
        return server

    yield start
    handler.release.set()
    for server in servers:
        await server.close(grace_s=2.0)


@pytest.fixture
async def open_raw() -> AsyncIterator[OpenRaw]:
    """Factory: a :class:`RawConnection` to a port, closed after the test."""
    connections: list[RawConnection] = []

    async def open_connection(port: int, **kwargs: Any) -> RawConnection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, **kwargs)
        connection = RawConnection(reader, writer)
        connections.append(connection)
        return connection

    yield open_connection
    for connection in connections:
        await connection.close()


@pytest.fixture(scope="session")
def cert_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost/127.0.0.1 made with the openssl command."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def server_tls(cert_files: tuple[Path, Path]) -> ssl.SSLContext:
    return tls.server_context(*cert_files)


@pytest.fixture(scope="session")
def client_tls(cert_files: tuple[Path, Path]) -> ssl.SSLContext:
    return tls.client_context(cafile=cert_files[0])
