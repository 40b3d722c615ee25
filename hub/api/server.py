"""The HTTP server: uvicorn serving :func:`hub.api.app.create_app` in the hub's loop.

The socket is bound here, before uvicorn starts, so that a busy port is a
:class:`~hub.errors.ConfigError` naming ``http.port`` rather than uvicorn's
``sys.exit``. Signals belong to the hub process (``hub run``), so uvicorn's
own signal capture is turned off.

With ``http.tls`` the server speaks HTTPS (TLS 1.2 or later); with its
``cafile`` clients may present a certificate, which :mod:`hub.api.tls`
hands to the application (mutual TLS).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Generator
from typing import Any

import uvicorn

from hub.api.app import create_app
from hub.api.tls import TlsH11Protocol, server_context
from hub.app import Hub
from hub.errors import ConfigError

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 10.0
SHUTDOWN_TIMEOUT_S = 5.0
BACKLOG = 1024


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Install nothing: ``hub run`` owns SIGINT and SIGTERM."""
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening, non-blocking TCP socket on ``host:port`` (port 0 picks a free one)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _, _, _, address = infos[0]
        sock = socket.create_server(address[:2], family=family, backlog=BACKLOG)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc}", key="http.port") from exc
    sock.setblocking(False)
    return sock


class HttpServer:
    """Serves the admin API, health and metrics of one hub."""

    def __init__(self, hub: Hub, host: str, port: int) -> None:
        self.hub = hub
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._app: Any = None

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("the HTTP server is not started")
        return self._port

    async def start(self) -> None:
        """Bind, start serving, and return once uvicorn accepts connections."""
        sock = bind(self.host, self._requested_port)
        self._port = sock.getsockname()[1]
        self._app = create_app(self.hub)
        config = uvicorn.Config(
            self._app, host=self.host, port=self._port, log_level="warning",
            log_config=None, access_log=False, lifespan="off",
            timeout_graceful_shutdown=int(SHUTDOWN_TIMEOUT_S), **self._tls_options(),
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="http")
        try:
            await self._wait_started()
        except BaseException:
            await self.close()
            raise
        log.info("http listening on %s:%s", self.host, self._port)

    def _tls_options(self) -> dict[str, Any]:
        """uvicorn options: HTTPS with the client certificate passed on, when ``http.tls``."""
        tls = self.hub.settings.http.tls
        if tls is None:
            return {}
        context = server_context(tls)

        def factory(_config: Any, _default: Any) -> ssl.SSLContext:
            return context

        return {"http": TlsH11Protocol, "ssl_context_factory": factory}

    async def _wait_started(self) -> None:
        assert self._server is not None and self._task is not None
        async with asyncio.timeout(STARTUP_TIMEOUT_S):
            while not self._server.started:
                if self._task.done():
                    self._task.result()
                    raise RuntimeError("the HTTP server stopped while starting")
                await asyncio.sleep(0.005)

    async def close(self) -> None:
        """Stop accepting, let requests in progress finish (bounded), then return."""
        server, task = self._server, self._task
        self._server = self._task = None
        if server is None or task is None:
            return
        server.should_exit = True
        try:
            async with asyncio.timeout(SHUTDOWN_TIMEOUT_S * 2):
                await asyncio.wait({task})
        except TimeoutError:
            server.force_exit = True
            task.cancel()
            await asyncio.wait({task})
        if not task.cancelled() and task.exception() is not None:
            log.error("http server failed: %s", task.exception())
        authenticator = getattr(self._app.state, "authenticator", None) if self._app else None
        if authenticator is not None:
            await authenticator.aclose()
