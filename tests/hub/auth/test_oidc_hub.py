"""OpenID Connect end to end: a hub with ``auth.oidc`` reading a real issuer's JWKS.

The hub serves HTTP on a free port; the issuer (:mod:`tests.support.oidc`)
runs in its own thread. Tokens go in ``Authorization: Bearer`` exactly as a
professional's application sends them after a Keycloak or Pro Santé
Connect login (RFC 6750 2.1).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from hub.app import Hub
from hub.repository.bench_data import nir
from tests.hub.conftest import ADMIN_TOKEN, HubFactory
from tests.hub.repository.documents import INS_TEST, cda
from tests.support.oidc import AUDIENCE, OidcIssuer, tampered

_numbers = itertools.count(1)


@pytest.fixture
def issuer() -> Iterator[OidcIssuer]:
    """A running issuer."""
    with OidcIssuer() as running:
        yield running


@pytest.fixture
async def oidc_hub(start_hub: HubFactory, issuer: OidcIssuer) -> Hub:
    """A hub with the repository, accepting the issuer's tokens (Keycloak realm roles)."""
    oidc = {"issuer": issuer.issuer, "audience": AUDIENCE, "roles_claim": "realm_access.roles",
            "role_map": {"medecin": ["document-reader"], "exploitant": ["operator"]}}
    return await start_hub(components=["repository"], ins_test_mode=True,
                           auth={"oidc": oidc},
                           destinations={"archive": {"type": "file", "directory": "out"},
                                         "repository": {"type": "repository"}})


@pytest.fixture
async def http(oidc_hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the hub's HTTP server."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{oidc_hub.http_port}",
                                 timeout=10) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of ``token``."""
    return {"Authorization": f"Bearer {token}"}


async def filed(http: httpx.AsyncClient, ins: str | None = None,
                confidentiality: str = "N") -> str:
    """A document filed by the admin for ``ins`` (default: a new test INS); its INS."""
    ins = ins or nir(f"1840563{next(_numbers):06d}")
    body = cda(f"1.2.250.1.999.42.81.{next(_numbers)}", ins=ins,
               confidentiality=confidentiality)
    answer = await http.post("/documents", content=body, headers={
        **bearer(ADMIN_TOKEN), "Content-Type": "application/xml"})
    assert answer.status_code == 201, answer.text
    return ins


async def search(http: httpx.AsyncClient, token: str, ins: str) -> httpx.Response:
    """ITI-67 for the patient ``ins``."""
    return await http.get("/fhir/DocumentReference",
                          params={"patient.identifier": f"urn:oid:{INS_TEST}|{ins}"},
                          headers=bearer(token))


def professional(issuer: OidcIssuer, roles: list[str], **claims: Any) -> str:
    """A token with realm roles ``roles`` and no SMART scope (the roles decide)."""
    return issuer.mint(realm_access={"roles": roles}, scope="openid profile", **claims)


async def test_a_reader_by_role_searches_documents_as_a_professional(
        http: httpx.AsyncClient, issuer: OidcIssuer) -> None:
    ins = await filed(http)
    await filed(http, ins, confidentiality="V")
    answer = await search(http, professional(issuer, ["medecin"]), ins)
    assert answer.status_code == 200, answer.text
    bundle = answer.json()
    assert bundle["resourceType"] == "Bundle"
    assert bundle["total"] == 1  # the V document is masked from professionals
    me = (await http.get("/api/auth/me", headers=bearer(professional(issuer, ["medecin"])))
          ).json()
    assert me["id"] == f"oidc:{issuer.issuer}#f:550e8400:810002345678"
    assert (me["kind"], me["roles"], me["acts_as"]) == ("oidc", ["document-reader"],
                                                        "professional")


async def test_a_person_without_a_mapped_role_is_forbidden(
        http: httpx.AsyncClient, issuer: OidcIssuer) -> None:
    ins = await filed(http)
    for roles in ([], ["admin", "document-reader", "infirmier"]):
        answer = await search(http, professional(issuer, roles), ins)
        assert answer.status_code == 403, (roles, answer.text)
        assert answer.json()["issue"][0]["code"] == "forbidden"


async def test_a_smart_user_scope_reads_without_a_role(
        http: httpx.AsyncClient, issuer: OidcIssuer) -> None:
    ins = await filed(http)
    token = issuer.mint(realm_access={"roles": []}, scope="openid user/DocumentReference.read")
    assert (await search(http, token, ins)).json()["total"] == 1
    patients = issuer.mint(realm_access={"roles": []}, scope="openid user/Patient.read")
    assert (await search(http, patients, ins)).status_code == 403


async def test_roles_are_per_interface(http: httpx.AsyncClient, issuer: OidcIssuer) -> None:
    operator = professional(issuer, ["exploitant"])
    assert (await http.get("/api/messages", headers=bearer(operator))).status_code == 200
    reader = professional(issuer, ["medecin"])
    assert (await http.get("/api/messages", headers=bearer(reader))).status_code == 403


@pytest.mark.parametrize("case", ["expired", "wrong-audience", "tampered", "unknown-kid"])
async def test_tokens_that_do_not_verify_are_401(
        http: httpx.AsyncClient, issuer: OidcIssuer, case: str) -> None:
    ins = await filed(http)
    valid = professional(issuer, ["medecin"])
    assert (await search(http, valid, ins)).status_code == 200
    issuer.make_key("other", publish=False)
    token = {
        "expired": professional(issuer, ["medecin"], exp=int(time.time()) - 120),
        "wrong-audience": professional(issuer, ["medecin"], aud="another-service"),
        "tampered": tampered(professional(issuer, []), realm_access={"roles": ["medecin"]}),
        "unknown-kid": issuer.mint("other", realm_access={"roles": ["medecin"]}),
    }[case]
    answer = await search(http, token, ins)
    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"] == 'Bearer realm="hub", error="invalid_token"'
