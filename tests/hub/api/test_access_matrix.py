"""Each role against each endpoint of a hub running every component (deny by default).

The routes are the application's own (``app.routes``), so a new endpoint
without an access rule fails :func:`test_every_route_has_an_access_rule`, and
the expectations below are written per role, independently of the policy
table: a rule granting a role more (or less) than intended fails too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from hub.api.app import create_app
from hub.api.auth import served_routes
from hub.app import Hub
from hub.auth.policy import rule_for
from hub.auth.store import NewClient, PrincipalStore
from tests.hub.conftest import ADMIN_TOKEN, HubFactory

EVERY_COMPONENT = ["identity", "repository", "imaging", "mssante"]

PUBLIC = [r"GET /healthz", r"GET /readyz", r"GET /openapi\.json", r"GET /docs.*",
          r"GET /redoc", r"GET /fhir/metadata", r"POST /api/auth/login", r"POST /oauth/token"]
SELF = [r"GET /api/auth/me", r"POST /api/auth/logout"]
EXPECTED: dict[str, list[str]] = {
    "operator": [r"GET /metrics", r"GET /api/queues", r"(GET|POST) /api/parked.*",
                 r"(GET|POST) /api/messages.*", r"GET /api/imaging/.*",
                 r"(GET|PUT|POST) /api/mssante/.*"],
    "auditor": [r"GET /fhir/AuditEvent.*"],
    "identity-reviewer": [r"(GET|POST) /api/identity/.*"],
    "document-reader": [r"GET /fhir/(Patient|DocumentReference|Binary/|List|ImagingStudy).*",
                        r"POST /fhir/Patient/\$match"],
    "document-source": [r"POST /fhir/?", r"POST /fhir/Binary", r"POST /documents"],
}
"""What each role may call, besides the public routes and its own session (README)."""


def routes_of(app: FastAPI) -> Iterator[tuple[str, str]]:
    """Every (method, full path template) the application routes, HEAD left out."""
    for _, path, methods in served_routes(app):
        for method in sorted(methods - {"HEAD"}):
            yield method, path


def expected_for(role: str | None, method: str, path: str) -> bool:
    """Whether the independent table above lets ``role`` (None: anonymous) call the route."""
    line = f"{method} {path}"
    patterns = PUBLIC + ([] if role is None else SELF + EXPECTED.get(role, [r".*"]))
    return any(re.fullmatch(p, line) for p in patterns)


def concrete(path: str) -> str:
    """A path template with every parameter filled in."""
    return re.sub(r"\{[^}]*\}", "x1", path)


@pytest.fixture
async def full_hub(start_hub: HubFactory) -> Hub:
    """A hub with every component, its HTTP on a free port."""
    return await start_hub(components=EVERY_COMPONENT, mssante={"address": "hub@hub.test"},
                           auth={"failed_login_delay_s": 0},
                           destinations={"archive": {"type": "file", "directory": "out"},
                                         "srri": {"type": "srri"},
                                         "repository": {"type": "repository"}})


@pytest.fixture
async def keys(full_hub: Hub) -> dict[str, str]:
    """An API key per role: clients named after their role (admin: the admin token)."""
    assert full_hub.db is not None
    store = PrincipalStore(full_hub.db)
    found = {"admin": ADMIN_TOKEN}
    for role in EXPECTED:
        _, found[role] = await store.add_client(NewClient(f"client-{role}", [role]))
    return found


async def _call(client: httpx.AsyncClient, method: str, path: str,
                headers: dict[str, str]) -> httpx.Response:
    body: dict[str, Any] = {"json": {}} if method in ("POST", "PUT") else {}
    return await client.request(method, concrete(path), headers=headers, **body)


async def test_every_route_has_an_access_rule(full_hub: Hub) -> None:
    app = create_app(full_hub)
    missing = [f"{m} {p}" for m, p in routes_of(app) if rule_for(m, p) is None]
    assert missing == []


async def test_each_role_against_each_endpoint(full_hub: Hub, keys: dict[str, str]) -> None:
    routes = sorted(routes_of(create_app(full_hub)))
    assert len(routes) > 40
    wrong = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{full_hub.http_port}",
                                 timeout=10) as client:
        for role in [None, *keys]:
            headers = {"Authorization": f"Bearer {keys[role]}"} if role else {}
            for method, path in routes:
                answer = await _call(client, method, path, headers)
                refused = answer.status_code in (401, 403)
                if expected_for(role, method, path) == refused or answer.status_code >= 500:
                    wrong.append(f"{role}: {method} {path} -> {answer.status_code} "
                                 f"{answer.text[:120]}")
    assert wrong == []


async def test_refusals_say_why_in_the_shape_of_the_interface(
        full_hub: Hub, keys: dict[str, str]) -> None:
    base = f"http://127.0.0.1:{full_hub.http_port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        anonymous = await client.get("/api/messages")
        wrong = await client.get("/api/messages", headers={"Authorization": "Bearer nope"})
        basic = await client.get("/api/messages", headers={"Authorization": "Basic eDp5"})
        fhir = await client.get("/fhir/DocumentReference",
                                headers={"Authorization": f"Bearer {keys['operator']}"})
        denied = await client.get("/api/messages",
                                  headers={"Authorization": f"Bearer {keys['auditor']}"})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="hub"'
    assert wrong.headers["www-authenticate"] == 'Bearer realm="hub", error="invalid_token"'
    assert 'error="invalid_request"' in basic.headers["www-authenticate"]
    assert fhir.status_code == 403
    outcome = fhir.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "forbidden"
    assert "fhir:DocumentReference.read" in outcome["issue"][0]["diagnostics"]
    assert denied.status_code == 403
    assert denied.json()["detail"] == {"permission": "messages.read"}
    assert 'error="insufficient_scope"' in denied.headers["www-authenticate"]


async def test_a_route_without_a_rule_is_refused(full_hub: Hub) -> None:
    app = create_app(full_hub)

    @app.get("/api/forgotten")
    async def forgotten() -> dict[str, str]:
        return {"leaked": "yes"}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        answer = await client.get("/api/forgotten",
                                  headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert answer.status_code == 403
    assert "no access rule" in answer.json()["error"]
