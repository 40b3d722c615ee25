"""HTTPS for the hub's HTTP server, and the client certificate of a request (mutual TLS).

uvicorn terminates TLS but does not tell the application which certificate
the client presented: its ASGI scope carries no ``tls`` extension. The
verified certificate is read where uvicorn has it, from the connection's
``ssl_object`` (``transport.get_extra_info``, asyncio's public API), by a
subclass of uvicorn's h11 protocol whose ``connection_made`` wraps the
connection's application so that every request scope gets the ASGI TLS
extension (``scope["extensions"]["tls"]``, ASGI "TLS" extension 0.0:
``client_cert_chain`` PEM strings, ``client_cert_name`` RFC 4514). An
ASGI middleware cannot do this (it never sees the transport); a server
that fills the extension itself needs no change here, since
:func:`peer_certificate` reads only the extension.

The certificate counts only when the listener's CA verified it (``cafile``);
``require_client_cert`` makes one mandatory (RFC 8446 4.3.2).
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from hub.auth.model import PeerCertificate
from hub.config import TlsSettings
from hub.errors import ConfigError
from hub.registry import resolve

SERVER_CONTEXT_REF = "connectors.mllp.tls:server_context"
SUBJECT_REF = "connectors.mllp.tls:rfc4514_subject"


def server_context(tls: TlsSettings) -> ssl.SSLContext:
    """The server context of ``http.tls`` (TLS 1.2 or later; client certificates with cafile)."""
    if tls.certfile is None or tls.keyfile is None:
        raise ConfigError("http.tls needs certfile and keyfile", key="http.tls")
    try:
        context: ssl.SSLContext = resolve(SERVER_CONTEXT_REF)(
            tls.certfile, tls.keyfile, tls.cafile, tls.require_client_cert)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ConfigError(f"http.tls: {exc}", key="http.tls") from exc
    return context


def tls_extension(ssl_object: Any) -> dict[str, Any]:
    """The ASGI TLS extension of one connection (its verified client certificate)."""
    der = ssl_object.getpeercert(binary_form=True)
    verified = ssl_object.getpeercert()
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der and verified else []
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": resolve(SUBJECT_REF)(verified) if chain else None,
        "client_cert_error": None,
        "tls_version": None,
        "cipher_suite": None,
    }


class _WithTls:
    """The application of one TLS connection: adds the TLS extension to each scope."""

    def __init__(self, app: ASGIApp, extension: dict[str, Any]) -> None:
        self.app = app
        self.extension = extension

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        extensions = scope.setdefault("extensions", {})
        extensions.setdefault("tls", self.extension)
        await self.app(scope, receive, send)


class TlsH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, telling the application the client certificate."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Read the connection's TLS object once, then serve as uvicorn does."""
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.app = _WithTls(self.app, tls_extension(ssl_object))


def peer_certificate(request: HTTPConnection) -> PeerCertificate | None:
    """The verified client certificate of ``request``'s connection, None without one."""
    tls = request.scope.get("extensions", {}).get("tls")
    if not tls or not tls.get("client_cert_chain"):
        return None
    der = ssl.PEM_cert_to_DER_cert(tls["client_cert_chain"][0])
    return PeerCertificate(hashlib.sha256(der).hexdigest(), tls.get("client_cert_name") or "")
