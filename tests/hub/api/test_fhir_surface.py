"""The open HTTP surface of a hub: OpenAPI pages without a CDN, the FHIR CapabilityStatement.

A real hub (identity, repository and imaging components) serves on a free
port; the pages and the statement are fetched without a token, as a browser
or a FHIR client does first. The statement is checked by two FHIR models
that are not the hub's: ``fhir.resources`` (R4B) and ``fhirclient`` (R4).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhirclient.models.capabilitystatement import (  # type: ignore[import-untyped]
    CapabilityStatement as ClientCapabilityStatement,
)

from hub.app import Hub
from tests.hub.conftest import ADMIN_TOKEN, HubFactory

ALL_FHIR = ["identity", "repository", "imaging"]


@pytest.fixture
async def fhir_hub(start_hub: HubFactory) -> Hub:
    """A hub serving every FHIR component."""
    return await start_hub(components=ALL_FHIR, destinations={
        "archive": {"type": "file", "directory": "out"},
        "srri": {"type": "srri"}, "repository": {"type": "repository"}})


class _Links(HTMLParser):
    """Every ``src`` and ``href`` of a page, and the URLs its inline scripts name."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.urls += re.findall(r"""['"]((?:https?:)?//[^'"]+|/[^'"\s]+)['"]""", data)


def _base(hub: Hub) -> str:
    return f"http://127.0.0.1:{hub.http_port}"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_openapi_pages_load_only_the_hubs_own_assets(fhir_hub: Hub, page: str) -> None:
    async with httpx.AsyncClient(base_url=_base(fhir_hub), timeout=10) as client:
        html = await client.get(page)
        assert html.status_code == 200
        links = _Links()
        links.feed(html.text)
        assert links.urls, html.text
        foreign = [u for u in links.urls if not u.startswith("/") or u.startswith("//")]
        assert foreign == []
        scripts = [u for u in links.urls if u.endswith(".js")]
        assert scripts
        for url in links.urls:
            answer = await client.get(url)
            assert answer.status_code == 200, url
            if url.endswith(".js"):
                assert "javascript" in answer.headers["content-type"]
                assert len(answer.content) > 10_000  # the real bundle, not a stub


async def _metadata(hub: Hub, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=_base(hub), timeout=10) as client:
        return await client.get("/fhir/metadata", headers={
            "Accept": "application/fhir+json", **headers})


async def test_metadata_needs_no_token(fhir_hub: Hub) -> None:
    response = await _metadata(fhir_hub)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.json()["resourceType"] == "CapabilityStatement"
    async with httpx.AsyncClient(base_url=_base(fhir_hub), timeout=10) as client:
        assert (await client.get("/fhir/DocumentReference")).status_code == 401


async def test_metadata_is_valid_r4_for_two_fhir_libraries(fhir_hub: Hub) -> None:
    body = (await _metadata(fhir_hub)).json()
    CapabilityStatement.model_validate(body)
    parsed = ClientCapabilityStatement(body, strict=True)
    assert parsed.rest[0].mode == "server"
    operations = {op.name: op.definition for r in parsed.rest[0].resource
                  for op in r.operation or []}
    assert operations == {
        "ihe-pix": "https://profiles.ihe.net/ITI/PIXm/OperationDefinition/IHE.PIXm.pix",
        "match": "http://hl7.org/fhir/OperationDefinition/Patient-match"}


async def test_metadata_declares_the_bearer_token(fhir_hub: Hub) -> None:
    security = (await _metadata(fhir_hub)).json()["rest"][0]["security"]
    coding = security["service"][0]["coding"][0]
    assert coding["system"] == "http://terminology.hl7.org/CodeSystem/restful-security-service"
    assert coding["code"] == "OAuth"
    assert "Bearer" in security["description"]


def _interactions(statement: dict[str, Any]) -> dict[str, set[str]]:
    rest = statement["rest"][0]
    found = {r["type"]: {i["code"] for i in r.get("interaction", [])} | {
        f"${o['name']}" for o in r.get("operation", [])} for r in rest["resource"]}
    found["(system)"] = {i["code"] for i in rest.get("interaction", [])}
    return found


async def test_metadata_lists_every_interaction_served(fhir_hub: Hub) -> None:
    statement = (await _metadata(fhir_hub)).json()
    assert _interactions(statement) == {
        "(system)": {"transaction"},
        "Binary": {"read", "create"},
        "DocumentReference": {"read", "search-type"},
        "ImagingStudy": {"read", "search-type"},
        "List": {"search-type"},
        "Patient": {"read", "search-type", "$ihe-pix", "$match"},
    }
    params = {r["type"]: {p["name"]: p["type"] for p in r.get("searchParam", [])}
              for r in statement["rest"][0]["resource"]}
    assert params["Patient"]["birthdate"] == "date"
    assert params["Patient"]["identifier"] == "token"
    assert params["DocumentReference"]["patient"] == "reference"
    assert "patient.identifier" in params["ImagingStudy"]


async def test_every_fhir_path_of_the_openapi_schema_is_in_the_statement(fhir_hub: Hub) -> None:
    async with httpx.AsyncClient(base_url=_base(fhir_hub), timeout=10) as client:
        schema = (await client.get("/openapi.json")).json()
    declared = _interactions((await _metadata(fhir_hub)).json())
    for path, methods in schema["paths"].items():
        if not path.startswith("/fhir") or path == "/fhir/metadata":
            continue
        parts = path.removeprefix("/fhir").strip("/").split("/")
        for method in methods:
            if parts == [""]:
                expected, kind = "transaction", "(system)"
            elif len(parts) == 1:
                expected, kind = {"get": "search-type", "post": "create"}[method], parts[0]
            elif parts[1].startswith("$"):
                expected, kind = parts[1], parts[0]
            else:
                expected, kind = {"get": "read"}[method], parts[0]
            assert expected in declared.get(kind, set()), f"{method.upper()} {path}"


async def test_metadata_without_identity_has_no_patient(start_hub: HubFactory) -> None:
    hub = await start_hub(components=["repository"], destinations={
        "archive": {"type": "file", "directory": "out"}, "repository": {"type": "repository"}})
    statement = (await _metadata(hub, Authorization=f"Bearer {ADMIN_TOKEN}")).json()
    assert "Patient" not in _interactions(statement)
    assert "DocumentReference" in _interactions(statement)
