"""MLLP client: send a payload, wait for the one response frame.

Transport errors are this module's own (the delivery layer maps them to
transient or permanent delivery errors)::

    MLLPError
    ├── MLLPTimeout           no connection or no response in time (also a TimeoutError)
    ├── MLLPConnectError      the connection could not be opened (also a ConnectionError)
    └── MLLPConnectionClosed  reset or end of stream while waiting (also a ConnectionError)

After any error the connection is dropped, so that a late response can never
be taken for the answer to the next message; the next :meth:`MLLPClient.send`
reconnects.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import ssl as ssl_module
from collections.abc import Sequence
from types import TracebackType

from connectors.mllp.framing import (
    CHUNK_SIZE,
    END,
    START,
    Frame,
    FrameDecoder,
    Garbage,
    Oversize,
    Truncated,
)

logger = logging.getLogger(__name__)

_CLOSE_TIMEOUT_S = 5.0
# StreamReader buffer: keeps reading responses while a pipelined write drains.
_READ_LIMIT = 1024 * 1024


class MLLPError(Exception):
    """Root of the MLLP client's transport errors."""


class MLLPTimeout(MLLPError, asyncio.TimeoutError):
    """Connecting or waiting for a response took longer than allowed."""


class MLLPConnectError(MLLPError, ConnectionError):
    """The connection could not be opened (refused, unreachable, TLS handshake failed)."""


class MLLPConnectionClosed(MLLPError, ConnectionError):
    """The peer reset or closed the connection before answering."""


class MLLPClient:
    """An MLLP sender for one ``host:port``; safe to share between tasks (sends are serialised)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl: ssl_module.SSLContext | None = None,
        server_hostname: str | None = None,
        connect_timeout_s: float = 5.0,
        response_timeout_s: float = 30.0,
        max_response_bytes: int = 1_048_576,
    ) -> None:
        self.host = host
        self.port = port
        self.ssl = ssl
        self.server_hostname = server_hostname
        self.connect_timeout_s = connect_timeout_s
        self.response_timeout_s = response_timeout_s
        self.max_response_bytes = max_response_bytes
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._decoder = FrameDecoder(max_response_bytes)
        self._responses: collections.deque[bytes] = collections.deque()
        self._lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        """True when a connection is open and the peer has not closed it."""
        return (
            self._writer is not None
            and self._reader is not None
            and not self._writer.is_closing()
            and not self._reader.at_eof()
        )

    async def connect(self) -> None:
        """Open the connection (a no-op when already connected)."""
        async with self._lock:
            await self._connect()

    async def _connect(self) -> None:
        if self.connected:
            return
        await self._drop()
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                self._reader, self._writer = await asyncio.open_connection(
                    self.host,
                    self.port,
                    ssl=self.ssl,
                    server_hostname=self.server_hostname if self.ssl else None,
                    limit=_READ_LIMIT,
                )
        except TimeoutError as exc:
            raise MLLPTimeout(
                f"connecting to {self.host}:{self.port} took more than {self.connect_timeout_s} s"
            ) from exc
        except OSError as exc:
            raise MLLPConnectError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc

    async def close(self) -> None:
        """Close the connection; pending responses are forgotten."""
        async with self._lock:
            await self._drop()

    async def __aenter__(self) -> MLLPClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def send(self, payload: bytes) -> bytes:
        """Send one message and return the payload of the response frame."""
        return (await self.send_many([payload]))[0]

    async def send_many(self, payloads: Sequence[bytes], window: int = 1) -> list[bytes]:
        """Send ``payloads`` keeping up to ``window`` in flight; responses come back in order.

        ``window=1`` is HL7 original mode (wait for each answer). A larger
        window pipelines; the receiver must answer in order, as MLLP requires.
        """
        if window < 1:
            raise ValueError(f"window is {window}, expected at least 1")
        async with self._lock:
            await self._connect()
            try:
                return await self._exchange(payloads, window)
            except BaseException:
                await self._drop()
                raise

    async def _exchange(self, payloads: Sequence[bytes], window: int) -> list[bytes]:
        responses: list[bytes] = []
        sent = 0
        while len(responses) < len(payloads):
            try:
                async with asyncio.timeout(self.response_timeout_s):
                    while sent < len(payloads) and sent - len(responses) < window:
                        self._write(payloads[sent])
                        sent += 1
                    await self._drain()
                    responses.append(await self._next_response())
            except TimeoutError as exc:
                raise MLLPTimeout(
                    f"{self._where()}: no response within {self.response_timeout_s} s"
                ) from exc
        return responses

    def _write(self, payload: bytes) -> None:
        assert self._writer is not None
        self._writer.writelines((START, payload, END))

    async def _drain(self) -> None:
        assert self._writer is not None
        try:
            await self._writer.drain()
        except (ConnectionError, ssl_module.SSLError) as exc:
            raise MLLPConnectionClosed(f"{self._where()}: {type(exc).__name__}") from exc

    async def _next_response(self) -> bytes:
        """The next response frame's payload (the caller bounds the wait)."""
        while not self._responses:
            await self._read_more()
        return self._responses.popleft()

    async def _read_more(self) -> None:
        assert self._reader is not None
        try:
            data = await self._reader.read(CHUNK_SIZE)
        except (ConnectionError, ssl_module.SSLError) as exc:
            raise MLLPConnectionClosed(f"{self._where()}: {type(exc).__name__}") from exc
        events = self._decoder.feed(data) if data else self._decoder.eof()
        for event in events:
            self._accept(event)
        if not data:
            raise MLLPConnectionClosed(f"{self._where()}: connection closed before a response")

    def _accept(self, event: Frame | Oversize | Truncated | Garbage) -> None:
        if isinstance(event, Frame):
            self._responses.append(event.payload)
        elif isinstance(event, Oversize):
            raise MLLPError(
                f"{self._where()}: response of at least {event.size} bytes exceeds "
                f"max_response_bytes={self.max_response_bytes}"
            )
        else:
            logger.debug("%s: ignoring %s in responses", self._where(), type(event).__name__)

    async def _drop(self) -> None:
        """Forget the connection and its state; close the transport if there is one."""
        writer, self._reader, self._writer = self._writer, None, None
        self._decoder = FrameDecoder(self.max_response_bytes)
        self._responses.clear()
        if writer is None:
            return
        writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await writer.wait_closed()

    def _where(self) -> str:
        return f"MLLP {self.host}:{self.port}"
