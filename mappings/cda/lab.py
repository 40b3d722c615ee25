"""CR-BIO level 3 results -> FHIR R4B Observations and a DiagnosticReport.

The CI-SIS CR-BIO model (templateId ``1.2.250.1.213.1.1.1.55``, built on IHE
PALM XD-LAB) carries results in "Laboratory Report Data Processing Entry"
entries (``1.3.6.1.4.1.19376.1.3.1``). Each entry's ``act`` holds, through
``entryRelationship``:

* the specimen collection (``procedure``, ``1.3.6.1.4.1.19376.1.3.1.2``)
  whose effectiveTime is the collection time;
* result ``observation`` elements, directly or grouped in a battery
  ``organizer/component``.

Observations nested under a result (``entryRelationship[@typeCode="REFR"]``,
earlier results shown for comparison) are not results of this report and are
skipped. Following FHIR Observation.effective[x] for laboratory results, the
effective time is the specimen collection time when the entry gives one, the
observation's own effectiveTime otherwise.

Building a FHIR model costs tens of microseconds per element, and a report
repeats the same elements in every result; laboratories repeat them from one
report to the next. So the Observations share validated elements: the
``subject`` within a report, and across reports the CodeableConcepts of
codes (LOINC, interpretation, category) and the reference ranges, interned
in bounded caches keyed by their source text. The resources are therefore
read-only: copy one (``model_copy(deep=True)``) before changing it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterator
from decimal import Decimal
from typing import Any, TypeVar

from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.observation import Observation, ObservationReferenceRange
from fhir.resources.R4B.reference import Reference
from pydantic import BaseModel, ValidationError

from mappings.cda import tables
from mappings.cda.fhir import codeable, master_identifier, validated, xds_to_fhir
from mappings.cda.model import DocumentEntry
from mappings.cda.nodes import (
    XSI_TYPE,
    Code,
    Element,
    error_at,
    find,
    findall,
    read_code,
    read_decimal,
    read_ts,
    tag,
    template_ids,
    text_of,
)

__all__ = [
    "SharedParts", "iter_result_observations", "map_lab_observation", "map_lab_report",
]

OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
# A FHIR-only code system: given as a URI, which coding() keeps as is.
LABORATORY_CATEGORY_CODE = Code("laboratory", OBSERVATION_CATEGORY, "Laboratory")
LAB_SERVICE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                           "code": "LAB", "display": "Laboratory"}]}
_ENTRY = tag("entry")
_Key = TypeVar("_Key", bound=Hashable)
_Model = TypeVar("_Model", bound=BaseModel)


_INTERNED = 8192  # entries per cache: LOINC codes and ranges a region's labs use


@functools.lru_cache(maxsize=_INTERNED)
def _interned_concept(code: Code) -> CodeableConcept:
    return CodeableConcept.model_validate(codeable(code))


# (low value, low unit, high value, high unit, text), as written in the document
_RangeKey = tuple[str | None, str | None, str | None, str | None, str | None]


@functools.lru_cache(maxsize=_INTERNED)
def _interned_range(key: _RangeKey) -> ObservationReferenceRange:
    low_value, low_unit, high_value, high_unit, text = key
    resource: dict[str, Any] = {}
    for side, value, unit in (("low", low_value, low_unit), ("high", high_value, high_unit)):
        if value is not None:
            resource[side] = _quantity_of(Decimal(value), unit)
    if text is not None:
        resource["text"] = text
    return ObservationReferenceRange.model_validate(resource)


def _interned(build: Callable[[_Key], _Model], key: _Key, element: Element) -> _Model:
    try:
        return build(key)
    except ValidationError as error:
        first = error.errors()[0]
        value = repr(first.get("input"))[:80]
        raise error_at(element, f"not valid FHIR R4B: {first.get('msg')} (value {value})") from None


class SharedParts:
    """Validated elements reused by the Observations of one report."""

    def __init__(self, patient_ref: str, element: Element) -> None:
        self.subject = validated(Reference, {"reference": patient_ref}, element)
        self.category = _interned(_interned_concept, LABORATORY_CATEGORY_CODE, element)

    @staticmethod
    def concept(code: Code, element: Element) -> CodeableConcept:
        """The CodeableConcept of ``code`` (interned)."""
        return _interned(_interned_concept, code, element)


def _collection_time(act: Element) -> str | None:
    for procedure in findall(act, "v3:entryRelationship/v3:procedure"):
        if tables.LAB_SPECIMEN_COLLECTION not in template_ids(procedure):
            continue
        time = find(procedure, "v3:effectiveTime")
        if time is None:
            continue
        for candidate in (time, find(time, "v3:high"), find(time, "v3:low")):
            value = read_ts(candidate)
            if value is not None:
                return value.fhir
    return None


def iter_result_observations(root: Element) -> Iterator[tuple[Element, str | None]]:
    """Each result ``observation`` of the body with its specimen collection time."""
    body = find(root, "v3:component/v3:structuredBody")
    if body is None:
        return
    for entry in body.iter(_ENTRY):
        if tables.LAB_REPORT_DATA_PROCESSING_ENTRY not in template_ids(entry):
            continue
        act = find(entry, "v3:act")
        if act is None:
            raise error_at(entry, "laboratory entry has no act", "act")
        collected = _collection_time(act)
        for observation in findall(act, "v3:entryRelationship/v3:observation"):
            yield observation, collected
        for observation in findall(act, "v3:entryRelationship/v3:organizer/"
                                   "v3:component/v3:observation"):
            yield observation, collected


def _quantity_of(value: Decimal, unit: str | None) -> dict[str, Any]:
    quantity: dict[str, Any] = {"value": value}
    if unit and unit != "1":
        quantity.update(unit=unit, system=tables.UCUM, code=unit)
    return quantity


def _quantity(element: Element) -> dict[str, Any] | None:
    value = read_decimal(element)
    if value is None:
        return None
    return _quantity_of(value, (element.get("unit") or "").strip() or None)


def _integer(value: Element) -> int | None:
    number = read_decimal(value)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise error_at(value, f"@value {number} is not an integer (xsi:type INT)")
    return int(number)


def _coded(value: Element) -> dict[str, Any] | None:
    code = read_code(value)
    return codeable(code) if code is not None else None


# xsi:type of a result value -> (FHIR value[x] element, reader)
_VALUE_READERS: dict[str, tuple[str, Callable[[Element], Any]]] = {
    "PQ": ("valueQuantity", lambda v: _quantity(v)),
    "IVL_PQ": ("valueRange", lambda v: _range(v)),
    "CD": ("valueCodeableConcept", _coded),
    "CE": ("valueCodeableConcept", _coded),
    "CV": ("valueCodeableConcept", _coded),
    "CO": ("valueCodeableConcept", _coded),
    "ST": ("valueString", text_of),
    "ED": ("valueString", text_of),
    "INT": ("valueInteger", _integer),
    "BL": ("valueBoolean", lambda v: {"true": True, "false": False}.get(v.get("value") or "")),
}


def _value(observation: Element, resource: dict[str, Any]) -> None:
    value = find(observation, "v3:value")
    if value is None or value.get("nullFlavor"):
        return
    reader = _VALUE_READERS.get((value.get(XSI_TYPE) or "").rpartition(":")[2])
    if reader is None:
        return  # other data types (RTO, SC, TS...) are left to the narrative
    element, read = reader
    mapped = read(value)
    if mapped is not None:
        resource[element] = mapped


def _range(value: Element) -> dict[str, Any] | None:
    bounds = {}
    for side in ("low", "high"):
        element = find(value, f"v3:{side}")
        if element is not None and (quantity := _quantity(element)) is not None:
            bounds[side] = quantity
    return bounds or None


def _bound(value: Element, side: str) -> tuple[str | None, str | None]:
    element = find(value, f"v3:{side}")
    if element is None or read_decimal(element) is None:  # read_decimal checks the value
        return None, None
    return (element.get("value") or "").strip(), (element.get("unit") or "").strip() or None


def _reference_ranges(observation: Element) -> list[ObservationReferenceRange]:
    ranges: list[ObservationReferenceRange] = []
    for range_ in findall(observation, "v3:referenceRange/v3:observationRange"):
        value = find(range_, "v3:value")
        low = _bound(value, "low") if value is not None else (None, None)
        high = _bound(value, "high") if value is not None else (None, None)
        key: _RangeKey = (*low, *high, text_of(find(range_, "v3:text")))
        if key[0] is not None or key[2] is not None or key[4] is not None:
            ranges.append(_interned(_interned_range, key, range_))
    return ranges


def map_lab_observation(
    observation: Element, collected: str | None, resource_id: str, shared: SharedParts
) -> Observation:
    """One CR-BIO result (IHE PALM Laboratory Observation) as a FHIR Observation."""
    code = read_code(find(observation, "v3:code"))
    if code is None:
        raise error_at(observation, "result observation has no code/@code (LOINC)", "code")
    status = read_code(find(observation, "v3:statusCode"))
    resource: dict[str, Any] = {
        "resourceType": "Observation", "id": resource_id,
        "status": tables.OBSERVATION_STATUSES.get(status.code if status else "", "unknown"),
        "category": [shared.category], "code": shared.concept(code, observation),
        "subject": shared.subject,
    }
    own_time = read_ts(find(observation, "v3:effectiveTime"))
    effective = collected or (own_time.fhir if own_time else None)
    if effective is not None:
        resource["effectiveDateTime"] = effective
    _value(observation, resource)
    interpretations = [shared.concept(c, e)
                       for e in findall(observation, "v3:interpretationCode")
                       if (c := read_code(e))]
    if interpretations:
        resource["interpretation"] = interpretations
    if ranges := _reference_ranges(observation):
        resource["referenceRange"] = ranges
    return validated(Observation, resource, observation)


def map_lab_report(
    root: Element, entry: DocumentEntry, key: str, patient_ref: str
) -> tuple[DiagnosticReport, list[Observation]]:
    """The DiagnosticReport of a CR-BIO document and its result Observations.

    Resource ids are ``{key}-obs-{n}`` and ``{key}-report`` so that mapping
    the same document twice gives the same ids.
    """
    observations: list[Observation] = []
    collection_times: list[str] = []
    shared = SharedParts(patient_ref, root)
    for number, (element, collected) in enumerate(iter_result_observations(root), start=1):
        observations.append(map_lab_observation(element, collected,
                                                f"{key}-obs-{number}", shared))
        if collected:
            collection_times.append(collected)
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport", "id": f"{key}-report", "status": "final",
        "category": [LAB_SERVICE], "code": codeable(entry.type_code),
        "subject": {"reference": patient_ref},
        "identifier": [master_identifier(entry.unique_id)],
        "result": [{"reference": f"Observation/{o.id}"} for o in observations],
    }
    if len(entry.creation_time) >= 12:  # instant: time of day required
        resource["issued"] = xds_to_fhir(entry.creation_time)
    if collection_times:
        resource["effectiveDateTime"] = collection_times[0]
    return validated(DiagnosticReport, resource, root), observations
