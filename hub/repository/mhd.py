"""MHD on FHIR R4 (ITI-65, 66, 67, 68) and the plain CDA upload, on the hub's HTTP server.

Every route needs the admin bearer token (``hub.api.fhir.fhir_router``);
FHIR errors are OperationOutcomes. Every request body is journaled before the
answer: with the documents it filed, in one transaction, or as ``rejected``
with the reason (:mod:`hub.intake_http`).

- ``POST /fhir`` ITI-65 Provide Document Bundle (transaction, atomic);
- ``GET /fhir/DocumentReference`` ITI-67 (parameters in
  :mod:`hub.repository.search`), ``GET /fhir/DocumentReference/{id}``;
- ``GET /fhir/Binary/{id}`` ITI-68: the bytes, their media type, ``ETag``
  (SHA-256) and ``Digest``; ``Accept: application/fhir+json`` gives a Binary;
- ``GET /fhir/List`` ITI-66 (SubmissionSets by patient);
- ``POST /fhir/Binary`` and ``POST /documents``: a CDA document as the body,
  metadata from its header.

Who reads is told by ``X-Hub-Reader`` / ``X-Hub-Break-Glass`` (see
:mod:`hub.repository.search`); hidden documents answer 404, as unknown ones.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from hub.api.auth import require_admin
from hub.api.errors import ApiError
from hub.api.fhir import FHIR_JSON, FhirError, FhirResponse, base_url, bundle, fhir_router
from hub.errors import MappingError
from hub.intake_http import HttpArrival
from hub.repository import search as s
from hub.repository.iti65 import ProvideBundle, cda_patient, parse_provide_bundle
from hub.repository.model import Filed, Filing, RepositoryError, Submission, as_oid
from hub.repository.resources import document_reference, submission_list
from mappings.cda import map_cda

if TYPE_CHECKING:
    from hub.repository import RepositoryComponent

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024 * 1024
_HTTP_STATUS = {"conflict": 409, "not-found": 422, "business-rule": 422}


def access_of(request: Request) -> s.Access:
    """The reader and break-the-glass of a request (headers ``X-Hub-Reader``, ``-Break-Glass``)."""
    raw = request.headers.get("x-hub-reader", s.Reader.PROFESSIONAL.value)
    try:
        reader = s.Reader(raw)
    except ValueError:
        raise FhirError(400, f"X-Hub-Reader {raw!r} is not one of "
                        f"{', '.join(r.value for r in s.Reader)}", code="invalid",
                        expression=["X-Hub-Reader"]) from None
    glass = bool(request.headers.get("x-hub-break-glass", "").strip())
    if glass and reader is s.Reader.PROFESSIONAL:
        log.warning("break-the-glass access to the repository from %s", _peer(request))
    return s.Access(reader, glass)


def _peer(request: Request) -> str:
    client = request.client
    return f"{client.host}:{client.port}" if client else "unknown"


async def _body(request: Request) -> bytes:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise FhirError(413, f"the body is {len(body)} bytes, over {MAX_BODY}", code="too-large")
    if not body:
        raise FhirError(400, "the body is empty", code="required")
    return body


def repository_error(exc: RepositoryError, where: str) -> FhirError:
    """The OperationOutcome of a refused filing, naming ``where``."""
    return FhirError(_HTTP_STATUS.get(exc.fhir_code, 422), f"{where}: {exc}",
                     code=exc.fhir_code, expression=[where])


def _search_error(exc: s.SearchError) -> FhirError:
    return FhirError(400, str(exc), code="invalid", expression=[exc.parameter])


class MhdApi:
    """The route handlers, bound to one repository component."""

    def __init__(self, component: RepositoryComponent) -> None:
        self.c = component

    # -- ITI-65 -----------------------------------------------------------------

    async def provide(self, request: Request) -> FhirResponse:
        """ITI-65 Provide Document Bundle (MHD 2.3.2.65): all or nothing."""
        body = await _body(request)
        arrival = HttpArrival(body, "fhir", "ITI-65", _peer(request))
        try:
            provided = parse_provide_bundle(body)
            filings = await self._resolve_replacements(provided)
            list_id, filed = await self._file(arrival, filings, Submission(
                "http", self._source_id(provided), provided.submission_unique_id,
                title=provided.title), control_id=provided.submission_unique_id or "")
        except RepositoryError as exc:
            where = f"Bundle.entry[{provided.documents[exc.index].entry}]"
            await self.c.http_intake.rejected(arrival, f"{where}: {exc}")
            raise repository_error(exc, where) from None
        except FhirError as exc:
            await self.c.http_intake.rejected(arrival, exc.diagnostics)
            raise
        return FhirResponse(self._transaction_response(provided, list_id, filed),
                            status_code=200)

    def _source_id(self, provided: ProvideBundle) -> str:
        """The SubmissionSet's ``ihe-sourceId`` as an OID (MHD: 1..1, an OID); the hub's
        own when the Bundle gives none; a value that is not an OID is refused."""
        if provided.source_id in ("", "http"):
            return self.c.source_oid
        oid = as_oid(provided.source_id)
        if oid is None:
            where = f"Bundle.entry[{provided.list_entry}].resource.extension"
            raise FhirError(400, f"{where}: ihe-sourceId {provided.source_id!r} is not an OID",
                            code="invalid", expression=[where])
        return oid

    async def _resolve_replacements(self, provided: ProvideBundle) -> list[Filing]:
        """relatesTo ``DocumentReference/<id>`` -> the uniqueId of that stored version."""
        filings = []
        for doc in provided.documents:
            filing = doc.filing
            if doc.replaces_reference is not None:
                row = await self.c.repository.get(doc.replaces_reference.split("/", 1)[1])
                if row is None:
                    where = f"Bundle.entry[{doc.entry}].resource.relatesTo"
                    raise FhirError(422, f"{where}: {doc.replaces_reference} is not in the "
                                    "repository", code="not-found", expression=[where])
                filing = replace(filing, replaces=str(row["unique_id"]))
            filings.append(filing)
        return filings

    async def _file(self, arrival: HttpArrival, filings: Sequence[Filing],
                    submission: Submission, control_id: str) -> tuple[str | None, list[Filed]]:
        subject = filings[0].patient
        first = subject.ins or (subject.identifiers[0] if subject.identifiers else None)
        arrival = replace(arrival, control_id=control_id,
                          patient_key=f"{first[1]}@{first[0]}" if first else None)
        message_id, ops = self.c.http_intake.accepted(
            arrival, destination="repository", detail=f"{len(filings)} document(s) filed")
        return await self.c.repository.file(filings, replace(submission, message_id=message_id),
                                            extra_ops=ops)

    @staticmethod
    def _transaction_response(provided: ProvideBundle, list_id: str | None,
                              filed: Sequence[Filed]) -> dict[str, Any]:
        answers: dict[int, dict[str, str]] = {
            provided.list_entry: {"status": "201 Created" if list_id else "200 OK",
                                  **({"location": f"List/{list_id}"} if list_id else {})}}
        for doc, outcome in zip(provided.documents, filed, strict=True):
            status = "200 OK" if outcome.outcome == "unchanged" else "201 Created"
            answers[doc.entry] = {"status": status,
                                  "location": f"DocumentReference/{outcome.id}"}
            answers[doc.binary_entry] = {"status": status, "location": f"Binary/{outcome.id}"}
        entries = [{"response": answers.get(i, {"status": "200 OK"})}
                   for i in range(provided.entry_count)]
        return {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}

    # -- plain upload -----------------------------------------------------------

    async def upload(self, request: Request) -> tuple[Filed, dict[str, Any]]:
        """One CDA document as the body: file it with the metadata of its header."""
        body = await _body(request)
        arrival = HttpArrival(body, "cda", "CDA", _peer(request))
        try:
            mapping = map_cda(body, results=False)
            filing = Filing(mapping, body, cda_patient(mapping))
            _, filed = await self._file(arrival, [filing],
                                        Submission("http", self.c.source_oid),
                                        control_id=mapping.entry.unique_id)
        except MappingError as exc:
            await self.c.http_intake.rejected(arrival, str(exc))
            raise FhirError(422, f"the CDA document is refused: {exc}",
                            code="business-rule", expression=[exc.location or "body"]) from None
        except RepositoryError as exc:
            await self.c.http_intake.rejected(arrival, str(exc))
            raise repository_error(exc, "body") from None
        row = await self.c.repository.get(filed[0].id)
        assert row is not None
        patient = await self._patient_ids([row])
        return filed[0], document_reference(row, base_url(request), patient[row["id"]])

    async def post_binary(self, request: Request) -> FhirResponse:
        """``POST /fhir/Binary`` with a CDA body: 201 and the DocumentReference."""
        outcome, resource = await self.upload(request)
        status = 200 if outcome.outcome == "unchanged" else 201
        return FhirResponse(resource, status_code=status,
                            headers={"Location": f"DocumentReference/{outcome.id}"})

    async def post_document(self, request: Request) -> Response:
        """``POST /documents`` with a CDA body: 201 and a short JSON summary."""
        try:
            outcome, resource = await self.upload(request)
        except FhirError as exc:
            raise ApiError(exc.status, exc.diagnostics) from None
        body = {"id": outcome.id, "unique_id": outcome.unique_id, "outcome": outcome.outcome,
                "status": outcome.status, "note": outcome.note,
                "url": resource["content"][0]["attachment"]["url"]}
        return JSONResponse(body, status_code=200 if outcome.outcome == "unchanged" else 201)

    # -- ITI-67 / ITI-66 ---------------------------------------------------------

    async def find_document_references(self, request: Request) -> FhirResponse:
        """ITI-67 Find Document References (MHD 2.3.2.67): a searchset Bundle, paged."""
        try:
            criteria = criteria_of(request.query_params.multi_items(), self._regional_system())
        except s.SearchError as exc:
            raise _search_error(exc) from None
        rows, total = await self.c.repository.search(criteria, access_of(request))
        base = base_url(request)
        patients = await self._patient_ids(rows)
        resources = [document_reference(r, base, patients[r["id"]]) for r in rows]
        links = _paging(request, criteria.offset, criteria.count, total)
        return FhirResponse(bundle(resources, total=total, base=base, links=links))

    async def read_document_reference(self, request: Request, doc_id: str) -> FhirResponse:
        """Read one DocumentReference (404 when unknown or hidden from this reader)."""
        row = await self._visible(doc_id, request)
        patient = await self._patient_ids([row])
        return FhirResponse(document_reference(row, base_url(request), patient[row["id"]]))

    async def retrieve(self, request: Request, doc_id: str) -> Response:
        """ITI-68 Retrieve Document (MHD 2.3.2.68): the exact bytes filed."""
        row = await self._visible(doc_id, request)
        data = await self.c.repository.content(row)
        digest = bytes.fromhex(row["sha256"])  # the blob's name: the SHA-256 of these bytes
        headers = {"ETag": f'"{digest.hex()}"',
                   "Digest": "sha-256=" + base64.b64encode(digest).decode("ascii")}
        if FHIR_JSON in request.headers.get("accept", ""):
            return FhirResponse({"resourceType": "Binary", "id": doc_id,
                                 "contentType": row["mime_type"],
                                 "data": base64.b64encode(data).decode("ascii")}, headers=headers)
        return Response(data, media_type=row["mime_type"], headers=headers)

    async def _visible(self, doc_id: str, request: Request) -> dict[str, Any]:
        row = await self.c.repository.get(doc_id)
        if row is None or not self.c.repository.may_see(row, access_of(request)):
            raise FhirError(404, f"DocumentReference/{doc_id} is not known", code="not-found")
        return row

    async def find_lists(self, request: Request) -> FhirResponse:
        """ITI-66 Find Document Lists (MHD 2.3.2.66): SubmissionSets of a patient."""
        params = request.query_params
        try:
            criteria = s.SubmissionCriteria(_patient_of(params, self._regional_system()),
                                            s.parse_count(params.get("_count")),
                                            s.parse_offset(params.get("_offset")))
        except s.SearchError as exc:
            raise _search_error(exc) from None
        found = await self.c.repository.submissions(criteria)
        base = base_url(request)
        patients = await self._patient_ids([row for row, _ in found], documents=False)
        return FhirResponse(bundle([submission_list(r, m, patients[r["id"]]) for r, m in found],
                                   base=base))

    # -- subjects ----------------------------------------------------------------

    def _regional_system(self) -> str | None:
        """The system of regional identities, when the identity service runs (else None)."""
        hub = self.c.hub
        if not any(c.name == "identity" for c in hub.components):
            return None
        return str(hub.settings.identity.regional_system)

    async def _patient_ids(self, rows: Sequence[Mapping[str, Any]],
                           documents: bool = True) -> dict[str, str | None]:
        """Row id -> the Patient id (regional identity) of its subject, None when the
        identity service does not know the patient (or does not run).

        The subject identifier is asked first; for a document it does not
        resolve (an INS the SRRI holds unqualified), every identifier the
        document was filed under is asked in turn.
        """
        if self._regional_system() is None:
            return {row["id"]: None for row in rows}
        known: dict[tuple[str, str], str | None] = {}

        async def regional(identifier: tuple[str, str]) -> str | None:
            if identifier not in known:
                view = await self.c.hub.patients.lookup(identifier)
                known[identifier] = view.regional_id if view is not None else None
            return known[identifier]

        found: dict[str, str | None] = {}
        for row in rows:
            patient = await regional((str(row["patient_system"]), str(row["patient_value"])))
            if patient is None and documents:
                for identifier in await self.c.repository.filed_under(row["id"]):
                    if (patient := await regional(identifier)) is not None:
                        break
            found[row["id"]] = patient
        return found


def _patient_of(params: Mapping[str, str], regional_system: str | None = None) -> tuple[str, str]:
    if params.get("patient.identifier"):
        return s.parse_identifier(params["patient.identifier"])
    if params.get("patient"):
        return s.parse_patient(params["patient"], regional_system)
    raise s.SearchError("patient", "patient or patient.identifier is required (MHD ITI-67)")


_DATES = ("date", "creation", "period")
_KNOWN = {"patient", "patient.identifier", "status", "author.family", "related", "_count",
          "_offset", "security-label", *s.TOKEN_COLUMNS, *_DATES}


def criteria_of(items: Sequence[tuple[str, str]],
                regional_system: str | None = None) -> s.Criteria:
    """The ITI-67 criteria of a query string (unknown parameters are an error);
    ``regional_system`` lets ``patient`` name a regional identity (PDQm's Patient id)."""
    params: dict[str, list[str]] = {}
    for name, value in items:
        if name not in _KNOWN:
            raise s.SearchError(name, f"is not a supported search parameter; supported: "
                                f"{', '.join(sorted(_KNOWN))}")
        params.setdefault(name, []).append(value)
    first = {name: values[0] for name, values in params.items()}
    tokens = tuple((name, s.parse_tokens(first[name]))
                   for name in (*s.TOKEN_COLUMNS, "security-label") if name in first)
    dates = {key: tuple(s.parse_date(v, key) for v in params.get(key, [])) for key in _DATES}
    related = first.get("related")
    return s.Criteria(
        patient=_patient_of(first, regional_system),
        status=s.parse_statuses(first["status"]) if "status" in first else (),
        tokens=tokens, date=dates["date"], creation=dates["creation"], period=dates["period"],
        author_family=first.get("author.family"),
        related=related.rsplit("/", 1)[-1] if related else None,
        count=s.parse_count(first.get("_count")), offset=s.parse_offset(first.get("_offset")))


def _paging(request: Request, offset: int, count: int, total: int) -> dict[str, str]:
    links = {"self": str(request.url)}
    if offset + count < total:
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "_offset"]
        links["next"] = str(request.url).split("?", 1)[0] + "?" + urlencode(
            [*query, ("_offset", str(offset + count))])
    return links


def routers(component: RepositoryComponent) -> list[APIRouter]:
    """The FHIR router (``/fhir``) and the plain upload router (``/documents``)."""
    api = MhdApi(component)
    fhir = fhir_router(tags=["mhd"])
    add: Callable[..., Any] = fhir.add_api_route
    add("", api.provide, methods=["POST"], summary="ITI-65 Provide Document Bundle")
    add("/", api.provide, methods=["POST"], include_in_schema=False)
    add("/DocumentReference", api.find_document_references, methods=["GET"],
        summary="ITI-67 Find Document References")
    add("/DocumentReference/{doc_id}", api.read_document_reference, methods=["GET"],
        summary="Read a DocumentReference")
    add("/Binary/{doc_id}", api.retrieve, methods=["GET"], summary="ITI-68 Retrieve Document")
    add("/Binary", api.post_binary, methods=["POST"], summary="Upload a CDA document")
    add("/List", api.find_lists, methods=["GET"], summary="ITI-66 Find Document Lists")
    plain = APIRouter(dependencies=[Depends(require_admin)], tags=["documents"])
    plain.add_api_route("/documents", api.post_document, methods=["POST"],
                        summary="Upload a CDA document (metadata from its header)")
    return [fhir, plain]
