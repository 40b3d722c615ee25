"""Logging in, sessions, API keys and OAuth2 client credentials against a running hub."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from hub.app import Hub
from hub.auth.store import NewClient, PrincipalStore
from tests.hub.conftest import HubFactory

PASSWORD = "correct horse battery staple"
DELAY_S = 0.2


@pytest.fixture
async def auth_hub(start_hub: HubFactory) -> Hub:
    """A hub that asks the database on every request (no credential cache)."""
    return await start_hub(auth={"credential_cache_s": 0, "failed_login_delay_s": DELAY_S,
                                 "session_ttl_s": 600})


@pytest.fixture
def store(auth_hub: Hub) -> PrincipalStore:
    """The hub's users and clients."""
    assert auth_hub.db is not None
    return PrincipalStore(auth_hub.db)


@pytest.fixture
async def http(auth_hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the hub without credentials."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{auth_hub.http_port}",
                                 timeout=10) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of ``token``."""
    return {"Authorization": f"Bearer {token}"}


async def test_login_opens_a_session_that_logout_closes(
        store: PrincipalStore, http: httpx.AsyncClient) -> None:
    await store.add_user("alice", "Alice Martin", ["operator"], PASSWORD)
    answer = await http.post("/api/auth/login", json={"login": "alice", "password": PASSWORD})
    assert answer.status_code == 200
    token = answer.json()["token"]
    assert token.startswith("hs_")
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    me = await http.get("/api/auth/me", headers=bearer(token))
    assert me.json()["id"] == "user:alice" and me.json()["roles"] == ["operator"]
    assert (await http.get("/api/queues", headers=bearer(token))).status_code == 200
    http.cookies.clear()
    by_cookie = await http.get("/api/auth/me", headers={"Cookie": f"hub_session={token}"})
    assert by_cookie.json()["id"] == "user:alice"
    assert (await http.post("/api/auth/logout", headers=bearer(token))).status_code == 204
    after = await http.get("/api/auth/me", headers=bearer(token))
    assert after.status_code == 401
    assert 'error="invalid_token"' in after.headers["www-authenticate"]


async def test_a_refused_login_does_not_tell_whether_the_login_exists(
        store: PrincipalStore, http: httpx.AsyncClient) -> None:
    await store.add_user("alice", "", ["operator"], PASSWORD)
    answers = []
    for login in ("alice", "nobody"):
        started = time.monotonic()
        answer = await http.post("/api/auth/login", json={"login": login, "password": "wrong!"})
        answers.append((answer.status_code, answer.json(), time.monotonic() - started))
    assert answers[0][:2] == answers[1][:2] == (
        401, {"error": "login or password not accepted", "detail": None})
    assert min(a[2] for a in answers) >= DELAY_S


async def test_a_disabled_user_is_refused_at_once(
        store: PrincipalStore, http: httpx.AsyncClient) -> None:
    await store.add_user("alice", "", ["operator"], PASSWORD)
    token = (await http.post("/api/auth/login",
                             json={"login": "alice", "password": PASSWORD})).json()["token"]
    await store.disable_user("alice")
    assert (await http.get("/api/queues", headers=bearer(token))).status_code == 401
    again = await http.post("/api/auth/login", json={"login": "alice", "password": PASSWORD})
    assert again.status_code == 401


async def test_rotating_an_api_key_invalidates_the_old_one(
        store: PrincipalStore, http: httpx.AsyncClient) -> None:
    _, old = await store.add_client(NewClient("supervision", ["operator"]))
    assert (await http.get("/api/queues", headers=bearer(old))).status_code == 200
    new = await store.rotate_key("supervision")
    assert (await http.get("/api/queues", headers=bearer(old))).status_code == 401
    assert (await http.get("/api/queues", headers=bearer(new))).status_code == 200
    await store.disable_client("supervision")
    assert (await http.get("/api/queues", headers=bearer(new))).status_code == 401


async def test_client_credentials_give_a_short_lived_token(
        store: PrincipalStore, http: httpx.AsyncClient) -> None:
    _, key = await store.add_client(NewClient("portal", ["document-reader"],
                                              scopes=["system/*.read"]))
    basic = base64.b64encode(f"portal:{key}".encode()).decode()
    answer = await http.post("/oauth/token", content="grant_type=client_credentials",
                             headers={"Authorization": f"Basic {basic}",
                                      "Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == "system/*.read"
    assert answer.headers["cache-control"] == "no-store"
    me = await http.get("/api/auth/me", headers=bearer(body["access_token"]))
    assert me.json()["id"] == "client:portal"
    posted = await http.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": "portal", "client_secret": key})
    assert posted.status_code == 200
    await store.rotate_key("portal")
    assert (await http.get("/api/auth/me",
                           headers=bearer(body["access_token"]))).status_code == 401


@pytest.mark.parametrize(("form", "status", "error"), [
    ({"grant_type": "password"}, 400, "unsupported_grant_type"),
    ({"grant_type": "client_credentials", "client_id": "portal", "client_secret": "hk_x"},
     401, "invalid_client"),
    ({"grant_type": "client_credentials", "client_id": "other"}, 401, "invalid_client"),
], ids=["grant", "secret", "no-secret"])
async def test_client_credentials_refusals_follow_rfc_6749(
        store: PrincipalStore, http: httpx.AsyncClient, form: dict[str, str], status: int,
        error: str) -> None:
    await store.add_client(NewClient("portal", ["document-reader"]))
    answer = await http.post("/oauth/token", data=form)
    assert (answer.status_code, answer.json()["error"]) == (status, error)
