"""HTTPS with client certificates: the verified certificate names a client (mutual TLS)."""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from connectors.mllp.tls import client_context
from hub.app import Hub
from hub.auth.store import NewClient, PrincipalStore
from tests.hub.conftest import ADMIN_TOKEN, HubFactory
from tests.support.mail import Pki, make_pki


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    """A test CA with a server and a client certificate."""
    return make_pki(tmp_path / "pki")


@pytest.fixture
async def tls_hub(start_hub: HubFactory, pki: Pki) -> Hub:
    """A hub serving HTTPS; clients may present a certificate signed by the CA."""
    return await start_hub(auth={"credential_cache_s": 0}, http={"port": 0, "tls": {
        "certfile": str(pki.server_cert), "keyfile": str(pki.server_key),
        "cafile": str(pki.ca)}})


def fingerprint(certificate: Path) -> str:
    """SHA-256 of the DER form of a PEM certificate."""
    der = ssl.PEM_cert_to_DER_cert(certificate.read_text())
    return hashlib.sha256(der).hexdigest()


@pytest.fixture
async def with_cert(tls_hub: Hub, pki: Pki) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTPS client presenting the client certificate."""
    context = client_context(pki.ca, pki.client_cert, pki.client_key)
    async with httpx.AsyncClient(base_url=f"https://127.0.0.1:{tls_hub.http_port}",
                                 verify=context, timeout=10) as client:
        yield client


@pytest.fixture
async def without_cert(tls_hub: Hub, pki: Pki) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTPS client presenting no certificate."""
    async with httpx.AsyncClient(base_url=f"https://127.0.0.1:{tls_hub.http_port}",
                                 verify=client_context(pki.ca), timeout=10) as client:
        yield client


async def test_a_client_certificate_authenticates_its_client(
        tls_hub: Hub, pki: Pki, with_cert: httpx.AsyncClient) -> None:
    assert tls_hub.db is not None
    await PrincipalStore(tls_hub.db).add_client(NewClient(
        "pacs-chu", ["operator"], cert_sha256=fingerprint(pki.client_cert)))
    me = await with_cert.get("/api/auth/me")
    assert me.status_code == 200, me.text
    assert me.json()["id"] == "client:pacs-chu"
    assert (await with_cert.get("/api/queues")).status_code == 200


async def test_a_certificate_no_client_is_bound_to_is_refused(
        with_cert: httpx.AsyncClient) -> None:
    answer = await with_cert.get("/api/auth/me")
    assert answer.status_code == 401
    assert "CN=hub.test" in answer.json()["error"]


async def test_without_a_certificate_a_bearer_token_is_needed(
        tls_hub: Hub, pki: Pki, without_cert: httpx.AsyncClient) -> None:
    assert tls_hub.db is not None
    await PrincipalStore(tls_hub.db).add_client(NewClient(
        "pacs-chu", ["operator"], cert_sha256=fingerprint(pki.client_cert)))
    assert (await without_cert.get("/api/auth/me")).status_code == 401
    admin = await without_cert.get("/api/auth/me",
                                   headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert admin.json()["id"] == "admin"
    assert (await without_cert.get("/healthz")).status_code == 200


async def test_a_disabled_client_certificate_is_refused(
        tls_hub: Hub, pki: Pki, with_cert: httpx.AsyncClient) -> None:
    assert tls_hub.db is not None
    store = PrincipalStore(tls_hub.db)
    await store.add_client(NewClient("pacs-chu", ["operator"],
                                     cert_sha256=fingerprint(pki.client_cert)))
    await store.disable_client("pacs-chu")
    assert (await with_cert.get("/api/auth/me")).status_code == 401
