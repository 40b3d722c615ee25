"""FHIR R4 on the hub's HTTP server: the ``/fhir`` base, its errors and its media type.

Components (identity, repository, imaging) add their FHIR routes through
:func:`fhir_router`; every one of them is authorised by the rules of
:mod:`hub.auth.policy` (only ``/fhir/metadata``, :mod:`hub.api.capabilities`,
is open) and answers errors as an
``OperationOutcome`` (FHIR R4 3.1.0.4: the body of any failed interaction),
never as the admin API's ``{"error": ...}`` shape.

Error mapping, once, at the edge (CONVENTIONS 7):

- :class:`FhirError` -> its status, issue code and diagnostics;
- a request validation problem -> 400 ``invalid`` naming the parameter;
- an unknown path or method under ``/fhir`` -> 404 / 405 ``not-supported``;
- 401 from the authentication -> 401 ``login``, 403 from the authorisation -> ``forbidden``;
- :class:`hub.errors.StorageError` -> 503 ``transient``;
- anything else -> 500 ``exception`` (logged without query: no patient data).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.api.errors import ApiError
from hub.errors import HubError, StorageError

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
FHIR_PREFIX = "/fhir"
FHIR_VERSION = "4.0.1"


class FhirError(HubError):
    """A FHIR interaction that fails: becomes an OperationOutcome with ``status``.

    ``code`` is a FHIR issue-type code (``invalid``, ``not-found``,
    ``not-supported``, ``conflict``, ``duplicate``, ``processing``,
    ``security``...); ``expression`` names where (``Bundle.entry[2].resource``,
    ``sourceIdentifier``).
    """

    def __init__(
        self,
        status: int,
        diagnostics: str,
        *,
        code: str = "processing",
        expression: Sequence[str] = (),
        severity: str = "error",
        issues: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.diagnostics = diagnostics
        self.code = code
        self.expression = list(expression)
        self.severity = severity
        self.extra_issues = list(issues)


def issue(diagnostics: str, *, code: str = "processing", severity: str = "error",
          expression: Sequence[str] = ()) -> dict[str, Any]:
    """One ``OperationOutcome.issue``."""
    item: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        item["expression"] = list(expression)
    return item


def operation_outcome(issues: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """An ``OperationOutcome`` resource with ``issues`` (at least one)."""
    return {"resourceType": "OperationOutcome", "issue": [dict(i) for i in issues]}


class FhirResponse(JSONResponse):
    """A FHIR JSON body with the FHIR media type."""

    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def outcome_response(status: int, issues: Sequence[Mapping[str, Any]],
                     headers: Mapping[str, str] | None = None) -> FhirResponse:
    """An error answer: ``status`` with an OperationOutcome body."""
    return FhirResponse(operation_outcome(issues), status_code=status, headers=dict(headers or {}))


def is_fhir_path(request: Request) -> bool:
    """True for requests under the FHIR base."""
    path = request.url.path
    return path == FHIR_PREFIX or path.startswith(FHIR_PREFIX + "/")


def fhir_error_response(request: Request, exc: Exception) -> Response | None:
    """The OperationOutcome answer for ``exc`` on a FHIR path, None elsewhere."""
    if not is_fhir_path(request):
        return None
    if isinstance(exc, FhirError):
        first = issue(exc.diagnostics, code=exc.code, severity=exc.severity,
                      expression=exc.expression)
        return outcome_response(exc.status, [first, *exc.extra_issues])
    if isinstance(exc, ApiError):
        code = {401: "login", 403: "forbidden"}.get(exc.status, "processing")
        return outcome_response(exc.status, [issue(exc.error, code=code)], exc.headers)
    if isinstance(exc, RequestValidationError):
        return outcome_response(400, [
            issue(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}",
                  code="invalid", expression=[str(e.get("loc", ("",))[-1])])
            for e in exc.errors()
        ])
    if isinstance(exc, StarletteHTTPException):
        code = "not-supported" if exc.status_code in (404, 405) else "processing"
        return outcome_response(exc.status_code, [issue(str(exc.detail), code=code)])
    if isinstance(exc, StorageError):
        return outcome_response(503, [issue("storage unavailable, retry later",
                                            code="transient")], {"Retry-After": "1"})
    log.error("unexpected %s while serving %s", type(exc).__name__, request.url.path)
    return outcome_response(500, [issue("internal error", code="exception")])


def fhir_router(**kwargs: Any) -> APIRouter:
    """A router under ``/fhir``, tagged ``fhir`` (authorised by :mod:`hub.auth.policy`)."""
    return APIRouter(prefix=FHIR_PREFIX,
                     tags=kwargs.pop("tags", ["fhir"]), **kwargs)


def bundle(resources: Sequence[Mapping[str, Any]], *, kind: str = "searchset",
           total: int | None = None, base: str = "", links: Mapping[str, str] | None = None,
           ) -> dict[str, Any]:
    """A ``Bundle`` of ``resources`` (``searchset`` by default) with paging links."""
    entries = []
    for resource in resources:
        entry: dict[str, Any] = {"resource": dict(resource)}
        rid = resource.get("id")
        if rid and base:
            entry["fullUrl"] = f"{base}/{resource['resourceType']}/{rid}"
        if kind == "searchset":
            entry["search"] = {"mode": "match"}
        entries.append(entry)
    result: dict[str, Any] = {"resourceType": "Bundle", "type": kind}
    if total is not None:
        result["total"] = total
    if links:
        result["link"] = [{"relation": rel, "url": url} for rel, url in links.items()]
    result["entry"] = entries
    return result


def base_url(request: Request) -> str:
    """The absolute FHIR base of this request (``http://host:port/fhir``)."""
    return str(request.base_url).rstrip("/") + FHIR_PREFIX


_declared: dict[str, dict[str, Any]] = {}


def declare_capability(resource: Mapping[str, Any]) -> None:
    """Describe the search parameters of a resource type (components call this once).

    The interactions and operations of the CapabilityStatement are read from
    the routes the application serves (:mod:`hub.api.capabilities`); only
    ``searchParam`` and ``documentation`` of a declaration are used.
    """
    _declared.setdefault(str(resource.get("type")), dict(resource))


def declared(kind: str) -> Mapping[str, Any]:
    """What :func:`declare_capability` was told about ``kind`` (empty when nothing)."""
    return _declared.get(kind, {})
