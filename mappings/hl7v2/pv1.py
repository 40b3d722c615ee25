"""PV1 and ZBE to a FHIR R4B Encounter and a movement, after IHE PAM France 2.11 (ITI-31).

PV1 carries the visit (class PV1-2, location PV1-3, doctors PV1-7/8/17,
visit number PV1-19, admit and discharge times PV1-44/45). ZBE, the French
movement segment (PAM France 6.13), identifies the movement (ZBE-1), its time
(ZBE-2), the action on it (ZBE-4 INSERT / UPDATE / CANCEL), whether it is
historic (ZBE-5), the original event of a correction (ZBE-6) and the units of
medical and care responsibility (ZBE-7, ZBE-8).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.errors import MappingError
from hub.hl7.er7 import Segment
from mappings.hl7v2.datatypes import CX, XCN, XON, Reader, fhir_datetime
from mappings.hl7v2.fhir_fr import V2_0203
from mappings.hl7v2.identity_event import PatientIdentifier

__all__ = ["ENCOUNTER_STATUS", "Movement", "Unit", "encounter_dict", "map_pv1", "map_zbe"]

ENCOUNTER_STATUS: dict[str, str] = {
    "A01": "in-progress",
    "A02": "in-progress",
    "A03": "finished",
    "A04": "in-progress",
    "A05": "planned",
    "A06": "in-progress",
    "A07": "in-progress",
    "A08": "in-progress",
    "A11": "cancelled",
    "A12": "in-progress",
    "A13": "in-progress",
    "A21": "onleave",
    "A22": "in-progress",
    "A38": "cancelled",
}
"""Encounter status after each ITI-31 event (PAM France section 2, ITI-31 event table)."""

_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_CLASS = {
    "I": ("IMP", "inpatient encounter"),
    "O": ("AMB", "ambulatory"),
    "E": ("EMER", "emergency"),
    "R": ("AMB", "ambulatory"),
    "P": ("PRENC", "pre-admission"),
    "H": ("HH", "home health"),
}
_ACTIONS = frozenset({"INSERT", "UPDATE", "CANCEL"})


@dataclass(frozen=True, slots=True)
class Unit:
    """A functional unit (UF) from a ZBE XON: name XON-1, code XON-10, authority XON-6."""

    name: str
    code: str
    authority: str


@dataclass(frozen=True, slots=True)
class Movement:
    """One ZBE movement (PAM France 6.13)."""

    id: str
    authority: str
    moment: str | None
    end: str | None
    action: str | None
    historic: bool | None
    original_event: str | None
    nature: str | None
    medical_unit: Unit | None
    care_unit: Unit | None


@dataclass(frozen=True, slots=True)
class Visit:
    """What PV1 says about the visit."""

    patient_class: str
    location: tuple[str, ...]
    facility: str
    visit_number: CX | None
    attending: tuple[XCN, ...]
    referring: tuple[XCN, ...]
    admitting: tuple[XCN, ...]
    admitted: str | None
    discharged: str | None


def _unit(reader: Reader, raw: str) -> Unit | None:
    if not raw:
        return None
    xon = XON.read(reader, raw.split(reader.encoding.repetition, 1)[0])
    if not (xon.name or xon.id):
        return None
    return Unit(xon.name, xon.id, xon.authority.key)


def map_zbe(reader: Reader, zbe: Segment | None) -> Movement | None:
    """ZBE to a :class:`Movement`; None without the segment (PAM France 6.13)."""
    if zbe is None:
        return None
    ident = reader.components(zbe.field(1), 3)
    action = reader.text(zbe.field(4)) or None
    if action is not None and action not in _ACTIONS:
        raise MappingError(
            f"movement action {action!r} is not INSERT, UPDATE or CANCEL", location="ZBE-4"
        )
    historic = {"Y": True, "N": False}.get(reader.text(zbe.field(5)))
    return Movement(
        id=reader.text(ident[0]),
        authority=reader.text(ident[2]) or reader.text(ident[1]),
        moment=fhir_datetime(reader.first_component(zbe.field(2)), "ZBE-2"),
        end=fhir_datetime(reader.first_component(zbe.field(3)), "ZBE-3"),
        action=action,
        historic=historic,
        original_event=reader.text(zbe.field(6)) or None,
        nature=reader.first_component(zbe.field(9)) or None,
        medical_unit=_unit(reader, zbe.field(7)),
        care_unit=_unit(reader, zbe.field(8)),
    )


def _doctors(reader: Reader, raw: str) -> tuple[XCN, ...]:
    return tuple(
        doc
        for doc in (XCN.read(reader, rep) for rep in reader.repetitions(raw))
        if doc.id or doc.family
    )


def map_pv1(reader: Reader, pv1: Segment | None) -> Visit | None:
    """PV1 to a :class:`Visit`; None without PV1 or with class ``N`` (not applicable)."""
    if pv1 is None:
        return None
    patient_class = reader.first_component(pv1.field(2))
    if patient_class in ("", "N"):
        return None
    location = reader.components(pv1.field(3).split(reader.encoding.repetition, 1)[0], 4)
    visit = reader.repetitions(pv1.field(19))
    return Visit(
        patient_class=patient_class,
        location=tuple(reader.text(part) for part in location[:3]),
        facility=reader.subcomponents(location[3], 1)[0],
        visit_number=CX.read(reader, visit[0]) if visit else None,
        attending=_doctors(reader, pv1.field(7)),
        referring=_doctors(reader, pv1.field(8)),
        admitting=_doctors(reader, pv1.field(17)),
        admitted=fhir_datetime(reader.first_component(pv1.field(44)), "PV1-44"),
        discharged=fhir_datetime(reader.first_component(pv1.field(45)), "PV1-45"),
    )


def _class(patient_class: str) -> dict[str, str]:
    if patient_class in _CLASS:
        code, display = _CLASS[patient_class]
        return {"system": _ACT_CODE, "code": code, "display": display}
    return {"system": "http://terminology.hl7.org/CodeSystem/v2-0004", "code": patient_class}


def _participant(doc: XCN, role: str) -> dict[str, Any]:
    individual: dict[str, Any] = {}
    if doc.id:
        individual["identifier"] = {"value": doc.id}
        if doc.authority.oid:
            individual["identifier"]["system"] = f"urn:oid:{doc.authority.oid}"
    if doc.display:
        individual["display"] = doc.display
    coding = {"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": role}
    return {"type": [{"coding": [coding]}], "individual": individual}


def _visit_identifier(cx: CX) -> dict[str, Any]:
    result: dict[str, Any] = {
        "value": cx.value,
        "type": {"coding": [{"system": V2_0203, "code": "VN"}]},
    }
    if cx.authority.oid:
        result["system"] = f"urn:oid:{cx.authority.oid}"
    return result


def _period(start: str | None, end: str | None) -> dict[str, str]:
    return {key: value for key, value in (("start", start), ("end", end)) if value}


def encounter_dict(
    trigger: str, visit: Visit, movement: Movement | None, subject: PatientIdentifier | None
) -> dict[str, Any]:
    """The FHIR R4B Encounter (as a dict) for an ITI-31 event."""
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "status": ENCOUNTER_STATUS.get(trigger, "unknown"),
        "class": _class(visit.patient_class),
    }
    if visit.visit_number and visit.visit_number.value:
        encounter["identifier"] = [_visit_identifier(visit.visit_number)]
    if subject is not None:
        reference = {
            "value": subject.value,
            **({"system": subject.system} if subject.system else {}),
        }
        encounter["subject"] = {"identifier": reference}
    participants = [_participant(doc, "ATND") for doc in visit.attending]
    participants += [_participant(doc, "REF") for doc in visit.referring]
    participants += [_participant(doc, "ADM") for doc in visit.admitting]
    if participants:
        encounter["participant"] = participants
    period = _period(visit.admitted, visit.discharged)
    if period:
        encounter["period"] = period
    _add_location(encounter, visit, movement)
    if movement and movement.medical_unit:
        unit = movement.medical_unit
        encounter["serviceProvider"] = {
            "identifier": {"value": unit.code or unit.name},
            "display": unit.name or unit.code,
        }
    return encounter


def _add_location(encounter: dict[str, Any], visit: Visit, movement: Movement | None) -> None:
    """PV1-3 (point of care / room / bed) as the current location, from the movement time."""
    parts = [part for part in visit.location if part]
    if not parts:
        return
    location: dict[str, Any] = {
        "location": {"identifier": {"value": "/".join(parts)}, "display": " ".join(parts)}
    }
    if movement and movement.moment:
        location["period"] = {"start": movement.moment}
    encounter["location"] = [location]
