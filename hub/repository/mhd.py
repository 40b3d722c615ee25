"""MHD on FHIR R4 (ITI-65, 66, 67, 68) and the plain CDA upload, on the hub's HTTP server.

Every route is authorised by :mod:`hub.auth.policy`; FHIR errors are
OperationOutcomes. Every request body is journaled before the
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

Who reads is the authenticated principal (:func:`access_of`, rules in
:mod:`hub.repository.search`); hidden documents answer 404, as unknown ones.
A principal without the ``admin`` role submits only documents whose CDA
author institution (XDS ``authorInstitution``, ITI TF-3 4.2.3.2.3) is one
of its establishments (:func:`check_establishments`).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from hub.api.auth import principal_of
from hub.api.errors import ApiError
from hub.api.fhir import FHIR_JSON, FhirError, FhirResponse, base_url, bundle, fhir_router
from hub.audit.context import note
from hub.auth.model import ActsAs, Principal, Role
from hub.errors import MappingError
from hub.intake_http import HttpArrival
from hub.repository import search as s
from hub.repository.iti65 import ProvideBundle, cda_patient, parse_provide_bundle
from hub.repository.model import Filed, Filing, RepositoryError, Submission, as_oid
from hub.repository.resources import document_reference, submission_list
from mappings.cda import map_cda
from mappings.cda.model import Organization

if TYPE_CHECKING:
    from hub.repository import RepositoryComponent

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024 * 1024
_HTTP_STATUS = {"conflict": 409, "not-found": 422, "business-rule": 422}


_READER_OF = {ActsAs.PATIENT: s.Reader.PATIENT,
              ActsAs.LEGAL_REPRESENTATIVE: s.Reader.LEGAL_REPRESENTATIVE}


def _claimed_reader(request: Request, principal: Principal, own: s.Reader) -> s.Reader:
    """``X-Hub-Reader`` may only repeat the credential's reader; the ``admin`` role
    may choose any view, its own (nothing hidden) only when it asks for it."""
    raw = request.headers.get("x-hub-reader")
    if raw is None:
        return own
    try:
        claimed = s.Reader(raw)
    except ValueError:
        raise FhirError(400, f"X-Hub-Reader {raw!r} is not one of "
                        f"{', '.join(r.value for r in s.Reader)}", code="invalid",
                        expression=["X-Hub-Reader"]) from None
    if claimed is not own and Role.ADMIN not in principal.roles:
        raise FhirError(400, f"X-Hub-Reader {raw!r} claims more than the credential of "
                        f"{principal.id}, which reads as {own.value!r}", code="invalid",
                        expression=["X-Hub-Reader"])
    return claimed


def _break_glass(request: Request, principal: Principal, reader: s.Reader) -> bool:
    """``X-Hub-Break-Glass: <reason>``: a person acting as a professional (or the
    bootstrap admin) only; the reason goes to the audit trail."""
    reason = request.headers.get("x-hub-break-glass", "").strip()
    if not reason:
        return False
    if reader is not s.Reader.PROFESSIONAL or not (principal.is_person
                                                   or principal.kind == "admin"):
        raise FhirError(403, f"break-the-glass is for a person acting as a professional; "
                        f"{principal.id} is a {principal.kind} reading as {reader.value}",
                        code="forbidden", expression=["X-Hub-Break-Glass"])
    note(request, break_glass=reason)
    log.warning("break-the-glass access to the repository by %s from %s", principal.id,
                _peer(request))
    return True


def access_of(request: Request) -> s.Access:
    """What the authenticated principal may read: reader from ``acts_as``, patients
    from the credential, break-the-glass for persons (module docstring)."""
    principal = principal_of(request)
    acts_as = principal.acts_as
    own = _READER_OF.get(acts_as, s.Reader.PROFESSIONAL) if acts_as else s.Reader.PROFESSIONAL
    reader = _claimed_reader(request, principal, own)
    bound = principal.patients or own in (s.Reader.PATIENT, s.Reader.LEGAL_REPRESENTATIVE)
    patients = None
    if bound and Role.ADMIN not in principal.roles:
        patients = tuple(s.parse_identifier(p, "patients") for p in principal.patients)
    return s.Access(reader, _break_glass(request, principal, reader), patients)


def _institution_keys(org: Organization | None) -> set[str]:
    """How an establishment may be named: ``root|extension``, the extension (a FINESS
    number), or the root alone when it has no extension (an establishment's OID)."""
    if org is None:
        return set()
    if org.id_extension:
        return {org.id_extension, f"{org.id_root}|{org.id_extension}"}
    return {org.id_root} if org.id_root else set()


def check_establishments(request: Request, filings: Sequence[Filing],
                         where: Callable[[int], str]) -> None:
    """403 unless every document's author institutions are the submitter's establishments
    (the ``admin`` role submits for anyone)."""
    principal = principal_of(request)
    if Role.ADMIN in principal.roles:
        return
    mine = set(principal.establishments)
    for index, filing in enumerate(filings):
        named = [_institution_keys(a.institution) for a in filing.mapping.entry.authors]
        named = [keys for keys in named if keys]
        if named and all(keys & mine for keys in named):
            continue
        shown = ", ".join(sorted(k for keys in named for k in keys if "|" in k)) or "none"
        raise FhirError(403, f"{where(index)}: the author institution ({shown}) is not an "
                        f"establishment of {principal.id} "
                        f"({', '.join(principal.establishments) or 'none'})",
                        code="forbidden", expression=[where(index)])


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
            check_establishments(request, [d.filing for d in provided.documents],
                                 lambda i: f"Bundle.entry[{provided.documents[i].entry}]"
                                 ".resource.author")
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
        note(request, patients=_subjects(filings),
             entities=[f"DocumentReference/{f.id}" for f in filed])
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
            check_establishments(request, [filing], lambda _: "ClinicalDocument.author")
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
        except FhirError as exc:
            await self.c.http_intake.rejected(arrival, exc.diagnostics)
            raise
        row = await self.c.repository.get(filed[0].id)
        assert row is not None
        note(request, patients=[_subject(row)], entities=[f"DocumentReference/{row['id']}"])
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
        access = access_of(request)
        await self._check_patient(criteria.patient, access)
        rows, total = await self.c.repository.search(criteria, access)
        note(request, patients=[_identifier(criteria.patient), *map(_subject, rows)],
             entities=[f"DocumentReference/{r['id']}" for r in rows])
        base = base_url(request)
        patients = await self._patient_ids(rows)
        resources = [document_reference(r, base, patients[r["id"]]) for r in rows]
        links = _paging(request, criteria.offset, criteria.count, total)
        return FhirResponse(bundle(resources, total=total, base=base, links=links))

    async def read_document_reference(self, request: Request, doc_id: str) -> FhirResponse:
        """Read one DocumentReference (404 when unknown or hidden from this reader)."""
        row = await self._visible(doc_id, request)
        note(request, patients=[_subject(row)], entities=[f"DocumentReference/{doc_id}"])
        patient = await self._patient_ids([row])
        return FhirResponse(document_reference(row, base_url(request), patient[row["id"]]))

    async def retrieve(self, request: Request, doc_id: str) -> Response:
        """ITI-68 Retrieve Document (MHD 2.3.2.68): the exact bytes filed."""
        row = await self._visible(doc_id, request)
        note(request, patients=[_subject(row)], entities=[f"DocumentReference/{doc_id}"])
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
        access = access_of(request)
        row = await self.c.repository.get(doc_id)
        if (row is None or not self.c.repository.may_see(row, access)
                or not await self._own_document(row, access)):
            raise FhirError(404, f"DocumentReference/{doc_id} is not known", code="not-found")
        return row

    async def _bound_identifiers(self, access: s.Access) -> set[tuple[str, str]]:
        """Every identifier of the patients ``access`` is bound to (SRRI links count)."""
        found: set[tuple[str, str]] = set()
        for identifier in access.patients or ():
            found.update(await self.c.repository.identifiers(identifier))
        return found

    async def _check_patient(self, patient: tuple[str, str], access: s.Access) -> None:
        """403 when a principal bound to patients searches for another one."""
        if access.patients is None:
            return
        if not set(await self.c.repository.identifiers(patient)) & set(access.patients):
            raise FhirError(403, f"patient {_identifier(patient)} is not one this credential "
                            "may read", code="forbidden", expression=["patient"])

    async def _own_document(self, row: Mapping[str, Any], access: s.Access) -> bool:
        """True unless ``access`` is bound to patients and the document is not theirs."""
        if access.patients is None:
            return True
        filed = {(str(row["patient_system"]), str(row["patient_value"])),
                 *await self.c.repository.filed_under(row["id"])}
        return bool(filed & await self._bound_identifiers(access))

    async def find_lists(self, request: Request) -> FhirResponse:
        """ITI-66 Find Document Lists (MHD 2.3.2.66): SubmissionSets of a patient."""
        params = request.query_params
        try:
            criteria = s.SubmissionCriteria(_patient_of(params, self._regional_system()),
                                            s.parse_count(params.get("_count")),
                                            s.parse_offset(params.get("_offset")))
        except s.SearchError as exc:
            raise _search_error(exc) from None
        await self._check_patient(criteria.patient, access_of(request))
        found = await self.c.repository.submissions(criteria)
        note(request, patients=[_identifier(criteria.patient)],
             entities=[f"List/{row['id']}" for row, _ in found])
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


def _identifier(identifier: tuple[str, str]) -> str:
    """``system|value``, as the audit trail names patients."""
    return f"{identifier[0]}|{identifier[1]}"


def _subject(row: Mapping[str, Any]) -> str:
    """The subject of a document row as ``system|value``."""
    return f"{row['patient_system']}|{row['patient_value']}"


def _subjects(filings: Sequence[Filing]) -> list[str]:
    """The subjects of the filings: INS when known, else their first identifier."""
    found = []
    for filing in filings:
        subject = filing.patient
        first = subject.ins or (subject.identifiers[0] if subject.identifiers else None)
        if first is not None:
            found.append(_identifier(first))
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
    plain = APIRouter(tags=["documents"])
    plain.add_api_route("/documents", api.post_document, methods=["POST"],
                        summary="Upload a CDA document (metadata from its header)")
    return [fhir, plain]
