"""An OpenID Connect issuer for tests: discovery and JWKS over real HTTP, tokens minted here.

:class:`OidcIssuer` serves, on 127.0.0.1 and a port chosen at run time,
what a relying party reads from Keycloak or Pro Santé Connect:

- ``<issuer>/.well-known/openid-configuration`` (OpenID Connect Discovery 1.0 3),
- ``<issuer>/protocol/openid-connect/certs``, the JWK Set (RFC 7517 5) of
  the *published* keys, public parts only.

It runs uvicorn in a thread with its own event loop, as a separate server
would, so a hub in the test's loop fetches from it over a socket; given a
certificate and key (:func:`tests.support.certs.make_certificate`) it
serves HTTPS.
Keys are made with joserfc (RSA 2048 and EC P-256 to start with); a key can
be made and kept unpublished (a forger's), published later (rotation) or
withdrawn. ``jwks_down`` makes the JWKS answer 503; ``requests`` counts
what was asked.

:meth:`OidcIssuer.mint` signs a token with chosen claims, header and key;
:func:`unsigned`, :func:`hmac_signed` and :func:`tampered` build the
tokens a verifier must refuse (RFC 8725 2.1, 3.1).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from joserfc import jwt
from joserfc.jwk import ECKey, Key, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

REALM_PATH = "/realms/hub"
CERTS_PATH = "/protocol/openid-connect/certs"
AUDIENCE = "regional-hub"


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    """A JSON value as a JWS header or payload part."""
    return b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


class OidcIssuer:
    """A running OpenID Connect issuer (module docstring)."""

    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        self.tls = tls
        self.keys: dict[str, Key] = {}
        self.published: set[str] = set()
        self.jwks_down = False
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.base = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.issuer = self.base + REALM_PATH
        self.jwks_uri = self.issuer + CERTS_PATH
        self.make_key("rsa-1", "RSA")
        self.make_key("ec-1", "EC")
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def make_key(self, kid: str, kty: str = "RSA", publish: bool = True) -> Key:
        """A new signing key ``kid`` (RSA 2048 or EC P-256), published unless told not."""
        key: Key = (RSAKey.generate_key(2048, {"kid": kid, "use": "sig"}) if kty == "RSA"
                    else ECKey.generate_key("P-256", {"kid": kid, "use": "sig"}))
        with self._lock:
            self.keys[kid] = key
            if publish:
                self.published.add(kid)
        return key

    def publish(self, kid: str, published: bool = True) -> None:
        """Put key ``kid`` in the JWKS (rotation) or take it out (withdrawal)."""
        with self._lock:
            (self.published.add if published else self.published.discard)(kid)

    def jwks(self) -> dict[str, Any]:
        """The JWK Set as served: public parts of the published keys."""
        with self._lock:
            return {"keys": [self.keys[kid].as_dict(private=False)
                             for kid in sorted(self.published)]}

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Claims of a valid professional's token; ``None`` as a value drops the claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": AUDIENCE, "sub": "f:550e8400:810002345678",
            "azp": AUDIENCE, "iat": now, "nbf": now, "exp": now + 300,
            "preferred_username": "810002345678", "name": "Jeanne Martin",
            "realm_access": {"roles": ["medecin"]},
            "scope": "openid profile user/DocumentReference.read",
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def mint(self, kid: str = "rsa-1", alg: str | None = None,
             header: dict[str, Any] | None = None, **claims: Any) -> str:
        """A token signed by key ``kid`` (RS256 for RSA, ES256 for EC unless ``alg``);
        ``header`` adds or replaces header parameters, ``None`` drops one."""
        key = self.keys[kid]
        chosen = alg or ("RS256" if key.key_type == "RSA" else "ES256")
        headers = {"alg": chosen, "kid": kid, "typ": "JWT", **(header or {})}
        headers = {name: value for name, value in headers.items() if value is not None}
        return jwt.encode(headers, self.claims(**claims), key, algorithms=[chosen])

    def app(self) -> Starlette:
        """The issuer's two endpoints."""
        return Starlette(routes=[
            Route(REALM_PATH + "/.well-known/openid-configuration", self._discovery),
            Route(REALM_PATH + CERTS_PATH, self._certs),
        ])

    async def _discovery(self, request: Request) -> Response:
        self.requests["discovery"] += 1
        return JSONResponse({
            "issuer": self.issuer, "jwks_uri": self.jwks_uri,
            "authorization_endpoint": self.issuer + "/protocol/openid-connect/auth",
            "token_endpoint": self.issuer + "/protocol/openid-connect/token",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        })

    async def _certs(self, request: Request) -> Response:
        self.requests["jwks"] += 1
        if self.jwks_down:
            return JSONResponse({"error": "unavailable"}, status_code=503)
        return JSONResponse(self.jwks())

    def start(self) -> OidcIssuer:
        """Serve in a thread; return once connections are accepted."""
        certificate = {"ssl_certfile": str(self.tls[0]), "ssl_keyfile": str(self.tls[1])
                       } if self.tls else {}
        config = uvicorn.Config(self.app(), log_level="warning", log_config=None,
                                access_log=False, lifespan="off", loop="asyncio",
                                **certificate)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test OpenID Connect issuer did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
        self._sock.close()

    def __enter__(self) -> OidcIssuer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


def unsigned(claims: dict[str, Any], kid: str = "rsa-1") -> str:
    """An unsecured JWS (RFC 7519 6.1: ``alg: none``, empty signature)."""
    return f"{b64url_json({'alg': 'none', 'kid': kid})}.{b64url_json(claims)}."


def hmac_signed(claims: dict[str, Any], secret: bytes, kid: str = "rsa-1") -> str:
    """An HS256 token whose HMAC secret is ``secret`` (the key-confusion attack:
    the issuer's public key in PEM as the secret, RFC 8725 2.1)."""
    signing_input = f"{b64url_json({'alg': 'HS256', 'kid': kid})}.{b64url_json(claims)}"
    mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def tampered(token: str, **changes: Any) -> str:
    """``token`` with claims changed and the original signature kept."""
    header, payload, signature = token.split(".")
    padded = payload + "=" * (-len(payload) % 4)
    claims = json.loads(base64.urlsafe_b64decode(padded))
    claims.update(changes)
    return f"{header}.{b64url_json(claims)}.{signature}"
