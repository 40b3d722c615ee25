"""FHIR R4 faces of the SRRI: PIXm (ITI-83), PDQm (ITI-78) and ``$match`` (ITI-119).

A FHIR Patient here is a regional identity: its id is the regional id, its
identifiers every current local IPP (``urn:oid:<authority>``), the qualified
INS when there is one, and the regional identifier itself; its traits are
those of a qualified record when there is one.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import Body, Query, Request

from hub.api.fhir import FhirError, FhirResponse, base_url, bundle, declare_capability, fhir_router
from identity.component import IdentityComponent
from identity.ins import NIA_OID, NIR_OID
from identity.model import LocalRecord, Sex, Traits, make_record
from identity.normalize import normalize_birth_date
from identity.queries import INS_SYSTEMS, IdentityQueries, authority_of
from identity.store import StoredRecord

router = fhir_router(tags=["fhir: identity"])

MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"
FR_CORE_IDENTIFIER_TYPE = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
_INS_TYPE = {NIR_OID: "INS-NIR", NIA_OID: "INS-NIA"}
_GENDER = {Sex.MALE: "male", Sex.FEMALE: "female", Sex.OTHER: "other", Sex.UNKNOWN: "unknown"}
_FROM_GENDER = {"male": "M", "female": "F", "other": "O", "unknown": "U"}

declare_capability({"type": "Patient", "interaction": [{"code": "read"},
                                                        {"code": "search-type"}],
                    "operation": [{"name": "ihe-pix"}, {"name": "match"}],
                    "searchParam": [{"name": n, "type": "string"} for n in
                                    ("family", "given", "birthdate", "gender", "identifier")]})


def _component(request: Request) -> IdentityComponent:
    for component in request.app.state.hub.components:
        if isinstance(component, IdentityComponent):
            return component
    raise FhirError(503, "the identity component is not running", code="transient")


def _queries(request: Request) -> IdentityQueries:
    return _component(request).queries


def parse_token(token: str, what: str) -> tuple[str, str]:
    """``system|value`` (FHIR token search syntax) into its two parts."""
    system, sep, value = token.partition("|")
    if not sep or not system or not value:
        raise FhirError(400, f"{what} must be 'system|value' (for example "
                        f"'urn:oid:1.2.250.1.71.1.2.7|123456'), got {token!r}",
                        code="invalid", expression=[what])
    return system, value


def _identifier(system: str, value: str, regional: str) -> dict[str, Any]:
    item: dict[str, Any] = {"system": system, "value": value}
    oid = authority_of(system)
    if system in INS_SYSTEMS:
        code = _INS_TYPE.get(oid, "INS-NIR")
        item["type"] = {"coding": [{"system": FR_CORE_IDENTIFIER_TYPE, "code": code}]}
        item["use"] = "official"
    elif system == regional:
        item["use"] = "secondary"
    else:
        item["type"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                    "code": "PI"}]}
        item["use"] = "usual"
    return item


async def patient_resource(queries: IdentityQueries, identity_id: str) -> dict[str, Any] | None:
    """The Patient of a regional identity, None when it has no current record."""
    found = await queries.shown(identity_id)
    if found is None:
        return None
    shown, view = found
    resource: dict[str, Any] = {
        "resourceType": "Patient", "id": identity_id, "active": True,
        "identifier": [_identifier(s, v, queries.regional_system) for s, v in view.identifiers],
    }
    resource.update(_traits(shown))
    return resource


def _traits(shown: StoredRecord) -> dict[str, Any]:
    t = shown.record.traits
    out: dict[str, Any] = {"gender": _GENDER[t.sex]}
    names = []
    if t.birth_name:
        names.append({"use": "official", "family": t.birth_name,
                      "given": list(t.given_names)})
    if t.used_name:
        names.append({"use": "usual", "family": t.used_name,
                      "given": [t.used_given_name] if t.used_given_name else []})
    if names:
        out["name"] = names
    birth = normalize_birth_date(t.birth_date)
    if birth:
        out["birthDate"] = f"{birth[:4]}-{birth[4:6]}-{birth[6:]}"
    if t.birthplace:
        out["extension"] = [{
            "url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
            "valueAddress": {"use": "official", "district": t.birthplace}}]
    return out


@router.get("/Patient/$ihe-pix", response_class=FhirResponse,
            summary="PIXm ITI-83: cross-references of a patient identifier")
async def ihe_pix(
    request: Request,
    source_identifier: Annotated[str, Query(alias="sourceIdentifier")],
    target_system: Annotated[list[str] | None, Query(alias="targetSystem")] = None,
) -> FhirResponse:
    """IHE ITI-83 3.83.4.1.3: 404 with an OperationOutcome for an unknown source identifier;
    403 for a target system the server does not know; else the other identifiers."""
    queries = _queries(request)
    system, value = parse_token(source_identifier, "sourceIdentifier")
    view = await queries.lookup((system, value))
    if view is None:
        raise FhirError(404, f"sourceIdentifier {source_identifier!r} is not known",
                        code="not-found", expression=["sourceIdentifier"])
    wanted = set(target_system or [])
    known = {s for s, _ in view.identifiers} | INS_SYSTEMS | {queries.regional_system}
    unknown = sorted(s for s in wanted if s not in known and not s.startswith("urn:oid:"))
    if unknown:
        raise FhirError(403, f"targetSystem {unknown[0]!r} is not a domain of this server",
                        code="code-invalid", expression=["targetSystem"])
    parameters = [
        {"name": "targetIdentifier", "valueIdentifier": {"system": s, "value": v}}
        for s, v in view.identifiers
        if (s, v) != (system, value) and (not wanted or s in wanted)
    ]
    if view.regional_id:
        parameters.append({"name": "targetId", "valueReference": {
            "reference": f"{base_url(request)}/Patient/{view.regional_id}"}})
    return FhirResponse({"resourceType": "Parameters", "parameter": parameters})


@router.get("/Patient/{identity_id}", response_class=FhirResponse, summary="Read a Patient")
async def read_patient(request: Request, identity_id: str) -> FhirResponse:
    """The Patient of a regional identity (404 OperationOutcome when unknown)."""
    resource = await patient_resource(_queries(request), identity_id)
    if resource is None:
        raise FhirError(404, f"Patient/{identity_id} is not known", code="not-found")
    return FhirResponse(resource)


@router.get("/Patient", response_class=FhirResponse, summary="PDQm ITI-78: find patients")
async def search_patients(
    request: Request,
    family: str | None = None,
    given: str | None = None,
    birthdate: str | None = None,
    gender: str | None = None,
    identifier: str | None = None,
    count: Annotated[int, Query(alias="_count", ge=1, le=200)] = 50,
) -> FhirResponse:
    """Patients matching every parameter given (names compared on their normalised forms)."""
    queries = _queries(request)
    if gender is not None and gender not in _FROM_GENDER:
        raise FhirError(400, f"gender must be one of {sorted(_FROM_GENDER)}, got {gender!r}",
                        code="invalid", expression=["gender"])
    ids = await _search_ids(queries, family, given, birthdate, gender, identifier, count)
    resources = [r for r in [await patient_resource(queries, i) for i in ids] if r]
    return FhirResponse(bundle(resources, total=len(resources), base=base_url(request)))


async def _search_ids(queries: IdentityQueries, family: str | None, given: str | None,
                      birthdate: str | None, gender: str | None, identifier: str | None,
                      count: int) -> list[str]:
    sex = _FROM_GENDER.get(gender) if gender else None
    if identifier:
        found = await queries.resolve(parse_token(identifier, "identifier"))
        if found is None:
            return []
        if not (family or given or birthdate or gender):
            return [found]
        others = await queries.search(family=family, given=given, birthdate=birthdate,
                                      gender=sex, limit=count)
        return [found] if found in others else []
    if not (birthdate or (family and given)):
        raise FhirError(400, "search needs identifier, birthdate, or both family and given",
                        code="too-costly", expression=["Patient"])
    return await queries.search(family=family, given=given, birthdate=birthdate, gender=sex,
                                limit=count)


@router.post("/Patient/$match", response_class=FhirResponse,
             summary="PDQm ITI-119: candidates for a patient, graded")
async def match_patient(request: Request, body: Annotated[dict[str, Any], Body()]) -> FhirResponse:
    """Candidates scored by the SRRI's matcher with ``match-grade`` certain / probable /
    possible; ``onlyCertainMatches`` and ``count`` as ITI-119 defines them."""
    queries = _queries(request)
    resource, only_certain, count = _match_parameters(body)
    record = _record_from_patient(resource)
    matches = await queries.match(record, only_certain=only_certain, limit=count)
    entries = []
    for m in matches:
        patient = await patient_resource(queries, m.identity_id)
        if patient is None:
            continue
        entries.append({"fullUrl": f"{base_url(request)}/Patient/{m.identity_id}",
                        "resource": patient,
                        "search": {"mode": "match", "score": _probability(m.score),
                                   "extension": [{"url": MATCH_GRADE, "valueCode": m.grade}]}})
    return FhirResponse({"resourceType": "Bundle", "type": "searchset",
                         "total": len(entries), "entry": entries})


def _probability(score: float) -> float:
    """A score in bits as a 0..1 value for ``search.score`` (logistic of the weight)."""
    return round(1.0 / (1.0 + float(2.0 ** (-score))), 4)


def _match_parameters(body: dict[str, Any]) -> tuple[dict[str, Any], bool, int]:
    if body.get("resourceType") != "Parameters":
        raise FhirError(400, "the body must be a Parameters resource", code="invalid",
                        expression=["Parameters"])
    resource: dict[str, Any] | None = None
    only_certain, count = False, 10
    for i, p in enumerate(cast(list[dict[str, Any]], body.get("parameter") or [])):
        name = p.get("name")
        if name == "resource":
            resource = p.get("resource")
        elif name == "onlyCertainMatches":
            only_certain = bool(p.get("valueBoolean"))
        elif name == "count":
            value = p.get("valueInteger")
            if not isinstance(value, int) or value < 1:
                raise FhirError(400, "count must be a positive integer", code="invalid",
                                expression=[f"Parameters.parameter[{i}]"])
            count = value
    if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
        raise FhirError(400, "a 'resource' parameter holding a Patient is required",
                        code="required", expression=["Parameters.parameter"])
    return resource, only_certain, count


def _record_from_patient(patient: dict[str, Any]) -> LocalRecord:
    names = patient.get("name") or []
    official = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    usual: dict[str, Any] = next((n for n in names if n.get("use") == "usual"), {})
    birth = str(patient.get("birthDate") or "").replace("-", "") or None
    traits = Traits(birth_name=official.get("family"), given_names=tuple(
        official.get("given") or ()), used_name=usual.get("family"), birth_date=birth,
        sex=Sex(_FROM_GENDER.get(str(patient.get("gender")), "U")))
    if not (traits.birth_name or traits.birth_date):
        raise FhirError(400, "the Patient needs at least a family name or a birth date",
                        code="required", expression=["Patient"])
    return make_record("$match", "query", traits)
