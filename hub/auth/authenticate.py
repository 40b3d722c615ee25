"""Who is calling: the principal of an HTTP request, from the credential it presents.

In order (RFC 6750 2.1: the bearer token travels in ``Authorization``):

1. ``Authorization: Bearer <token>``, where the token is the hub's admin token
   (compared in constant time: the bootstrap superuser), an API key
   (``hk_...``), a login session (``hs_...``), an OAuth2 access token
   (``ha_...``) or, when ``auth.oidc`` is set, an OpenID Connect JWT
   (RFC 7519) verified by :class:`hub.auth.oidc.OidcVerifier`;
2. the ``hub_session`` cookie a login sets (for the browser console);
3. the client certificate of a mutual-TLS connection, whose SHA-256
   fingerprint names a client.

A credential that is presented but does not verify is refused; it never
falls back to the next kind. A verified API key or session is trusted for
``auth.credential_cache_s`` before the database is asked again, so that a
request costs no database read; disabling or rotating takes effect in the
running hub within that time.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hub.auth.model import AuthenticationError, PeerCertificate, Principal, Role
from hub.auth.store import (
    ACCESS_TOKEN_PREFIX,
    API_KEY_PREFIX,
    SESSION_PREFIX,
    PrincipalStore,
    digest,
)

if TYPE_CHECKING:
    from hub.app import Hub

SESSION_COOKIE = "hub_session"
ADMIN = Principal(id="admin", kind="admin", name="admin", roles=frozenset({Role.ADMIN}))
_CACHE_LIMIT = 10_000


def token_matches(given: str, expected: str) -> bool:
    """Constant-time comparison of two tokens."""
    return secrets.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def looks_like_jwt(token: str) -> bool:
    """Three base64url parts separated by dots (RFC 7519 3, JWS compact serialisation)."""
    return token.count(".") == 2 and all(token.split("."))


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header, None when there is no header."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError(f"the Authorization scheme {scheme!r} is not Bearer "
                                  "(RFC 6750 2.1)", "invalid_request")
    return token.strip()


class Authenticator:
    """Turns credentials into principals for one hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._store: PrincipalStore | None = None
        self._verifier: Any = None
        self._cache: dict[str, tuple[Principal, float]] = {}

    @property
    def store(self) -> PrincipalStore:
        """The users and clients of the hub's database (once storage is open)."""
        if self._store is None:
            if self.hub.db is None:
                raise AuthenticationError("the hub is not started", None)
            self._store = PrincipalStore(self.hub.db)
        return self._store

    async def authenticate(self, authorization: str | None, cookie: str | None,
                           certificate: PeerCertificate | None, address: str) -> Principal:
        """The principal of a request's credentials (module docstring for the order)."""
        token = bearer_token(authorization) or cookie
        if token is not None:
            principal = await self._token(token, address)
        elif certificate is not None:
            principal = await self._certificate(certificate)
        else:
            raise AuthenticationError("no credential: send Authorization: Bearer <token>",
                                      None)
        return replace(principal, address=address)

    async def _token(self, token: str, address: str) -> Principal:
        if token_matches(token, self.hub.admin_token):
            return ADMIN
        if looks_like_jwt(token) and self.hub.settings.auth.oidc is not None:
            return await self._oidc(token, address)
        key = digest(token)
        cached = self._cache.get(key)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        principal, until = await self._lookup(token)
        self._remember(key, principal, until)
        return principal

    async def _lookup(self, token: str) -> tuple[Principal, float]:
        """The principal of an API key, session or access token, and until when to cache it."""
        horizon = time.time() + self.hub.settings.auth.credential_cache_s
        if token.startswith(API_KEY_PREFIX):
            client = await self.store.client_by_key(token)
            if client is not None:
                return client.principal(), horizon
        elif token.startswith((SESSION_PREFIX, ACCESS_TOKEN_PREFIX)):
            found = await self.store.token_subject(token)
            if found is not None:
                principal = await self._subject(found[0], found[1])
                if principal is not None:
                    return principal, min(horizon, found[2])
        raise AuthenticationError("the bearer token is not valid (unknown, expired, revoked "
                                  "or disabled)")

    async def _subject(self, kind: str, subject: str) -> Principal | None:
        if kind == "session":
            user = await self.store.user(subject)
            return user.principal() if user is not None and not user.disabled else None
        client = await self.store.client(subject)
        return client.principal() if client is not None and not client.disabled else None

    async def _certificate(self, certificate: PeerCertificate) -> Principal:
        client = await self.store.client_by_certificate(certificate.fingerprint_sha256)
        if client is None:
            raise AuthenticationError(
                f"the client certificate '{certificate.subject}' (sha256 "
                f"{certificate.fingerprint_sha256[:16]}...) is not an enabled client's")
        return client.principal()

    async def _oidc(self, token: str, address: str) -> Principal:
        if self._verifier is None:
            from hub.auth.oidc import OidcVerifier

            settings = self.hub.settings.auth.oidc
            assert settings is not None
            self._verifier = OidcVerifier(settings)
        principal: Principal = await self._verifier.verify(token, address)
        return principal

    def _remember(self, key: str, principal: Principal, until: float) -> None:
        if until <= time.time():
            return
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = (principal, until)

    async def aclose(self) -> None:
        """Release what verifying OpenID Connect tokens holds (its HTTP client)."""
        verifier, self._verifier = self._verifier, None
        if verifier is not None:
            await verifier.aclose()

    def forget(self, token: str) -> None:
        """Drop a token from the cache (logout)."""
        self._cache.pop(digest(token), None)
