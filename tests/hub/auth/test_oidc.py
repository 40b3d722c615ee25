"""OpenID Connect bearer tokens against a real issuer (discovery and JWKS over HTTP).

The issuer (:mod:`tests.support.oidc`) runs in its own thread and event
loop; :class:`~hub.auth.oidc.OidcVerifier` fetches from it over a socket as
it would from Keycloak or Pro Santé Connect.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.auth.model import ActsAs, AuthenticationError, Principal, Role
from hub.auth.oidc import OidcVerifier
from hub.config import OidcSettings
from tests.hub.conftest import free_port
from tests.support.certs import make_certificate
from tests.support.oidc import AUDIENCE, OidcIssuer, hmac_signed, tampered, unsigned

ROLE_MAP = {"medecin": ["document-reader"], "hub-operator": ["operator"]}
ADDRESS = "192.0.2.10"


@pytest.fixture
def issuer() -> Iterator[OidcIssuer]:
    """A running issuer with an RSA and an EC key published."""
    with OidcIssuer() as running:
        yield running


def settings_for(running: OidcIssuer, **overrides: Any) -> OidcSettings:
    """Settings naming the ``running`` issuer the way a Keycloak realm is configured."""
    tree: dict[str, Any] = {"issuer": running.issuer, "audience": AUDIENCE,
                            "roles_claim": "realm_access.roles", "role_map": ROLE_MAP,
                            "leeway_s": 5}
    tree.update(overrides)
    return OidcSettings.model_validate(tree)


VerifierFactory = Callable[..., OidcVerifier]


@pytest.fixture
async def make_verifier(issuer: OidcIssuer) -> AsyncIterator[VerifierFactory]:
    """Verifiers of ``issuer`` with settings overridden; every one is closed afterwards."""
    made: list[OidcVerifier] = []

    def factory(**overrides: Any) -> OidcVerifier:
        made.append(OidcVerifier(settings_for(issuer, **overrides)))
        return made[-1]

    yield factory
    for verifier in made:
        await verifier.aclose()


async def refusal(verifier: OidcVerifier, token: str) -> AuthenticationError:
    """The refusal of ``token``; fails the test if the token is accepted."""
    with pytest.raises(AuthenticationError) as caught:
        await verifier.verify(token, ADDRESS)
    assert caught.value.challenge == "invalid_token"
    return caught.value


@pytest.mark.parametrize("kid", ["rsa-1", "ec-1"])
async def test_a_valid_token_maps_to_a_principal(
        issuer: OidcIssuer, make_verifier: VerifierFactory, kid: str) -> None:
    principal = await make_verifier().verify(issuer.mint(kid), ADDRESS)
    assert principal == Principal(
        id=f"oidc:{issuer.issuer}#f:550e8400:810002345678", kind="oidc", name="810002345678",
        roles=frozenset({Role.DOCUMENT_READER}), scopes=frozenset({"user/DocumentReference.read"}),
        acts_as=ActsAs.PROFESSIONAL, address=ADDRESS)
    assert principal.is_person


@pytest.mark.parametrize("configured", [False, True], ids=["discovered", "configured"])
async def test_the_jwks_is_found_by_discovery_unless_configured(
        issuer: OidcIssuer, make_verifier: VerifierFactory, configured: bool) -> None:
    verifier = make_verifier(jwks_uri=issuer.jwks_uri if configured else None)
    for _ in range(3):
        await verifier.verify(issuer.mint(), ADDRESS)
    assert issuer.requests == {"jwks": 1, **({} if configured else {"discovery": 1})}


async def test_a_discovery_document_naming_another_issuer_is_refused(
        issuer: OidcIssuer, make_verifier: VerifierFactory) -> None:
    verifier = make_verifier(issuer=issuer.issuer + "/")  # the document says it without "/"
    error = await refusal(verifier, issuer.mint(iss=issuer.issuer + "/"))
    assert "discovery document" in str(error)
    assert issuer.requests["jwks"] == 0


@pytest.mark.parametrize(("claim", "names", "expected"), [
    ("realm_access.roles", ["medecin", "hub-operator"], {Role.DOCUMENT_READER, Role.OPERATOR}),
    ("realm_access.roles", ["admin", "operator", "infirmier"], set()),
    ("realm_access.roles", "medecin", {Role.DOCUMENT_READER}),
    ("roles", ["medecin"], set()),
], ids=["mapped", "hub-names-unmapped", "single-string", "other-claim"])
async def test_roles_come_from_the_role_map_only(
        issuer: OidcIssuer, make_verifier: VerifierFactory, claim: str,
        names: list[str] | str, expected: set[Role]) -> None:
    token = issuer.mint(realm_access={"roles": names} if claim != "roles" else None,
                        roles=names if claim == "roles" else None)
    principal = await make_verifier().verify(token, ADDRESS)
    assert principal.roles == expected


async def test_only_smart_scopes_are_kept_and_the_name_falls_back(
        issuer: OidcIssuer, make_verifier: VerifierFactory) -> None:
    token = issuer.mint(scope="openid profile patient/*.read system/Patient.rs email",
                        preferred_username=None, name=None)
    principal = await make_verifier(acts_as="legal-representative").verify(token, ADDRESS)
    assert principal.scopes == {"patient/*.read", "system/Patient.rs"}
    assert principal.name == "f:550e8400:810002345678"
    assert principal.acts_as is ActsAs.LEGAL_REPRESENTATIVE


async def test_the_leeway_tolerates_a_small_clock_skew(
        issuer: OidcIssuer, make_verifier: VerifierFactory) -> None:
    now = int(time.time())
    token = issuer.mint(exp=now - 2, nbf=now + 2, iat=now + 2)
    assert (await make_verifier().verify(token, ADDRESS)).roles == {Role.DOCUMENT_READER}


def _claims_case(**claims: Any) -> Callable[[OidcIssuer], str]:
    return lambda issuer: issuer.mint(**claims)


NOW = int(time.time())
BAD_CLAIMS: dict[str, tuple[Callable[[OidcIssuer], str], str]] = {
    "wrong-issuer": (_claims_case(iss="https://idp.example/realms/other"), "'iss'"),
    "wrong-audience": (_claims_case(aud="another-service"), "'aud'"),
    "audience-not-in-list": (_claims_case(aud=["account", "another"]), "'aud'"),
    "several-audiences-foreign-azp": (_claims_case(aud=[AUDIENCE, "account"], azp="app"), "azp"),
    "several-audiences-no-azp": (_claims_case(aud=[AUDIENCE, "account"], azp=None), "azp"),
    "expired": (_claims_case(exp=NOW - 60), "expired"),
    "not-yet-valid": (_claims_case(nbf=NOW + 3600, exp=NOW + 7200), "'nbf'"),
    "issued-in-the-future": (_claims_case(iat=NOW + 3600, exp=NOW + 7200), "'iat'"),
    "no-subject": (_claims_case(sub=None), "'sub'"),
    "no-expiry": (_claims_case(exp=None), "'exp'"),
    "no-audience": (_claims_case(aud=None), "'aud'"),
}


@pytest.mark.parametrize("case", BAD_CLAIMS.values(), ids=BAD_CLAIMS.keys())
async def test_tokens_with_bad_claims_are_refused(
        issuer: OidcIssuer, make_verifier: VerifierFactory,
        case: tuple[Callable[[OidcIssuer], str], str]) -> None:
    make, reason = case
    assert reason in str(await refusal(make_verifier(), make(issuer)))


async def test_several_audiences_pass_with_an_authorised_party(
        issuer: OidcIssuer, make_verifier: VerifierFactory) -> None:
    token = issuer.mint(aud=[AUDIENCE, "account"], azp="dpi-app")
    verifier = make_verifier(authorized_parties=["dpi-app"])
    assert (await verifier.verify(token, ADDRESS)).roles == {Role.DOCUMENT_READER}


def _forged(issuer: OidcIssuer) -> str:
    """Signed by a key the issuer never published, under the published key's kid."""
    issuer.make_key("forger", publish=False)
    return issuer.mint("forger", header={"kid": "rsa-1"})


BAD_SIGNATURES: dict[str, tuple[Callable[[OidcIssuer], str], str]] = {
    "alg-none": (lambda i: unsigned(i.claims()), "'none'"),
    "alg-none-with-signature": (lambda i: unsigned(i.claims()) + "c2ln", "'none'"),
    "hs256-with-the-public-key": (
        lambda i: hmac_signed(i.claims(), i.keys["rsa-1"].as_pem(private=False)), "'HS256'"),
    "tampered-payload": (lambda i: tampered(i.mint(), sub="someone-else"), "signature"),
    "tampered-roles": (lambda i: tampered(i.mint(), realm_access={"roles": ["hub-operator"]}),
                       "signature"),
    "key-not-in-jwks": (_forged, "signature"),
    "ec-kid-with-rsa-alg": (lambda i: i.mint("rsa-1", header={"kid": "ec-1"}), "type RSA"),
    "not-a-jws": (lambda i: "a.b.c", "JWS"),
}


@pytest.mark.parametrize("case", BAD_SIGNATURES.values(), ids=BAD_SIGNATURES.keys())
async def test_tokens_that_do_not_verify_are_refused(
        issuer: OidcIssuer, make_verifier: VerifierFactory,
        case: tuple[Callable[[OidcIssuer], str], str]) -> None:
    make, reason = case
    verifier = make_verifier()
    await verifier.verify(issuer.mint(), ADDRESS)  # keys cached: refusals are not fetch errors
    assert reason in str(await refusal(verifier, make(issuer)))


async def test_a_token_without_kid_needs_a_single_fitting_key(
        issuer: OidcIssuer, make_verifier: VerifierFactory) -> None:
    verifier = make_verifier()
    assert (await verifier.verify(issuer.mint("ec-1", header={"kid": None}), ADDRESS)).name
    issuer.make_key("rsa-2")
    later = make_verifier()  # reads a JWKS with two RSA keys
    await refusal(later, issuer.mint("rsa-1", header={"kid": None}))


async def test_an_unknown_kid_fetches_the_jwks_once_then_is_refused(
        issuer: OidcIssuer, make_verifier: VerifierFactory) -> None:
    verifier = make_verifier(jwks_uri=issuer.jwks_uri)
    await verifier.verify(issuer.mint(), ADDRESS)
    issuer.make_key("unknown", publish=False)
    assert "'unknown'" in str(await refusal(verifier, issuer.mint("unknown")))
    assert issuer.requests["jwks"] == 2  # the first fetch and one refresh
    issuer.publish("unknown")
    await refusal(verifier, issuer.mint("unknown"))
    assert issuer.requests["jwks"] == 2  # within jwks_min_refresh_s: no other fetch


async def test_a_rotated_key_is_accepted_after_a_refresh(
        issuer: OidcIssuer, make_verifier: VerifierFactory) -> None:
    verifier = make_verifier(jwks_uri=issuer.jwks_uri)  # jwks_min_refresh_s: 30 s
    await verifier.verify(issuer.mint(), ADDRESS)
    issuer.make_key("rsa-2")
    issuer.publish("rsa-1", False)
    principal = await verifier.verify(issuer.mint("rsa-2"), ADDRESS)
    assert principal.roles == {Role.DOCUMENT_READER}
    assert issuer.requests["jwks"] == 2


async def test_a_withdrawn_key_stops_verifying_once_the_cache_expires(
        issuer: OidcIssuer, make_verifier: VerifierFactory) -> None:
    verifier = make_verifier(jwks_uri=issuer.jwks_uri, jwks_cache_s=0.2)
    token = issuer.mint()
    await verifier.verify(token, ADDRESS)
    issuer.publish("rsa-1", False)
    await asyncio.sleep(0.3)
    await refusal(verifier, token)


async def test_a_jwks_endpoint_answering_503_refuses_then_recovers(
        issuer: OidcIssuer, make_verifier: VerifierFactory) -> None:
    verifier = make_verifier(jwks_min_refresh_s=0)
    issuer.jwks_down = True
    assert "could not be fetched" in str(await refusal(verifier, issuer.mint()))
    issuer.jwks_down = False
    assert (await verifier.verify(issuer.mint(), ADDRESS)).kind == "oidc"


async def test_a_failed_fetch_is_not_retried_within_the_minimum_interval(
        issuer: OidcIssuer, make_verifier: VerifierFactory) -> None:
    verifier = make_verifier(jwks_uri=issuer.jwks_uri)
    issuer.jwks_down = True
    await refusal(verifier, issuer.mint())
    issuer.jwks_down = False
    assert "next try" in str(await refusal(verifier, issuer.mint()))
    assert issuer.requests["jwks"] == 1


async def test_an_unreachable_jwks_refuses(
        issuer: OidcIssuer, make_verifier: VerifierFactory) -> None:
    verifier = make_verifier(jwks_uri=f"http://127.0.0.1:{free_port()}/certs", http_timeout_s=2)
    assert "ConnectError" in str(await refusal(verifier, issuer.mint()))


async def test_expired_cached_keys_are_not_used_while_the_jwks_is_down(
        issuer: OidcIssuer, make_verifier: VerifierFactory) -> None:
    verifier = make_verifier(jwks_uri=issuer.jwks_uri, jwks_cache_s=0.2)
    await verifier.verify(issuer.mint(), ADDRESS)
    issuer.jwks_down = True
    await asyncio.sleep(0.3)
    await refusal(verifier, issuer.mint())


async def test_concurrent_first_requests_fetch_the_jwks_once(
        issuer: OidcIssuer, make_verifier: VerifierFactory) -> None:
    verifier = make_verifier()
    tokens = [issuer.mint("rsa-1" if n % 2 else "ec-1") for n in range(20)]
    found = await asyncio.gather(*(verifier.verify(t, ADDRESS) for t in tokens))
    assert {p.id for p in found} == {f"oidc:{issuer.issuer}#f:550e8400:810002345678"}
    assert issuer.requests == {"discovery": 1, "jwks": 1}


def test_a_role_map_naming_no_hub_role_is_a_settings_error(issuer: OidcIssuer) -> None:
    with pytest.raises(ValueError, match=r"role_map\['medecin'\]: \['reader'\]"):
        settings_for(issuer, role_map={"medecin": ["reader"]})


async def test_an_https_issuer_is_trusted_through_its_ca_only(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    with OidcIssuer(tls=(cert, key)) as secure:
        trusting = OidcVerifier(settings_for(secure, tls={"cafile": str(cert)}))
        default = OidcVerifier(settings_for(secure))
        try:
            principal = await trusting.verify(secure.mint(), ADDRESS)
            error = await refusal(default, secure.mint())
        finally:
            await trusting.aclose()
            await default.aclose()
    assert principal.id.startswith("oidc:https://127.0.0.1:")
    assert "ConnectError" in str(error)  # the certificate does not verify: nothing accepted
    assert secure.requests == {"discovery": 1, "jwks": 1}
