"""Lab ORU^R01 with structured OBX to FHIR R4B Observations and DiagnosticReports.

HL7 v2.5 chapter 7: one DiagnosticReport per OBR (7.4.1; code OBR-4, status
OBR-25, time OBR-7), one Observation per OBX (7.4.2): OBX-2 value type,
OBX-3 code, OBX-5 value, OBX-6 units, OBX-7 reference range, OBX-8 abnormal
flags (table 0078), OBX-11 result status (table 0085), OBX-14 time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient

from hub.errors import MappingError
from hub.hl7.er7 import Message, Segment
from mappings.hl7v2.datatypes import Reader, fhir_datetime
from mappings.hl7v2.fhir_fr import coding_system
from mappings.hl7v2.pid import PidFacts, map_pid, patient_dict
from mappings.hl7v2.validation import validated

__all__ = ["LabReport", "map_lab_oru", "map_obx"]

_OBS_STATUS = {
    "F": "final",
    "C": "corrected",
    "P": "preliminary",
    "R": "preliminary",
    "S": "preliminary",
    "I": "registered",
    "D": "entered-in-error",
    "W": "entered-in-error",
    "X": "cancelled",
}
_REPORT_STATUS = {
    "F": "final",
    "C": "corrected",
    "P": "preliminary",
    "X": "cancelled",
    "R": "partial",
}
_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
_UCUM = "http://unitsofmeasure.org"
_RANGE = re.compile(r"\s*([<>]=?)?\s*(-?\d+(?:[.,]\d+)?)?\s*(?:-\s*(-?\d+(?:[.,]\d+)?))?\s*")
_COMPARATORS = frozenset({"<", ">", "<=", ">="})
_MAPPED_TYPES = frozenset({"NM", "SN", "ST", "TX", "FT", "CE", "CWE", "DT", "TS", "DTM"})


@dataclass(frozen=True, slots=True)
class LabReport:
    """A mapped lab ORU: the Patient, one DiagnosticReport per OBR, their Observations."""

    patient: Patient
    reports: tuple[DiagnosticReport, ...]
    observations: tuple[Observation, ...]
    skipped: tuple[str, ...]


def _concept(reader: Reader, raw: str) -> dict[str, Any]:
    """CE/CWE to a CodeableConcept (code, text, system; alternate triplet ignored)."""
    code, text, system = (reader.text(part) for part in reader.components(raw, 3))
    coding: dict[str, Any] = {}
    if code:
        coding["code"] = code
    if text:
        coding["display"] = text
    uri = coding_system(system)
    if uri:
        coding["system"] = uri
    concept: dict[str, Any] = {"coding": [coding]} if code else {}
    if text:
        concept["text"] = text
    return concept


def _decimal(text: str, location: str) -> Decimal:
    try:
        value = Decimal(text.replace(",", "."))
    except InvalidOperation:
        raise MappingError(f"{text!r} is not a number (NM)", location=location) from None
    if not value.is_finite():
        raise MappingError(f"{text!r} is not a finite number (NM)", location=location)
    return value


def _quantity(value: Decimal, unit: dict[str, str]) -> dict[str, Any]:
    return {"value": value, **unit}


def _unit(reader: Reader, obx: Segment) -> dict[str, str]:
    code, text, system = (reader.text(part) for part in reader.components(obx.field(6), 3))
    if not (code or text):
        return {}
    unit = {"unit": text or code}
    if code and system.upper() in ("UCUM", "ANS+", ""):
        unit.update(system=_UCUM, code=code)
    return unit


def _value(reader: Reader, obx: Segment, kind: str, location: str) -> dict[str, Any]:
    raw = obx.field(5).split(reader.encoding.repetition, 1)[0]
    if kind == "NM":
        return {
            "valueQuantity": _quantity(_decimal(reader.text(raw), location), _unit(reader, obx))
        }
    if kind == "SN":
        return _structured_numeric(reader, raw, _unit(reader, obx), location)
    if kind in ("CE", "CWE"):
        return {"valueCodeableConcept": _concept(reader, raw)}
    if kind in ("DT", "TS", "DTM"):
        return {"valueDateTime": fhir_datetime(reader.first_component(raw), location)}
    return {"valueString": reader.text(raw)}


def _structured_numeric(
    reader: Reader, raw: str, unit: dict[str, str], location: str
) -> dict[str, Any]:
    """SN (2.A.71): comparator^num1^separator^num2; a range ``-`` becomes a Range."""
    comparator, first, separator, second = (reader.text(p) for p in reader.components(raw, 4))
    if separator == "-" and second:
        low = _quantity(_decimal(first, location), unit)
        high = _quantity(_decimal(second, location), unit)
        return {"valueRange": {"low": low, "high": high}}
    if separator:
        return {"valueString": reader.text(raw).replace(reader.encoding.component, "")}
    quantity = _quantity(_decimal(first, location), unit)
    if comparator in _COMPARATORS:
        quantity["comparator"] = comparator
    elif comparator not in ("", "="):
        raise MappingError(
            f"SN comparator {comparator!r} is not <, >, <=, >= or =", location=location
        )
    return {"valueQuantity": quantity}


def _reference_range(text: str, unit: dict[str, str]) -> dict[str, Any]:
    """OBX-7 ``low-high``, ``<high`` or ``>low``; anything else is kept as text."""
    match = _RANGE.fullmatch(text)
    if match is None or not match.group(2):
        return {"text": text}
    sign, first, second = match.groups()
    number = Decimal(first.replace(",", "."))
    if second:
        return {
            "low": _quantity(number, unit),
            "high": _quantity(Decimal(second.replace(",", ".")), unit),
        }
    if sign in ("<", "<="):
        return {"high": _quantity(number, unit), "text": text}
    if sign in (">", ">="):
        return {"low": _quantity(number, unit), "text": text}
    return {"text": text}


def _interpretation(reader: Reader, raw: str) -> list[dict[str, Any]]:
    flags = [reader.first_component(rep) for rep in reader.repetitions(raw)]
    return [{"coding": [{"system": _INTERPRETATION, "code": flag}]} for flag in flags if flag]


def map_obx(reader: Reader, obx: Segment, index: int, subject: dict[str, Any]) -> dict[str, Any]:
    """One OBX to an Observation dict (HL7 v2.5 7.4.2); MappingError on a bad value."""
    kind = reader.text(obx.field(2))
    status = reader.text(obx.field(11))
    location = f"OBX[{index}]"
    if status not in _OBS_STATUS:
        raise MappingError(
            f"result status {status!r} is not in table 0085", location=f"{location}-11"
        )
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "status": _OBS_STATUS[status],
        "code": _concept(reader, obx.field(3)) or {"text": f"OBX {index}"},
        "subject": subject,
    }
    if obx.field(5):
        observation.update(_value(reader, obx, kind, f"{location}-5"))
    range_text = reader.text(obx.field(7))
    if range_text:
        observation["referenceRange"] = [_reference_range(range_text, _unit(reader, obx))]
    interpretation = _interpretation(reader, obx.field(8))
    if interpretation:
        observation["interpretation"] = interpretation
    effective = fhir_datetime(reader.first_component(obx.field(14)), f"{location}-14")
    if effective:
        observation["effectiveDateTime"] = effective
    return observation


def _subject(facts: PidFacts) -> dict[str, Any]:
    chosen = facts.ipp or (facts.identifiers[0] if facts.identifiers else None)
    if chosen is None:
        raise MappingError("PID-3 holds no identifier for the report subject", location="PID-3")
    identifier = {"value": chosen.value, **({"system": chosen.system} if chosen.system else {})}
    return {"identifier": identifier}


def _report(reader: Reader, obr: Segment, index: int, subject: dict[str, Any]) -> dict[str, Any]:
    status = reader.text(obr.field(25))
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "status": _REPORT_STATUS.get(status, "final" if not status else "unknown"),
        "code": _concept(reader, obr.field(4)) or {"text": f"OBR {index}"},
        "subject": subject,
        "result": [],
    }
    effective = fhir_datetime(reader.first_component(obr.field(7)), f"OBR[{index}]-7")
    if effective:
        report["effectiveDateTime"] = effective
    return report


def _pruned(report: dict[str, Any]) -> dict[str, Any]:
    """FHIR forbids empty arrays: a report without mapped results has no ``result``."""
    return {key: value for key, value in report.items() if value != []}


def _observation_id(control_id: str, index: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9.-]", "-", control_id)[:50] or "message"
    return f"{safe}-obx-{index}"


def map_lab_oru(message: Message) -> LabReport:
    """Map a lab ORU^R01: one DiagnosticReport per OBR, one Observation per mappable OBX.

    OBX of types other than NM, SN, ST, TX, FT, CE, CWE, DT, TS (an ED
    document, an RP reference) are listed in ``skipped``. Observations get
    ids ``<MSH-10>-obx-<n>`` that the report's ``result`` references.
    """
    if (message.message_type, message.trigger_event) != ("ORU", "R01"):
        raise MappingError(
            f"{message.message_type}^{message.trigger_event} is not ORU^R01", location="MSH-9"
        )
    reader = Reader(message)
    pid = message.segment("PID")
    if pid is None:
        raise MappingError("ORU^R01 has no PID segment", location="PID")
    facts = map_pid(reader, pid)
    subject = _subject(facts)
    reports: list[dict[str, Any]] = []
    observations: list[dict[str, Any]] = []
    skipped: list[str] = []
    for segment in message.segments:
        if segment.id == "OBR":
            reports.append(_report(reader, segment, len(reports) + 1, subject))
        elif segment.id == "OBX":
            _add_observation(reader, segment, message, reports, observations, skipped)
    if not reports:
        raise MappingError("ORU^R01 has no OBR segment", location="OBR")
    return LabReport(
        patient=validated(Patient, patient_dict(facts, None), "PID"),
        reports=tuple(validated(DiagnosticReport, _pruned(item), "OBR") for item in reports),
        observations=tuple(validated(Observation, item, "OBX") for item in observations),
        skipped=tuple(skipped),
    )


def _add_observation(
    reader: Reader,
    obx: Segment,
    message: Message,
    reports: list[dict[str, Any]],
    observations: list[dict[str, Any]],
    skipped: list[str],
) -> None:
    number = len(observations) + len(skipped) + 1
    kind = reader.text(obx.field(2))
    if kind not in _MAPPED_TYPES:
        skipped.append(f"OBX[{number}] {kind}")
        return
    if not reports:
        raise MappingError("OBX before any OBR", location=f"OBX[{number}]")
    observation = map_obx(reader, obx, number, reports[-1]["subject"])
    observation["id"] = _observation_id(message.control_id, number)
    observations.append(observation)
    reports[-1]["result"].append({"reference": f"Observation/{observation['id']}"})
