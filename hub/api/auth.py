"""Authentication and authorisation of every HTTP route, in one dependency; logging in.

:func:`authorise` runs before every route of the application (an
application-wide FastAPI dependency): it finds the route's rule in
:mod:`hub.auth.policy` (none: 403, deny by default), authenticates the
request unless the rule is public (:mod:`hub.auth.authenticate`), checks the
permission, and leaves ``request.state.principal`` and
``request.state.access_rule`` for the handlers and the audit trail.

Refusals (RFC 6750 3): no credential is 401 with ``WWW-Authenticate: Bearer
realm="hub"``; a credential that does not verify 401 with
``error="invalid_token"`` (``invalid_request`` for another scheme); a
verified principal without the permission 403 naming it, with
``error="insufficient_scope"``. Under ``/fhir`` these are OperationOutcomes.

Routes: ``POST /api/auth/login`` (a session token, also set as an HttpOnly
SameSite=Strict cookie), ``POST /api/auth/logout``, ``GET /api/auth/me``
and ``POST /oauth/token`` (OAuth2 client credentials, RFC 6749 4.4; the
client secret is its API key).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any, cast
from urllib.parse import parse_qsl

import fastapi.routing
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.routing import compile_path

from hub.api.errors import ApiError
from hub.api.tls import peer_certificate
from hub.app import Hub
from hub.auth.authenticate import SESSION_COOKIE, Authenticator
from hub.auth.model import AuthenticationError, Principal
from hub.auth.policy import AccessRule, allowed, rule_for
from hub.auth.store import SESSION_PREFIX

REALM = "hub"
SCHEME_NAME = "bearerToken"
LOGIN_REFUSED = "login or password not accepted"


def challenge(error: str | None, **params: str) -> dict[str, str]:
    """The ``WWW-Authenticate`` header of a refusal (RFC 6750 3)."""
    value = f'Bearer realm="{REALM}"'
    if error:
        value += f', error="{error}"'
    for name, text in params.items():
        value += f', {name}="{text}"'
    return {"WWW-Authenticate": value}


def authenticator(request: Request) -> Authenticator:
    """The application's authenticator (made on first use)."""
    app_state = request.app.state
    found = getattr(app_state, "authenticator", None)
    if found is None:
        found = app_state.authenticator = Authenticator(cast(Hub, app_state.hub))
    return cast(Authenticator, found)


def served_routes(app: FastAPI) -> list[tuple[Any, str, frozenset[str]]]:
    """Every route the application serves: the route object, its full path template
    (the prefixes of the routers it was included through) and its methods."""
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    found = []
    for context in (contexts(app.routes) if contexts else app.routes):
        route = getattr(context, "original_route", context)
        path, methods = getattr(context, "path", None), getattr(context, "methods", None)
        if path and methods:
            found.append((route, str(path), frozenset(methods)))
    return found


def _full_paths(request: Request) -> dict[int, list[str]]:
    """Route object id -> full path templates, read once per application."""
    app_state = request.app.state
    table = getattr(app_state, "route_paths", None)
    if table is None:
        table = {}
        for route, path, _ in served_routes(request.app):
            table.setdefault(id(route), []).append(path)
        app_state.route_paths = table
    return cast(dict[int, list[str]], table)


def route_template(request: Request) -> str | None:
    """The full path template of the route that matched ``request``."""
    route = request.scope.get("route")
    if route is None:
        return None
    paths = _full_paths(request).get(id(route)) or [str(getattr(route, "path", ""))]
    if len(paths) > 1:
        matching = [p for p in paths if compile_path(p)[0].fullmatch(request.url.path)]
        paths = matching or paths
    return paths[0] or None


def route_rule(request: Request) -> AccessRule:
    """The access rule of the matched route; 403 when it has none (deny by default)."""
    path = route_template(request)
    rule = rule_for(request.method, path) if path else None
    if rule is None:
        raise ApiError(403, f"{request.method} {path or request.url.path} has no access rule: "
                       "refused", {"permission": None})
    return rule


async def authenticated(request: Request) -> Principal:
    """The principal of ``request``'s credentials; 401 when there is none that verifies."""
    address = request.client.host if request.client else ""
    try:
        return await authenticator(request).authenticate(
            request.headers.get("authorization"), request.cookies.get(SESSION_COOKIE),
            peer_certificate(request), address)
    except AuthenticationError as exc:
        raise ApiError(401, str(exc), None, challenge(exc.challenge)) from None


async def authorise(request: Request) -> None:
    """Let the request through only when its principal holds its route's permission."""
    rule = route_rule(request)
    request.state.access_rule = rule
    request.state.principal = None
    if rule.public:
        return
    principal = await authenticated(request)
    request.state.principal = principal
    if not allowed(principal, rule):
        raise ApiError(403, f"{principal.id} may not {request.method} {rule.path}: "
                       f"permission '{rule.permission}' needed", {"permission": rule.permission},
                       challenge("insufficient_scope", scope=str(rule.permission)))


def principal_of(request: Request) -> Principal:
    """The principal :func:`authorise` left on ``request`` (routes that need one)."""
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise ApiError(401, "no credential", None, challenge(None))
    return principal


# -- login, logout, me, token ----------------------------------------------------


class Login(BaseModel):
    """The body of ``POST /api/auth/login``."""

    login: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


def describe(principal: Principal) -> dict[str, Any]:
    """The principal as ``/api/auth/me`` shows it."""
    return {"id": principal.id, "kind": principal.kind, "name": principal.name,
            "roles": sorted(principal.roles), "scopes": sorted(principal.scopes),
            "establishments": list(principal.establishments),
            "acts_as": principal.acts_as, "patients": list(principal.patients),
            "source": principal.source}


router = APIRouter(tags=["auth"])


@router.post("/api/auth/login", summary="Open a login session (operators)")
async def login(body: Login, request: Request) -> JSONResponse:
    """A session token for a login and password; refusals are uniform and delayed."""
    hub = cast(Hub, request.app.state.hub)
    store = authenticator(request).store
    user = await store.check_password(body.login, body.password)
    if user is None:
        await asyncio.sleep(hub.settings.auth.failed_login_delay_s)
        raise ApiError(401, LOGIN_REFUSED, None, challenge("invalid_token"))
    ttl = hub.settings.auth.session_ttl_s
    token = await store.open_token("session", user.login, ttl)
    principal = user.principal()
    request.state.principal = principal
    response = JSONResponse({"token": token, "token_type": "Bearer", "expires_in": int(ttl),
                             "principal": describe(principal)},
                            headers={"Cache-Control": "no-store"})
    response.set_cookie(SESSION_COOKIE, token, max_age=int(ttl), path="/", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    return response


@router.post("/api/auth/logout", status_code=204, summary="Close the login session")
async def logout(request: Request) -> Response:
    """Revoke the session presented (bearer or cookie); other credentials are kept."""
    header = request.headers.get("authorization", "")
    token = header.partition(" ")[2].strip() or request.cookies.get(SESSION_COOKIE, "")
    if token.startswith(SESSION_PREFIX):
        await authenticator(request).store.revoke_token(token)
        authenticator(request).forget(token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/api/auth/me", summary="Who the credential says the caller is")
async def me(request: Request) -> dict[str, Any]:
    """The authenticated principal: roles, scopes, establishments, acts-as."""
    return describe(principal_of(request))


def _oauth_error(status: int, error: str, description: str,
                 headers: dict[str, str] | None = None) -> JSONResponse:
    """An RFC 6749 5.2 error response."""
    return JSONResponse({"error": error, "error_description": description},
                        status_code=status, headers={"Cache-Control": "no-store",
                                                     **(headers or {})})


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str, bool]:
    """client_id and secret from HTTP Basic (client_secret_basic) or the form (_post)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return "", "", True
        client_id, _, secret = decoded.partition(":")
        return client_id, secret, True
    return form.get("client_id", ""), form.get("client_secret", ""), False


@router.post("/oauth/token", summary="OAuth2 client credentials: an access token")
async def token(request: Request) -> JSONResponse:
    """RFC 6749 4.4: ``grant_type=client_credentials``; the secret is the client's API key."""
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    if form.get("grant_type") != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type",
                            f"grant_type {form.get('grant_type')!r} is not client_credentials")
    client_id, secret, basic = _client_credentials(request, form)
    store = authenticator(request).store
    client = await store.client_by_key(secret) if secret else None
    if client is None or client.name != client_id:
        hub = cast(Hub, request.app.state.hub)
        await asyncio.sleep(hub.settings.auth.failed_login_delay_s)
        return _oauth_error(401, "invalid_client", "client authentication failed",
                            {"WWW-Authenticate": f'Basic realm="{REALM}"'} if basic else None)
    ttl = cast(Hub, request.app.state.hub).settings.auth.token_ttl_s
    issued = await store.open_token("access", client.name, ttl)
    request.state.principal = client.principal()
    body: dict[str, Any] = {"access_token": issued, "token_type": "Bearer",
                            "expires_in": int(ttl)}
    if client.scopes:
        body["scope"] = " ".join(sorted(client.scopes))
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


# -- OpenAPI -----------------------------------------------------------------------


def document_security(app: FastAPI) -> None:
    """Declare the bearer scheme in ``/openapi.json`` on every route that is not public."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {}).setdefault("securitySchemes", {})[SCHEME_NAME] = {
            "type": "http", "scheme": "bearer",
            "description": "The admin token, an API key, a login session, an OAuth2 access "
                           "token or an OpenID Connect token"}
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                rule = rule_for(method, path)
                if rule is not None and not rule.public:
                    operation["security"] = [{SCHEME_NAME: []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

