"""MLLP listener: accepts connections, decodes frames, hands them to a handler in order.

The server knows bytes only. Per connection it reads chunks, feeds a
:class:`~connectors.mllp.framing.FrameDecoder` and calls the handler for each
event strictly one at a time (HL7 original acknowledgement mode: the answer
to a message is written before the next message is handled):

- a frame: ``on_frame``; its return value, if not None, is framed and sent;
- an oversize frame: ``on_reject``; its return value (an AR) is sent and the
  connection stays open (the rest of the frame is discarded);
- garbage outside frames: ``on_reject`` for the record, the connection stays open;
- end of stream inside a frame: ``on_reject(Truncated)``, then the connection closes.

A connection without a complete frame for ``idle_timeout_s`` is closed. A
handler exception closes that connection only; the listener survives any
input. Payload bytes never reach the logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import ssl as ssl_module
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from connectors.mllp.framing import (
    CHUNK_SIZE,
    END,
    START,
    Frame,
    FrameDecoder,
    FrameEvent,
    Oversize,
    Reject,
)
from connectors.mllp.tls import peer_certificate
from hub.auth.model import PeerCertificate

logger = logging.getLogger(__name__)

_CLOSE_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """Who sent a frame: remote address, transport, the listener it came through and,
    over mutual TLS, the client certificate the handshake verified (read once per
    connection)."""

    host: str
    port: int
    tls: bool
    connection_id: int
    listener: str
    certificate: PeerCertificate | None = None


class FrameHandler(Protocol):
    """What the server calls; the hub's MLLP intake implements it."""

    async def on_frame(self, payload: bytes, peer: PeerInfo) -> bytes | None:
        """Handle one message; return the response payload (unframed) or None to send nothing."""
        ...

    async def on_reject(self, event: Reject, peer: PeerInfo) -> bytes | None:
        """Record a framing problem; for :class:`Oversize` the returned payload is sent."""
        ...


class _HandlerFailed(Exception):
    """The handler raised: the connection is closed, the listener keeps running."""


class _Connection:
    """One accepted connection: its read loop and the dispatch of decoder events."""

    def __init__(
        self,
        server: MLLPServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: PeerInfo,
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.peer = peer
        self.decoder = FrameDecoder(server.max_message_bytes)
        self.busy = False
        self.stopping = False
        self._loop = asyncio.get_running_loop()
        self._deadline = self._loop.time() + server.idle_timeout_s

    async def run(self) -> None:
        """Serve until end of stream, idle timeout, handler failure or server shutdown."""
        try:
            await self._serve()
        except _HandlerFailed:
            pass
        except (ConnectionError, ssl_module.SSLError) as exc:
            logger.debug("connection %d: %s", self.peer.connection_id, type(exc).__name__)
        except TimeoutError:
            logger.info("connection %d: peer not reading its responses", self.peer.connection_id)
        except Exception:
            logger.exception("connection %d: unexpected error", self.peer.connection_id)
        finally:
            await self._close_transport()

    def stop(self) -> None:
        """Ask the connection to end: now if it is waiting for data, else after its handler."""
        self.stopping = True
        if not self.busy:
            self.writer.close()

    async def _serve(self) -> None:
        while not self.stopping:
            data = await self._read_chunk()
            if self.stopping:
                return
            if not data:
                await self._finish(idle=data is None)
                return
            for event in self.decoder.feed(data):
                await self._dispatch(event)
                if self.stopping:
                    return
            self.server.note_buffered(self.decoder.peak_buffered)

    async def _read_chunk(self) -> bytes | None:
        """Next chunk; b"" at end of stream, None when the idle deadline passed."""
        try:
            async with asyncio.timeout_at(self._deadline):
                return await self.reader.read(CHUNK_SIZE)
        except TimeoutError:
            return None

    async def _finish(self, *, idle: bool) -> None:
        """End of stream or idle timeout: report an unfinished frame or pending garbage."""
        if idle:
            logger.info(
                "connection %d idle for %.1f s without a complete frame, closing",
                self.peer.connection_id,
                self.server.idle_timeout_s,
            )
        for event in self.decoder.eof():
            await self._dispatch(event)

    async def _dispatch(self, event: FrameEvent) -> None:
        self.busy = True
        try:
            if isinstance(event, Frame):
                response = await self._on_frame(event.payload)
            else:
                response = await self._on_reject(event)
            if response is not None:
                await self._send(response)
        finally:
            self.busy = False

    async def _on_frame(self, payload: bytes) -> bytes | None:
        with self._guard(f"frame of {len(payload)} bytes"):
            response = await self.server.handler.on_frame(payload, self.peer)
        self._deadline = self._loop.time() + self.server.idle_timeout_s
        return response

    async def _on_reject(self, event: Reject) -> bytes | None:
        logger.debug("connection %d: %s", self.peer.connection_id, event.to_error())
        with self._guard(type(event).__name__):
            response = await self.server.handler.on_reject(event, self.peer)
        return response if isinstance(event, Oversize) else None

    @contextlib.contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        """Turn a handler exception into a logged connection close (no message content)."""
        try:
            yield
        except Exception as exc:
            logger.error(
                "connection %d (%s): handler raised %s on a %s, closing the connection",
                self.peer.connection_id,
                self.peer.listener,
                type(exc).__name__,
                what,
            )
            # The exception text may quote the message: DEBUG only, which is opt-in.
            logger.debug("handler failure on connection %d", self.peer.connection_id, exc_info=exc)
            raise _HandlerFailed from exc

    async def _send(self, payload: bytes) -> None:
        """Write one framed response; a peer that stops reading hits the idle timeout."""
        self.writer.writelines((START, payload, END))
        if not self.writer.transport.get_write_buffer_size():
            await self.writer.drain()  # all sent already: returns at once, no timer needed
            return
        async with asyncio.timeout(self.server.idle_timeout_s):
            await self.writer.drain()

    async def _close_transport(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await self.writer.wait_closed()


class MLLPServer:
    """An MLLP listener serving ``handler`` on ``host:port`` (``port=0``: any free port)."""

    def __init__(
        self,
        handler: FrameHandler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "mllp",
        max_message_bytes: int = 1_048_576,
        idle_timeout_s: float = 300.0,
        ssl: ssl_module.SSLContext | None = None,
        max_connections: int = 1024,
    ) -> None:
        self.handler = handler
        self.host = host
        self.name = name
        self.max_message_bytes = max_message_bytes
        self.idle_timeout_s = idle_timeout_s
        self.ssl = ssl
        self.max_connections = max_connections
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self._connections: dict[_Connection, asyncio.Task[None] | None] = {}
        self._ids = itertools.count(1)
        self._closing = False
        #: Largest number of bytes any connection's decoder held (memory bound check).
        self.peak_buffered = 0

    async def start(self) -> None:
        """Bind and start accepting connections."""
        self._closing = False
        self._server = await asyncio.start_server(
            self._accept, self.host, self._requested_port, ssl=self.ssl
        )
        tls = self.ssl is not None
        logger.info("MLLP listener %s on %s:%d (tls=%s)", self.name, self.host, self.port, tls)

    @property
    def port(self) -> int:
        """The bound port (the real one when started with ``port=0``)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError(f"MLLP listener {self.name} is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def active_connections(self) -> int:
        """Connections currently being served."""
        return len(self._connections)

    async def close(self, grace_s: float = 5.0) -> None:
        """Stop accepting, close idle connections, let handlers in progress finish.

        Handlers still running after ``grace_s`` seconds are cancelled.
        """
        self._closing = True
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.stop()
        tasks = [task for task in self._connections.values() if task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> MLLPServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._closing or len(self._connections) >= self.max_connections:
            await self._refuse(writer)
            return
        _set_nodelay(writer)
        connection = _Connection(self, reader, writer, self._peer_info(writer))
        self._connections[connection] = asyncio.current_task()
        try:
            await connection.run()
        finally:
            del self._connections[connection]

    async def _refuse(self, writer: asyncio.StreamWriter) -> None:
        logger.warning(
            "MLLP listener %s: refusing a connection (%s, limit %d)",
            self.name,
            "closing" if self._closing else "too many connections",
            self.max_connections,
        )
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    def _peer_info(self, writer: asyncio.StreamWriter) -> PeerInfo:
        peername = writer.get_extra_info("peername") or ("", 0)
        tls = writer.get_extra_info("ssl_object")
        return PeerInfo(
            host=str(peername[0]),
            port=int(peername[1]),
            tls=tls is not None,
            connection_id=next(self._ids),
            listener=self.name,
            certificate=peer_certificate(tls),
        )

    def note_buffered(self, size: int) -> None:
        """Record a decoder's high-water mark in :attr:`peak_buffered`."""
        if size > self.peak_buffered:
            self.peak_buffered = size


def _set_nodelay(writer: asyncio.StreamWriter) -> None:
    """Disable Nagle: small request/response exchanges otherwise wait for delayed ACKs."""
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
