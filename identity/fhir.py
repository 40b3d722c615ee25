"""FHIR R4 faces of the SRRI: PIXm (ITI-83), PDQm (ITI-78) and ``$match`` (ITI-119).

A FHIR Patient here is a regional identity: its id is the regional id, its
identifiers every current local IPP (``urn:oid:<authority>``), the qualified
INS when there is one, and the regional identifier itself; its traits are
those of a qualified record when there is one.
"""

from __future__ import annotations

from typing import Annotated, Any, cast
from urllib.parse import urlencode

from fastapi import Body, Query, Request

from hub.api.fhir import FhirError, FhirResponse, base_url, bundle, declare_capability, fhir_router
from hub.audit.context import note
from identity.component import IdentityComponent
from identity.errors import SearchTooBroad
from identity.ins import NIA_OID, NIR_OID
from identity.model import LocalRecord, Sex, Traits, make_record
from identity.normalize import normalize_birth_date
from identity.queries import INS_SYSTEMS, IdentityQueries, PatientSearch, authority_of
from identity.search import DateCriterion, family_prefix, given_prefix, parse_birthdate
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
                    "searchParam": [{"name": n, "type": t} for n, t in (
                        ("_id", "token"), ("family", "string"), ("given", "string"),
                        ("birthdate", "date"), ("gender", "token"), ("identifier", "token"))]})


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
    """IHE ITI-83 (ITI TF-2 3.83.4.2.3): 400 ``code-invalid`` when the source domain is
    not recognised, 404 ``not-found`` for an unknown identifier of a known domain, 403
    ``code-invalid`` for a target system that is not a domain of this server; else
    the other identifiers and the regional Patient."""
    queries = _queries(request)
    system, value = parse_token(source_identifier, "sourceIdentifier")
    if not await queries.knows_domain(system):
        raise FhirError(400, f"sourceIdentifier assigning authority {system!r} is not a "
                        "domain of this server", code="code-invalid",
                        expression=["sourceIdentifier"])
    view = await queries.lookup((system, value))
    if view is None:
        raise FhirError(404, f"sourceIdentifier {source_identifier!r} is not known",
                        code="not-found", expression=["sourceIdentifier"])
    wanted = set(target_system or [])
    for target in sorted(wanted):
        if not await queries.knows_domain(target):
            raise FhirError(403, f"targetSystem {target!r} is not a domain of this server",
                            code="code-invalid", expression=["targetSystem"])
    parameters = [
        {"name": "targetIdentifier", "valueIdentifier": {"system": s, "value": v}}
        for s, v in view.identifiers
        if (s, v) != (system, value) and (not wanted or s in wanted)
    ]
    note(request, patients=[f"{s}|{v}" for s, v in view.identifiers],
         entities=[f"Patient/{view.regional_id}"] if view.regional_id else [])
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
    note(request, patients=[f"{i['system']}|{i['value']}" for i in resource.get("identifier", [])],
         entities=[f"Patient/{identity_id}"])
    return FhirResponse(resource)


SEARCH_PARAMETERS = frozenset({"_id", "family", "given", "birthdate", "gender", "identifier"})
"""PDQm ITI-78 query parameters this server supports (IHE ITI TF-2 3.78.4.1.2.1)."""
RESULT_PARAMETERS = frozenset({"_count", "_offset"})
"""Result parameters: page size (``_count``, 0 for the total only) and page start."""
MAX_COUNT = 200


@router.get("/Patient", response_class=FhirResponse, summary="PDQm ITI-78: find patients")
async def search_patients(request: Request) -> FhirResponse:
    """PDQm ITI-78 (IHE ITI TF-2 3.78.4.1) with FHIR R4 search rules: string parameters
    match the start of any name, case- and accent-insensitively; ``birthdate`` takes
    the date prefixes; unknown parameters are ignored and left out of the ``self``
    link, or refused under ``Prefer: handling=strict`` (FHIR R4 3.1.1.3.1); ``_count=0``
    gives the total only; pages follow the ``next`` link."""
    queries = _queries(request)
    used = _used_parameters(request)
    offset, count = _paging(used)
    criteria = await _criteria(queries, used)
    try:
        page = await queries.search(criteria, offset=offset, count=count)
    except SearchTooBroad as exc:
        raise FhirError(400, str(exc), code="too-costly", expression=[exc.parameter]) from exc
    resources = [r for r in [await patient_resource(queries, i) for i in page.identity_ids] if r]
    note(request, patients=[f"{i['system']}|{i['value']}" for r in resources
                            for i in r.get("identifier", [])],
         entities=[f"Patient/{r['id']}" for r in resources])
    links = _page_links(base_url(request), used, offset, count, page.total)
    return FhirResponse(bundle(resources, total=page.total, base=base_url(request),
                               links=links))


def _used_parameters(request: Request) -> list[tuple[str, str]]:
    """The query's parameters this server uses, in order; the others are ignored, or
    refused with 400 when the client asks for strict handling (FHIR R4 3.1.1.3.1)."""
    strict = "handling=strict" in request.headers.get("prefer", "").replace(" ", "")
    used = []
    for name, value in request.query_params.multi_items():
        base, _, modifier = name.partition(":")
        if base in SEARCH_PARAMETERS and modifier:
            raise FhirError(400, f"search parameter {name!r}: modifier {modifier!r} is not "
                            "supported", code="not-supported", expression=[name])
        if base in SEARCH_PARAMETERS | RESULT_PARAMETERS:
            used.append((name, value))
        elif strict:
            raise FhirError(400, f"search parameter {name!r} is not supported (supported: "
                            f"{', '.join(sorted(SEARCH_PARAMETERS | RESULT_PARAMETERS))})",
                            code="not-supported", expression=[name])
    return used


def _values(used: list[tuple[str, str]], name: str) -> list[str]:
    return [v for n, v in used if n == name]


def _integer(used: list[tuple[str, str]], name: str, default: int) -> int:
    values = _values(used, name)
    if not values:
        return default
    if len(values) > 1 or not values[0].isdigit():
        raise FhirError(400, f"{name} must be one non-negative integer, got {values!r}",
                        code="invalid", expression=[name])
    return int(values[0])


def _paging(used: list[tuple[str, str]]) -> tuple[int, int]:
    """(``_offset``, ``_count``): the page asked for, the count capped at MAX_COUNT."""
    return _integer(used, "_offset", 0), min(_integer(used, "_count", 50), MAX_COUNT)


def _or(value: str) -> tuple[str, ...]:
    """The values of one parameter joined by commas (FHIR R4 3.1.1.3.3: OR)."""
    return tuple(v for v in (p.strip() for p in value.split(",")) if v)


async def _criteria(queries: IdentityQueries, used: list[tuple[str, str]]) -> PatientSearch:
    families = tuple(tuple(filter(None, map(family_prefix, _or(v))))
                     for v in _values(used, "family"))
    givens = tuple(tuple(filter(None, map(given_prefix, _or(v))))
                   for v in _values(used, "given"))
    for name, groups in (("family", families), ("given", givens)):
        if any(not g for g in groups):
            raise FhirError(400, f"{name} has no letter to search on", code="invalid",
                            expression=[name])
    return PatientSearch(families=families, givens=givens,
                         birthdates=tuple(_birthdate(v) for v in _values(used, "birthdate")),
                         genders=_genders(used), identity_ids=await _restriction(queries, used))


def _birthdate(value: str) -> DateCriterion:
    try:
        return parse_birthdate(value)
    except ValueError as exc:
        raise FhirError(400, str(exc), code="invalid", expression=["birthdate"]) from exc


def _genders(used: list[tuple[str, str]]) -> frozenset[str] | None:
    values = _values(used, "gender")
    if not values:
        return None
    found: set[str] = set()
    for value in values:
        wanted = set(_or(value))
        unknown = sorted(wanted - set(_FROM_GENDER))
        if unknown or not wanted:
            raise FhirError(400, f"gender must be one of {sorted(_FROM_GENDER)}, got "
                            f"{value!r}", code="invalid", expression=["gender"])
        codes = {_FROM_GENDER[g] for g in wanted}
        found = codes if not found else found & codes
    return frozenset(found)


async def _restriction(queries: IdentityQueries, used: list[tuple[str, str]]
                       ) -> frozenset[str] | None:
    """The identities ``_id`` and ``identifier`` name (AND between parameters, OR
    within one), None when neither is given."""
    groups: list[set[str]] = []
    for value in _values(used, "_id"):
        groups.append({i for i in _or(value) if await queries.store.members(i)})
    for value in _values(used, "identifier"):
        found = [await queries.resolve(parse_token(t, "identifier")) for t in _or(value)]
        groups.append({i for i in found if i})
    if not groups:
        return None
    return frozenset(set.intersection(*groups))


def _page_links(base: str, used: list[tuple[str, str]], offset: int, count: int,
                total: int) -> dict[str, str]:
    """``self`` with the parameters used, and ``next`` / ``previous`` pages."""
    criteria = [(n, v) for n, v in used if n not in RESULT_PARAMETERS]

    def url(start: int) -> str:
        query = [*criteria, ("_count", str(count))] + ([("_offset", str(start))] if start else [])
        return f"{base}/Patient?{urlencode(query)}"

    links = {"self": url(offset)}
    if count and offset + count < total:
        links["next"] = url(offset + count)
    if count and offset > 0:
        links["previous"] = url(max(0, offset - count))
    return links


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
    note(request, entities=[f"Patient/{m.identity_id}" for m in matches])
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
