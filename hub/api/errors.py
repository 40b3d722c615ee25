"""Errors of the HTTP API and the one place they become JSON responses.

Every error body is ``{"error": "<sentence>", "detail": <anything or null>}``.
The mapping, by class (CONVENTIONS 7: exceptions become the protocol's answer
once, at the edge):

- :class:`ApiError` -> its own status (401, 404, 422, 503), raised by routes;
- ``RequestValidationError`` -> 422, a query parameter or body is malformed;
- Starlette ``HTTPException`` -> its own status (unknown path 404, method 405);
- :class:`hub.errors.ConfigError` -> 422, an operation names something not configured;
- :class:`hub.errors.StorageError` -> 503, journal, blobs or broker unavailable;
- :class:`hub.errors.MappingError` -> 422, the content cannot be mapped (names the place);
- any other exception -> 500, logged with the path only (no query: no patient data).

An exception no handler takes is answered 500 by :class:`AnswerUnexpected`
rather than by Starlette's server-error middleware, which re-raises it:
the server then closes the connection and the client's next request on it
fails. The answer is the same, the connection stays usable.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.errors import ConfigError, HubError, MappingError, StorageError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer other than success, raised from a route or a dependency."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = dict(headers or {})


def error_response(
    status: int, error: str, detail: Any = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The JSON body every error of the API uses."""
    body = {"error": error, "detail": jsonable_encoder(detail)}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def not_found(what: str, key: str) -> ApiError:
    """404 naming the kind of thing and the key that was not found."""
    return ApiError(404, f"{what} '{key}' not found", {what: key})


def unknown_destination(name: str, known: Iterable[str]) -> ApiError:
    """422 naming the destination and the configured ones."""
    valid = sorted(known)
    return ApiError(
        422,
        f"destination {name!r} is not configured; known: {', '.join(valid) or 'none'}",
        {"destination": name, "valid": valid},
    )


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.error, exc.detail, exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"loc": list(item.get("loc", ())), "msg": item.get("msg", "")} for item in exc.errors()
    ]
    return error_response(422, "invalid request", problems)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, str(exc.detail), None, exc.headers)


async def _config_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConfigError)
    return error_response(422, str(exc), {"key": exc.key})


async def _storage_error(request: Request, exc: Exception) -> JSONResponse:
    log.warning("storage unavailable while serving %s: %s", request.url.path, type(exc).__name__)
    return error_response(503, "storage unavailable, retry later", str(exc))


def mapping_failed(exc: MappingError) -> ApiError:
    """422 naming what could not be mapped and where."""
    return ApiError(422, f"the content cannot be mapped: {exc}", {"location": exc.location})


async def _mapping_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MappingError)
    error = mapping_failed(exc)
    return error_response(error.status, error.error, error.detail)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected %s while serving %s", type(exc).__name__, request.url.path)
    return error_response(500, "internal error", None)


Handler = Callable[[Request, Exception], Awaitable[Response]]
Override = Callable[[Request, Exception], Response | None]


def install_error_handlers(app: FastAPI, override: Override | None = None) -> None:
    """Register the mapping above on ``app``.

    ``override`` answers first when it returns a response: the FHIR base
    answers OperationOutcomes for its own paths (:mod:`hub.api.fhir`).
    """
    handlers: list[tuple[type[Exception], Handler]] = [
        (ApiError, _api_error),
        (RequestValidationError, _validation_error),
        (StarletteHTTPException, _http_error),
        (ConfigError, _config_error),
        (StorageError, _storage_error),
        (MappingError, _mapping_error),
        # The hub's own errors (FhirError among them) are answered here by
        # Starlette's exception middleware: the catch-all below runs in the
        # server-error middleware, which re-raises and drops the connection.
        (HubError, _internal_error),
        (Exception, _internal_error),
    ]
    for exc_class, handler in handlers:
        app.add_exception_handler(exc_class, _first(override, handler))
    app.add_middleware(AnswerUnexpected, answer=_first(override, _internal_error))


def _first(override: Override | None, handler: Handler) -> Handler:
    if override is None:
        return handler

    async def answer(request: Request, exc: Exception) -> Response:
        # A MappingError reaches the override as the 422 ApiError it means, so
        # a FHIR path answers it as an OperationOutcome too.
        seen = mapping_failed(exc) if isinstance(exc, MappingError) else exc
        response = override(request, seen)
        return response if response is not None else await handler(request, exc)

    return answer


class AnswerUnexpected:
    """ASGI middleware: an exception raised before the response started is answered.

    ``answer`` builds the response (500, or the OperationOutcome of a FHIR
    path); an exception after the response started is re-raised, as nothing
    else can be sent.
    """

    def __init__(self, app: ASGIApp, answer: Handler) -> None:
        self.app = app
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the application; answer what it raised if nothing was sent yet."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:
                raise
            response = await self.answer(Request(scope), exc)
            await response(scope, receive, send)
