"""``GET /fhir/metadata``: the FHIR R4 CapabilityStatement, read from the routes served.

FHIR R4 RESTful API 3.1.0.13 (capabilities): a client reads it first, before
it has a token, so this is the one FHIR route that needs none. The
statement is built from the application's routes at each request, so it
says what the running hub serves and cannot drift from it (the routes are
read from the application's OpenAPI ``paths``, the public view of them):

- ``POST /fhir`` -> the system ``transaction`` interaction (ITI-65);
- ``GET /fhir/<Type>`` -> ``search-type``, with the route's query
  parameters and the ``searchParam`` a component declared
  (:func:`hub.api.fhir.declare_capability`); ``POST /fhir/<Type>`` -> ``create``;
- ``GET /fhir/<Type>/{id}`` -> ``read``;
- ``/fhir/<Type>/$<op>`` -> an operation with its ``definition``
  (:data:`OPERATION_DEFINITIONS`).

``rest.security`` says how to authenticate (:data:`SECURITY`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter, Request

from hub.api.fhir import FHIR_JSON, FHIR_PREFIX, FHIR_VERSION, FhirResponse, base_url, declared

CAPABILITIES = "metadata"
router = APIRouter(prefix=FHIR_PREFIX, tags=["fhir"])
"""Open to all: the token is not asked here (see the module docstring)."""

RESTFUL_SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
SECURITY: dict[str, Any] = {
    "cors": False,
    "service": [{"coding": [{"system": RESTFUL_SECURITY_SERVICE, "code": "OAuth",
                             "display": "OAuth"}],
                 "text": "OAuth 2.0 bearer token (RFC 6750)"}],
    "description": "Every interaction except this CapabilityStatement needs the header "
                   "'Authorization: Bearer <token>' (RFC 6750), the token being the hub's "
                   "admin token (setting admin_token, or the file admin.token in the data "
                   "directory). A missing or wrong token is answered 401 with a "
                   "'WWW-Authenticate: Bearer' challenge and an OperationOutcome.",
}
"""``rest.security``: an RFC 6750 bearer token is OAuth 2.0's, the closest service code."""

OPERATION_DEFINITIONS = {
    "ihe-pix": "https://profiles.ihe.net/ITI/PIXm/OperationDefinition/IHE.PIXm.pix",
    "match": "http://hl7.org/fhir/OperationDefinition/Patient-match",
}
"""OperationDefinition canonical of each operation (R4 ``operation.definition`` is 1..1)."""

SEARCH_PARAM_TYPES = {
    "family": "string", "given": "string", "name": "string", "birthdate": "date",
    "gender": "token", "identifier": "token", "patient": "reference",
    "patient.identifier": "token", "status": "token", "date": "date",
}
"""Types of the FHIR R4 search parameters known by name; they win over a declared type."""


@router.get(f"/{CAPABILITIES}", summary="CapabilityStatement (no token needed)",
            response_class=FhirResponse)
async def read_capabilities(request: Request) -> FhirResponse:
    """What this server supports (FHIR R4 ``capabilities`` interaction)."""
    paths = request.app.openapi().get("paths", {})
    return FhirResponse(capability_statement(paths, base_url(request)))


def capability_statement(paths: Mapping[str, Any], base: str) -> dict[str, Any]:
    """The R4 CapabilityStatement of the FHIR operations among ``paths`` (OpenAPI
    ``paths``: what the application serves), the FHIR base being ``base``."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "name": "RegionalHub",
        "date": time.strftime("%Y-%m-%d"),
        "kind": "instance",
        "software": {"name": "regional-hub", "version": hub_version()},
        "implementation": {"description": "Regional hub", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": [FHIR_JSON, "json"],
        "rest": [capability_rest(paths)],
    }


def capability_rest(paths: Mapping[str, Any]) -> dict[str, Any]:
    """``CapabilityStatement.rest``: security, resources and system interactions."""
    resources: dict[str, _ResourceCapability] = {}
    system: set[str] = set()
    for method, parts, spec in fhir_operations(paths):
        if not parts:
            if method == "post":
                system.add("transaction")  # ITI-65 posts a transaction Bundle to the base
            continue
        if parts == [CAPABILITIES]:
            continue
        resources.setdefault(parts[0], _ResourceCapability(parts[0])).add(method, parts, spec)
    rest: dict[str, Any] = {"mode": "server", "security": SECURITY,
                            "resource": [resources[t].to_json() for t in sorted(resources)]}
    if system:
        rest["interaction"] = [{"code": code} for code in sorted(system)]
    return rest


def fhir_operations(paths: Mapping[str, Any]) -> list[tuple[str, list[str], Mapping[str, Any]]]:
    """``(method, path segments after /fhir, OpenAPI operation)`` of every FHIR route."""
    found = []
    for path, methods in paths.items():
        if not (path == FHIR_PREFIX or path.startswith(FHIR_PREFIX + "/")):
            continue
        parts = [p for p in path[len(FHIR_PREFIX):].split("/") if p]
        for method, spec in sorted(methods.items()):
            if method in _HTTP_METHODS:
                found.append((method, parts, spec))
    return found


_HTTP_METHODS = {"get", "put", "post", "delete", "patch"}


class _ResourceCapability:
    """One ``rest.resource``, gathered from the routes of its type."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.interactions: set[str] = set()
        self.operations: set[str] = set()
        self.params: dict[str, str] = {}

    def add(self, method: str, parts: list[str], spec: Mapping[str, Any]) -> None:
        """Record what ``method`` on ``[base]/<parts>`` is (FHIR R4 RESTful API 3.1.0)."""
        where = f"{method.upper()} {FHIR_PREFIX}/{'/'.join(parts)}"
        if len(parts) == 2 and parts[1].startswith("$"):
            self.operations.add(parts[1][1:])
        elif len(parts) == 1 and method in ("get", "post"):
            self.interactions.add("search-type" if method == "get" else "create")
            if method == "get":
                self.params.update({p["name"]: SEARCH_PARAM_TYPES.get(p["name"], "string")
                                    for p in spec.get("parameters", [])
                                    if p.get("in") == "query" and not p["name"].startswith("_")})
        elif len(parts) == 2 and method in _INSTANCE:
            self.interactions.add(_INSTANCE[method])
        else:
            raise ValueError(f"{where} is no FHIR interaction this CapabilityStatement "
                             "can describe")

    def to_json(self) -> dict[str, Any]:
        """The ``rest.resource`` entry."""
        spec = declared(self.kind)
        params = dict(self.params)
        if "search-type" in self.interactions:
            for param in spec.get("searchParam", []):
                name = str(param["name"])
                params[name] = SEARCH_PARAM_TYPES.get(name, str(param.get("type", "string")))
        entry: dict[str, Any] = {"type": self.kind}
        if spec.get("documentation"):
            entry["documentation"] = spec["documentation"]
        entry["interaction"] = [{"code": code} for code in sorted(self.interactions)]
        if params:
            entry["searchParam"] = [{"name": n, "type": t} for n, t in sorted(params.items())]
        if self.operations:
            entry["operation"] = [operation(name) for name in sorted(self.operations)]
        return entry


_INSTANCE = {"get": "read", "put": "update", "delete": "delete"}


def operation(name: str) -> dict[str, str]:
    """``rest.resource.operation`` of ``$name``, with its OperationDefinition."""
    definition = OPERATION_DEFINITIONS.get(name)
    if definition is None:
        raise KeyError(f"operation ${name} has no entry in "
                       "hub.api.capabilities.OPERATION_DEFINITIONS")
    return {"name": name, "definition": definition}


def hub_version() -> str:
    """The installed version of the hub (``0+unknown`` when it runs from a plain checkout)."""
    try:
        return version("regional-hub")
    except PackageNotFoundError:
        return "0+unknown"
