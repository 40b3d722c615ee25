"""OpenID Connect bearer tokens: a person's JWT verified against the issuer's keys.

A token (RFC 6750 2.1, a JWS compact serialisation of RFC 7515 7.1 carrying
RFC 7519 claims) is accepted when, in order:

1. its header names an asymmetric algorithm (:data:`ALGORITHMS`): ``none``
   and the HMAC family are refused before any key is looked at, so a token
   signed with the issuer's *public* key as an HMAC secret never verifies
   (RFC 8725 2.1 and 3.1: the algorithm is the verifier's choice, not the token's);
2. the issuer's JWKS (RFC 7517 5) holds a key of that type with the
   token's ``kid``; the JWKS is found by OpenID Connect Discovery 1.0 4 when
   ``jwks_uri`` is not configured, fetched with httpx and cached for
   ``jwks_cache_s``. An unknown ``kid`` fetches it again once (the issuer
   rotated its keys), at most once per ``jwks_min_refresh_s``; a fetch that
   fails refuses the token, it is never a reason to accept one;
3. the signature verifies with that key;
4. the claims hold (OpenID Connect Core 3.1.3.7, RFC 7519 4.1): ``iss`` is
   the configured issuer, ``aud`` names the audience (when it names several,
   ``azp`` is an authorised party), ``exp`` is in the future and ``nbf``,
   ``iat`` are not, within ``leeway_s``, and ``sub`` is present.

The principal then reads (:func:`principal_of`): roles from ``roles_claim``
through ``role_map`` only (an issuer's role called ``admin`` is not the hub's
``admin`` unless the map says so); SMART App Launch scopes from ``scope``;
``acts_as`` from the issuer's settings.
"""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import JWKRegistry, Key
from joserfc.jws import JWSRegistry, extract_compact

from hub.auth.model import ActsAs, AuthenticationError, Principal, Role
from hub.config import OidcSettings, TlsSettings

log = logging.getLogger(__name__)

ALGORITHMS: dict[str, str] = {
    "RS256": "RSA", "RS384": "RSA", "RS512": "RSA",
    "PS256": "RSA", "PS384": "RSA", "PS512": "RSA",
    "ES256": "EC", "ES384": "EC", "ES512": "EC",
    "EdDSA": "OKP", "Ed25519": "OKP",
}
"""Accepted JWS algorithms (RFC 7518 3.3-3.5, RFC 8037) and the key type each needs."""

DISCOVERY_PATH = "/.well-known/openid-configuration"
"""Where an issuer describes itself (OpenID Connect Discovery 1.0 4)."""

SMART_CONTEXTS = ("patient/", "user/", "system/")
"""Scopes kept as permissions (SMART App Launch 2.0 3); ``openid``, ``profile`` grant none."""

_REGISTRY = JWSRegistry(algorithms=list(ALGORITHMS), strict_check_header=False)


def refused(message: str) -> AuthenticationError:
    """A refusal answered 401 with ``error="invalid_token"`` (RFC 6750 3.1)."""
    return AuthenticationError(message, "invalid_token")


class JwksCache:
    """The issuer's signing keys, fetched over HTTP(S) and kept for ``jwks_cache_s``.

    One lock serialises the fetches: requests arriving during one wait for
    it rather than fetching again (``jwks_min_refresh_s`` bounds the rest).
    """

    def __init__(self, settings: OidcSettings, http: httpx.AsyncClient,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.http = http
        self.clock = clock
        self.fetches = 0
        self._keys: list[Key] | None = None
        self._fetched_at = -math.inf
        self._attempted_at = -math.inf
        self._refreshed_at = -math.inf
        self._failed = False
        self._jwks_uri = settings.jwks_uri
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None, alg: str) -> Key:
        """The key verifying a token signed with ``alg`` by key ``kid`` (RFC 7515 4.1.4)."""
        async with self._lock:
            fetched = self.fetches
            found = pick(await self._current(), kid, alg)
            if found is None and self.fetches == fetched and self._may_refresh():
                self._refreshed_at = self.clock()
                found = pick(await self._fetch(), kid, alg)
        if found is None:
            raise refused(f"no key of the issuer's JWKS ({self._jwks_uri}) has kid {kid!r} "
                          f"and type {ALGORITHMS[alg]} for alg {alg}")
        return found

    def _may_refresh(self) -> bool:
        """An unknown ``kid`` fetches again at most once per ``jwks_min_refresh_s``."""
        return self.clock() - self._refreshed_at >= self.settings.jwks_min_refresh_s

    def _retry_wait(self) -> bool:
        """True while a failed fetch is too recent to try again."""
        recent = self.clock() - self._attempted_at < self.settings.jwks_min_refresh_s
        return self._failed and recent

    async def _current(self) -> list[Key]:
        fresh = self.clock() - self._fetched_at < self.settings.jwks_cache_s
        if self._keys is not None and fresh:
            return self._keys
        if self._retry_wait():
            raise refused(f"the issuer's JWKS ({self._jwks_uri or self.settings.issuer}) "
                          "could not be fetched; the next try is within "
                          f"{self.settings.jwks_min_refresh_s:g} s")
        return await self._fetch()

    async def _fetch(self) -> list[Key]:
        self._attempted_at = self.clock()
        self.fetches += 1
        try:
            uri = await self._uri()
            document = await self._get_json(uri, "JWKS")
            keys = list(jwks_keys(document, uri))
        except AuthenticationError:
            self._failed = True
            raise
        self._keys, self._fetched_at, self._failed = keys, self.clock(), False
        log.info("JWKS of %s fetched: %d signing keys", self.settings.issuer, len(keys))
        return keys

    async def _uri(self) -> str:
        """``jwks_uri``, configured or discovered (OpenID Connect Discovery 1.0 4.3)."""
        if self._jwks_uri is None:
            issuer = self.settings.issuer
            document = await self._get_json(issuer.rstrip("/") + DISCOVERY_PATH, "discovery")
            if document.get("issuer") != issuer:
                raise refused(f"the discovery document of {issuer} names the issuer "
                              f"{document.get('issuer')!r} (Discovery 1.0 4.3: must be equal)")
            uri = document.get("jwks_uri")
            if not isinstance(uri, str) or not uri:
                raise refused(f"the discovery document of {issuer} has no jwks_uri")
            self._jwks_uri = uri
        return self._jwks_uri

    async def _get_json(self, url: str, what: str) -> Mapping[str, Any]:
        try:
            response = await self.http.get(url, headers={"Accept": "application/json"},
                                           timeout=self.settings.http_timeout_s)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("OpenID Connect %s at %s could not be fetched: %s", what, url, exc)
            raise refused(f"the issuer's {what} at {url} could not be fetched "
                          f"({type(exc).__name__}): the token cannot be verified") from exc
        if not isinstance(document, dict):
            raise refused(f"the issuer's {what} at {url} is not a JSON object")
        return document


def jwks_keys(document: Mapping[str, Any], uri: str) -> Iterable[Key]:
    """The signature keys of a JWK Set (RFC 7517 5); others and bad ones are skipped."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise refused(f"the JWKS at {uri} has no 'keys' array (RFC 7517 5.1)")
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or entry.get("kty") not in ALGORITHMS.values():
            continue
        if entry.get("use", "sig") != "sig":
            continue
        try:
            yield JWKRegistry.import_key(entry)
        except (JoseError, ValueError, TypeError) as exc:
            log.warning("JWKS %s: keys[%d] (kid %r) skipped: %s", uri, index,
                        entry.get("kid"), exc)


def pick(keys: Iterable[Key], kid: str | None, alg: str) -> Key | None:
    """The one key fit for ``alg`` and ``kid`` (RFC 7517 4.4, 4.5; no ``kid``: the only fit)."""
    fits = [key for key in keys
            if key.key_type == ALGORITHMS[alg] and key.alg in (None, alg)
            and (kid is None or key.kid == kid)]
    if not fits or (kid is None and len(fits) > 1):
        return None
    return fits[0]


def token_header(token: str) -> tuple[str, str | None]:
    """``alg`` and ``kid`` of a JWS compact token, refusing algorithms not accepted."""
    try:
        header = extract_compact(token.encode("ascii"), registry=_REGISTRY).headers()
    except (JoseError, ValueError, UnicodeError) as exc:
        raise refused("the bearer token is not a JWS compact serialisation "
                      f"(RFC 7515 7.1): {exc}") from exc
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALGORITHMS:
        raise refused(f"the token's alg {alg!r} is not accepted: asymmetric signatures only "
                      f"({', '.join(ALGORITHMS)}; RFC 8725 3.1)")
    if kid is not None and not isinstance(kid, str):
        raise refused(f"the token's kid {kid!r} is not a string (RFC 7515 4.1.4)")
    return alg, kid


def verified_claims(token: str, key: Key, alg: str) -> dict[str, Any]:
    """The claims of ``token`` once its signature verifies with ``key`` (RFC 7515 5.2)."""
    try:
        claims = jwt.decode(token, key, algorithms=[alg], registry=_REGISTRY).claims
    except BadSignatureError as exc:
        raise refused(f"the token's signature does not verify with the issuer's key "
                      f"{key.kid!r}") from exc
    except JoseError as exc:
        raise refused(f"the token is not a valid JWT (RFC 7519 7.2): {exc}") from exc
    return claims


def check_claims(claims: Mapping[str, Any], settings: OidcSettings) -> None:
    """``iss``, ``aud``, ``azp``, ``exp``, ``nbf``, ``iat``, ``sub`` (OIDC Core 3.1.3.7)."""
    registry = jwt.JWTClaimsRegistry(
        leeway=math.ceil(settings.leeway_s),
        iss={"essential": True, "value": settings.issuer},
        aud={"essential": True, "value": settings.audience},
        exp={"essential": True}, sub={"essential": True})
    try:
        registry.validate(dict(claims))
    except ExpiredTokenError as exc:
        raise refused(f"the token expired (exp {claims.get('exp')}, leeway "
                      f"{settings.leeway_s:g} s)") from exc
    except MissingClaimError as exc:
        raise refused(f"the token has no {exc.claim!r} claim (RFC 7519 4.1)") from exc
    except ClaimError as exc:
        raise refused(f"the token's {exc.claim!r} claim is not accepted: {exc.description} "
                      f"(expected issuer {settings.issuer!r}, audience "
                      f"{settings.audience!r})") from exc
    check_authorized_party(claims, settings)


def check_authorized_party(claims: Mapping[str, Any], settings: OidcSettings) -> None:
    """With several audiences, ``azp`` must be present and authorised (OIDC Core 3.1.3.7 4-5)."""
    audiences = claims.get("aud")
    if not isinstance(audiences, list) or len(audiences) < 2:
        return
    parties = settings.authorized_parties or [settings.audience]
    azp = claims.get("azp")
    if azp not in parties:
        raise refused(f"the token names several audiences and its azp {azp!r} is not one of "
                      f"{parties} (OpenID Connect Core 3.1.3.7)")


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (``realm_access.roles``), None when absent."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def strings(value: Any) -> list[str]:
    """A claim as a list of strings: a string is one value, a list keeps its strings."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def hub_roles(claims: Mapping[str, Any], settings: OidcSettings) -> frozenset[Role]:
    """Roles named by ``roles_claim`` through ``role_map``; unmapped values grant nothing."""
    found = strings(claim_at(claims, settings.roles_claim))
    return frozenset(Role(role) for value in found for role in settings.role_map.get(value, ()))


def smart_scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """SMART App Launch scopes of the ``scope`` claim (RFC 8693 4.2: space-separated)."""
    scope = claims.get("scope")
    granted = scope.split() if isinstance(scope, str) else strings(scope)
    return frozenset(s for s in granted if s.startswith(SMART_CONTEXTS))


def principal_of(claims: Mapping[str, Any], settings: OidcSettings, address: str) -> Principal:
    """The principal of verified claims (OpenID Connect Core 5.1 for the display name)."""
    subject = str(claims["sub"])
    names = [claims.get(c) for c in ("preferred_username", "name")]
    name = next((n for n in names if isinstance(n, str) and n), subject)
    return Principal(
        id=f"oidc:{claims['iss']}#{subject}", kind="oidc", name=name,
        roles=hub_roles(claims, settings), scopes=smart_scopes(claims),
        acts_as=ActsAs(settings.acts_as), address=address)


def client_tls(tls: TlsSettings | None) -> ssl.SSLContext | bool:
    """What httpx verifies the issuer with: the system's trust store, or ``tls.cafile``
    (TLS 1.2 or later, RFC 8446/5246; ``verify: false`` is for tests only)."""
    if tls is None:
        return True
    context = ssl.create_default_context(cafile=tls.cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls.certfile is not None:
        context.load_cert_chain(tls.certfile, tls.keyfile)
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class OidcVerifier:
    """Verifies an issuer's bearer JWTs and maps them to principals (module docstring)."""

    def __init__(self, settings: OidcSettings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self._own_http = http is None
        self.http = http if http is not None else httpx.AsyncClient(
            timeout=settings.http_timeout_s, follow_redirects=False,
            verify=client_tls(settings.tls))
        self.jwks = JwksCache(settings, self.http)

    async def verify(self, token: str, address: str) -> Principal:
        """The principal of ``token``, or :class:`AuthenticationError` saying why not."""
        alg, kid = token_header(token)
        key = await self.jwks.key(kid, alg)
        claims = verified_claims(token, key, alg)
        check_claims(claims, self.settings)
        return principal_of(claims, self.settings, address)

    async def aclose(self) -> None:
        """Close the HTTP client when the verifier made it."""
        if self._own_http:
            await self.http.aclose()
