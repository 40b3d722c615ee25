"""A small asyncio TCP proxy for fault injection in tests.

Listen on a local port (0: any free one) and forward every connection to a
target; then break things on demand::

    proxy = await TcpProxy.start("127.0.0.1", 5672)
    url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/"
    ...
    await proxy.drop_connections()   # abort every open connection (both sides)
    proxy.pause()                    # stall traffic: bytes are held, nothing is closed
    proxy.resume()                   # release the held bytes
    await proxy.close()              # stop listening and drop everything

``pause`` mimics a network partition (no RST, no FIN): peers see silence
until heartbeats or timeouts fire. New connections are accepted while
paused, but nothing flows until ``resume``.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

_CHUNK = 65536


class _Link:
    """One proxied connection: the client side, the target side and two pumps."""

    def __init__(self, client: asyncio.StreamWriter, target: asyncio.StreamWriter) -> None:
        self.writers = (client, target)
        self.tasks: list[asyncio.Task[None]] = []

    def abort(self) -> None:
        for writer in self.writers:
            writer.transport.abort()


class TcpProxy:
    """Forward TCP connections from ``host:port`` to ``target_host:target_port``."""

    def __init__(self, target_host: str, target_port: int, *, host: str = "127.0.0.1") -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.host = host
        self.port = 0
        self.connections_accepted = 0
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    @classmethod
    async def start(
        cls, target_host: str, target_port: int, *, host: str = "127.0.0.1"
    ) -> TcpProxy:
        """A proxy listening on a free port of ``host``."""
        proxy = cls(target_host, target_port, host=host)
        proxy._server = await asyncio.start_server(proxy._accept, host, 0)
        proxy.port = proxy._server.sockets[0].getsockname()[1]
        return proxy

    @property
    def open_connections(self) -> int:
        """How many proxied connections are currently open."""
        return len(self._links)

    async def drop_connections(self) -> int:
        """Abort every open connection on both sides; returns how many were dropped."""
        links, self._links = self._links, set()
        for link in links:
            link.abort()
        for link in links:
            await asyncio.gather(*link.tasks, return_exceptions=True)
        return len(links)

    def pause(self) -> None:
        """Hold every byte in both directions until :meth:`resume`."""
        self._flowing.clear()

    def resume(self) -> None:
        """Let traffic flow again."""
        self._flowing.set()

    async def close(self) -> None:
        """Stop listening and drop every connection."""
        self._flowing.set()
        if self._server is not None:
            self._server.close()
        await self.drop_connections()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> TcpProxy:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections_accepted += 1
        try:
            target_reader, target_writer = await asyncio.open_connection(
                self.target_host, self.target_port
            )
        except OSError:
            writer.transport.abort()
            return
        link = _Link(writer, target_writer)
        link.tasks = [
            asyncio.create_task(self._pump(reader, target_writer, link)),
            asyncio.create_task(self._pump(target_reader, writer, link)),
        ]
        self._links.add(link)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link
    ) -> None:
        """Copy bytes one way until either side closes, then close the link."""
        try:
            while chunk := await reader.read(_CHUNK):
                await self._flowing.wait()
                writer.write(chunk)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._links.discard(link)
            for other in link.writers:
                with contextlib.suppress(OSError, RuntimeError):
                    other.close()
