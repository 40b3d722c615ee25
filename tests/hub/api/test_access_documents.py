"""Document visibility from the credential, never from a header; submissions per establishment.

A real hub (repository component) on a free port. The CDA documents of
:mod:`tests.hub.repository.documents` are authored by the institution
FINESS ``1630000042`` (``1.2.250.1.71.4.2.2``); a confidentiality ``V``
document is masked from professionals.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.api.app import create_app
from hub.app import Hub
from hub.auth.store import NewClient, PrincipalStore
from hub.repository.bench_data import nir
from tests.hub.conftest import ADMIN_TOKEN, HubFactory
from tests.hub.repository.documents import INS_TEST, cda

FINESS = "1630000042"
PASSWORD = "correct horse battery staple"
_numbers = itertools.count(1)


def new_ins() -> str:
    """A test INS-NIR, new at every call."""
    return nir(f"1840563{next(_numbers):06d}")


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of ``token``."""
    return {"Authorization": f"Bearer {token}"}


class KeepState:
    """ASGI wrapper keeping each request's ``state`` (where handlers leave their audit note)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.states: list[dict[str, Any]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: dict[str, Any] = {}
        scope["state"] = state
        self.states.append(state)
        await self.app(scope, receive, send)


@pytest.fixture
async def docs_hub(start_hub: HubFactory) -> Hub:
    """A hub with the repository, test INS accepted."""
    return await start_hub(components=["repository"], ins_test_mode=True,
                           auth={"credential_cache_s": 0, "failed_login_delay_s": 0},
                           destinations={"archive": {"type": "file", "directory": "out"},
                                         "repository": {"type": "repository"}})


@pytest.fixture
async def keys(docs_hub: Hub) -> dict[str, str]:
    """API keys of the clients of these tests, by name."""
    assert docs_hub.db is not None
    store = PrincipalStore(docs_hub.db)
    found = {"admin": ADMIN_TOKEN}
    for new in (NewClient("lab-volcans", ["document-source"], establishments=[FINESS]),
                NewClient("lab-other", ["document-source"], establishments=["1630000099"]),
                NewClient("dpi-reader", ["document-reader"], acts_as="professional")):
        _, found[new.name] = await store.add_client(new)
    await store.add_user("dr-house", "Dr House", ["document-reader"], PASSWORD,
                         acts_as="professional")
    return found


@pytest.fixture
async def http(docs_hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the hub's HTTP server, without credentials."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{docs_hub.http_port}",
                                 timeout=10) as client:
        yield client


async def upload(http: httpx.AsyncClient, key: str, ins: str, **cda_args: Any
                 ) -> httpx.Response:
    """POST one CDA document for patient ``ins`` with the credential ``key``."""
    body = cda(f"1.2.250.1.999.42.72.{next(_numbers)}", ins=ins, **cda_args)
    return await http.post("/documents", content=body,
                           headers={**bearer(key), "Content-Type": "application/xml"})


async def found(http: httpx.AsyncClient, key: str, ins: str, **headers: str) -> httpx.Response:
    """ITI-67 for patient ``ins``."""
    return await http.get("/fhir/DocumentReference",
                          params={"patient.identifier": f"urn:oid:{INS_TEST}|{ins}"},
                          headers={**bearer(key), **headers})


async def test_a_source_submits_only_for_its_own_establishment(
        http: httpx.AsyncClient, keys: dict[str, str]) -> None:
    ins = new_ins()
    refused = await upload(http, keys["lab-other"], ins)
    assert refused.status_code == 403
    assert f"1.2.250.1.71.4.2.2|{FINESS}" in refused.json()["error"]
    as_fhir = await http.post("/fhir/Binary", content=cda("1.2.250.1.999.42.73.1", ins=ins),
                              headers={**bearer(keys["lab-other"]),
                                       "Content-Type": "application/xml"})
    assert as_fhir.status_code == 403
    assert as_fhir.json()["issue"][0]["code"] == "forbidden"
    assert (await upload(http, keys["lab-volcans"], ins)).status_code == 201
    journal = (await http.get("/api/messages", params={"status": "rejected"},
                              headers=bearer(ADMIN_TOKEN))).json()["items"]
    assert len(journal) == 2  # both refusals are kept, marked rejected


async def test_a_system_cannot_open_a_masked_document_by_any_header(
        http: httpx.AsyncClient, keys: dict[str, str]) -> None:
    ins = new_ins()
    filed = await upload(http, keys["lab-volcans"], ins, confidentiality="V")
    doc_id = filed.json()["id"]
    reader = keys["dpi-reader"]
    assert (await found(http, reader, ins)).json()["total"] == 0
    claimed = await found(http, reader, ins, **{"X-Hub-Reader": "admin"})
    assert claimed.status_code == 400
    assert "claims more than the credential" in claimed.json()["issue"][0]["diagnostics"]
    glass = await found(http, reader, ins, **{"X-Hub-Break-Glass": "emergency"})
    assert glass.status_code == 403
    for header in ({}, {"X-Hub-Reader": "patient"}, {"X-Hub-Break-Glass": "emergency"}):
        answer = await http.get(f"/fhir/Binary/{doc_id}", headers={**bearer(reader), **header})
        assert answer.status_code in (400, 403, 404), header
    repeated = await found(http, reader, ins, **{"X-Hub-Reader": "professional"})
    assert repeated.json()["total"] == 0
    admin = await found(http, ADMIN_TOKEN, ins, **{"X-Hub-Reader": "admin"})
    assert admin.json()["total"] == 1


async def test_break_glass_by_a_person_is_noted_with_its_reason(
        docs_hub: Hub, http: httpx.AsyncClient, keys: dict[str, str]) -> None:
    ins = new_ins()
    await upload(http, keys["lab-volcans"], ins, confidentiality="V")
    login = await http.post("/api/auth/login", json={"login": "dr-house", "password": PASSWORD})
    session = login.json()["token"]
    app = KeepState(create_app(docs_hub))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://hub") as local:
        assert (await found(local, session, ins)).json()["total"] == 0
        glass = await found(local, session, ins, **{"X-Hub-Break-Glass": "cardiac arrest"})
        empty = await found(local, session, ins, **{"X-Hub-Break-Glass": "  "})
    assert glass.json()["total"] == 1
    assert empty.json()["total"] == 0
    noted = app.states[1]["audit_note"]
    assert noted.break_glass == "cardiac arrest"
    assert f"urn:oid:{INS_TEST}|{ins}" in noted.patients
    assert noted.entities == [f"DocumentReference/{glass.json()['entry'][0]['resource']['id']}"]
    assert app.states[1]["principal"].id == "user:dr-house"
    assert app.states[1]["access_rule"].audit == "phi"
    assert app.states[2]["audit_note"].break_glass is None


async def test_a_patient_reads_only_its_own_documents(
        docs_hub: Hub, http: httpx.AsyncClient, keys: dict[str, str]) -> None:
    mine, other = new_ins(), new_ins()
    first = await upload(http, keys["lab-volcans"], mine, confidentiality="V")
    theirs = await upload(http, keys["lab-volcans"], other)
    assert docs_hub.db is not None
    _, key = await PrincipalStore(docs_hub.db).add_client(NewClient(
        "patient-app", [], scopes=["patient/DocumentReference.read"], acts_as="patient",
        patients=[f"urn:oid:{INS_TEST}|{mine}"]))
    own = await found(http, key, mine)
    assert own.json()["total"] == 1  # V is hidden from professionals, not from the patient
    assert (await found(http, key, other)).status_code == 403
    assert (await http.get(f"/fhir/DocumentReference/{theirs.json()['id']}",
                           headers=bearer(key))).status_code == 404
    assert (await http.get(f"/fhir/Binary/{first.json()['id']}",
                           headers=bearer(key))).status_code == 200
    assert (await http.get("/api/messages", headers=bearer(key))).status_code == 403


async def test_system_scopes_let_a_client_read_without_a_role(
        docs_hub: Hub, http: httpx.AsyncClient, keys: dict[str, str]) -> None:
    ins = new_ins()
    await upload(http, keys["lab-volcans"], ins)
    assert docs_hub.db is not None
    store = PrincipalStore(docs_hub.db)
    _, reader = await store.add_client(NewClient("national", [], scopes=["system/*.read"]))
    _, writer = await store.add_client(NewClient("writer", [], scopes=["system/*.write"]))
    assert (await found(http, reader, ins)).json()["total"] == 1
    assert (await found(http, writer, ins)).status_code == 403
    assert (await upload(http, reader, ins)).status_code == 403
