"""The client certificate of an MLLP connection, as the listener hands it to the handler.

Real TLS on loopback with a test CA (tests/support/certs.py): the listener
verifies client certificates against the CA without demanding one. Each
frame's :class:`PeerInfo` carries the certificate's SHA-256 (of the DER, as
``openssl x509 -fingerprint -sha256`` prints it) and its subject as an
RFC 4514 string; a connection without a certificate carries None.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.mllp import tls
from connectors.mllp.client import MLLPClient
from connectors.mllp.server import MLLPServer
from hub.auth.model import PeerCertificate
from tests.connectors.mllp.conftest import RecordingHandler
from tests.support.certs import Issued, issue, make_ca


@pytest.fixture
def pki(tmp_path: Path) -> tuple[Issued, Issued, Issued]:
    ca = make_ca(tmp_path)
    return (ca, issue(tmp_path, ca, "hub", server=True),
            issue(tmp_path, ca, "gam.chu-x", organization="CHU X, Site Nord"))


async def frame_peer(pki: tuple[Issued, Issued, Issued],
                     client: Issued | None) -> PeerCertificate | None:
    ca, server, _ = pki
    handler = RecordingHandler()
    context = tls.server_context(server.cert, server.key, ca.cert, require_client_cert=False)
    async with MLLPServer(handler, ssl=context) as listener:
        client_ssl = tls.client_context(ca.cert, client.cert if client else None,
                                        client.key if client else None)
        async with MLLPClient("127.0.0.1", listener.port, ssl=client_ssl,
                              server_hostname="localhost") as mllp:
            await mllp.send(b"MSH|one")
            await mllp.send(b"MSH|two")
    assert len(handler.peers) == 2 and handler.peers[0] == handler.peers[1]
    return handler.peers[0].certificate


async def test_the_verified_client_certificate_reaches_the_handler(
        pki: tuple[Issued, Issued, Issued]) -> None:
    client = pki[2]
    certificate = await frame_peer(pki, client)
    assert certificate is not None
    assert certificate.fingerprint_sha256 == client.sha256
    # RFC 4514: most specific RDN first, a comma in a value escaped.
    assert certificate.subject == r"CN=gam.chu-x,O=CHU X\, Site Nord"


async def test_a_connection_without_a_certificate_has_none(
        pki: tuple[Issued, Issued, Issued]) -> None:
    assert await frame_peer(pki, None) is None


def test_subjects_escape_as_rfc_4514_says() -> None:
    subject = ((("countryName", "FR"),), (("organizationName", "#1 Lab;<x>"),),
               (("commonName", " a "), ("userId", "u\\1")))
    assert tls.rfc4514_subject({"subject": subject}) == r"CN=\ a\ +UID=u\\1,O=\#1 Lab\;\<x\>,C=FR"
