"""ADT (IHE PAM France 2.11, HL7 v2.5) to FHIR R4B Patient and Encounter plus an identity event.

Events handled and what they mean for identity (PAM France sections 2 and 4):

* ITI-30: A28 create, A31 update, A40 merge (MRG-1 holds the absorbed
  record's identifiers), A47 identifier change (MRG-1 holds the obsolete
  identifiers, PID-3 the new ones; an INS sent as ``""`` is deleted, 4.4.3),
  A24 link and A37 unlink (two PID segments).
* ITI-31: A01, A04, A05 register the patient (create); A02, A03, A06, A07,
  A08, A11, A12, A13, A21, A22, A38 carry the identity as an update and the
  visit as an Encounter with the ZBE movement.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.patient import Patient

from hub.errors import MappingError
from hub.hl7.er7 import Message, Segment
from mappings.hl7v2.datatypes import Reader, fhir_datetime
from mappings.hl7v2.fhir_fr import identifier
from mappings.hl7v2.identity_event import IdentityEvent, IdentityEventKind, PatientIdentifier
from mappings.hl7v2.pid import PidFacts, map_pid, map_zfd, patient_dict, read_identifiers
from mappings.hl7v2.pv1 import ENCOUNTER_STATUS, Movement, encounter_dict, map_pv1, map_zbe
from mappings.hl7v2.validation import validated

__all__ = ["ADT_EVENTS", "AdtMapping", "map_adt"]

ADT_EVENTS: dict[str, IdentityEventKind] = {
    "A28": IdentityEventKind.CREATE,
    "A01": IdentityEventKind.CREATE,
    "A04": IdentityEventKind.CREATE,
    "A05": IdentityEventKind.CREATE,
    "A31": IdentityEventKind.UPDATE,
    "A08": IdentityEventKind.UPDATE,
    **{
        event: IdentityEventKind.UPDATE
        for event in ("A02", "A03", "A06", "A07", "A11", "A12", "A13")
    },
    **{event: IdentityEventKind.UPDATE for event in ("A21", "A22", "A38")},
    "A40": IdentityEventKind.MERGE,
    "A47": IdentityEventKind.IDENTIFIER_CHANGE,
    "A24": IdentityEventKind.LINK,
    "A37": IdentityEventKind.UNLINK,
}
"""The ADT trigger events the hub maps, with what each asks of the identity service."""


class AdtMapping:
    """One mapped ADT: Patient, Encounter (ITI-31 events), ZBE movement, identity event.

    ``patient_json`` and ``encounter_json`` are the FHIR R4 resources as JSON
    objects, which is what the hub stores and serves. The fhir.resources
    models (:attr:`patient`, :attr:`encounter`) are built and validated on
    first access: validation costs about four times the mapping itself and
    the identity service, on the hot path, reads only the identity event.
    """

    __slots__ = ("_encounter", "_patient", "encounter_json", "identity_event", "movement",
                 "patient_json")

    def __init__(self, patient_json: dict[str, Any], encounter_json: dict[str, Any] | None,
                 movement: Movement | None, identity_event: IdentityEvent) -> None:
        self.patient_json = patient_json
        self.encounter_json = encounter_json
        self.movement = movement
        self.identity_event = identity_event
        self._patient: Patient | None = None
        self._encounter: Encounter | None = None

    @property
    def patient(self) -> Patient:
        """The validated Patient (a refused value is a MappingError at ``PID``)."""
        if self._patient is None:
            self._patient = validated(Patient, self.patient_json, "PID")
        return self._patient

    @property
    def encounter(self) -> Encounter | None:
        """The validated Encounter of ITI-31 events, None for identity-only events."""
        if self._encounter is None and self.encounter_json is not None:
            self._encounter = validated(Encounter, self.encounter_json, "PV1")
        return self._encounter


def _trigger(message: Message) -> str:
    kind, trigger = message.message_type, message.trigger_event
    if kind != "ADT" or trigger not in ADT_EVENTS:
        raise MappingError(
            f"message type {kind}^{trigger} is not an ADT event the hub maps; expected ADT^ with "
            f"one of {', '.join(sorted(ADT_EVENTS))}",
            location="MSH-9",
        )
    return trigger


def _segment(message: Message, sid: str, trigger: str, occurrence: int = 0) -> Segment:
    segments = message.segments_named(sid)
    if len(segments) <= occurrence:
        count = "a second" if occurrence else "a"
        raise MappingError(f"ADT^{trigger} has no {count} {sid} segment", location=sid)
    return segments[occurrence]


def _ipp(facts: PidFacts, trigger: str) -> PatientIdentifier:
    """PAM France 6.6.1: an ADT names the local record by an IPP (CX-5 ``PI``) and its authority."""
    ipp = facts.ipp
    if ipp is None:
        raise MappingError(
            f"ADT^{trigger}: PID-3 holds no identifier typed 'PI' (IPP)", location="PID-3"
        )
    if not ipp.authority:
        raise MappingError(
            f"IPP {ipp.value!r} has no assigning authority (CX-4)", location="PID-3.4"
        )
    return ipp


def _related(message: Message, reader: Reader, trigger: str) -> tuple[PatientIdentifier, ...]:
    """MRG-1 of A40/A47, or the second PID-3 of A24/A37."""
    if trigger in ("A40", "A47"):
        mrg = _segment(message, "MRG", trigger)
        related = read_identifiers(reader, mrg.field(1), "MRG-1")
        where = "MRG-1"
    else:
        pid = _segment(message, "PID", trigger, occurrence=1)
        related = read_identifiers(reader, pid.field(3), "PID[2]-3")
        where = "PID[2]-3"
    if not related:
        raise MappingError(f"ADT^{trigger} names no other patient identifier", location=where)
    return related


def _links(trigger: str, related: tuple[PatientIdentifier, ...]) -> list[dict[str, Any]]:
    """Patient.link: a merge replaces the absorbed record, a link points to the other one."""
    if trigger == "A40":
        kind = "replaces"
    elif trigger == "A24":
        kind = "seealso"
    else:
        return []
    return [
        {"other": {"identifier": _reference_identifier(item)}, "type": kind}
        for item in related
        if item.value
    ]


def _reference_identifier(item: PatientIdentifier) -> dict[str, Any]:
    result = identifier(item)
    result.pop("use", None)
    return result


def _event(
    message: Message,
    trigger: str,
    facts: PidFacts,
    related: tuple[PatientIdentifier, ...],
    reader: Reader,
) -> IdentityEvent:
    ipp = _ipp(facts, trigger)
    evn = message.segment("EVN")
    recorded = fhir_datetime(reader.first_component(evn.field(2)), "EVN-2") if evn else None
    kind = ADT_EVENTS[trigger]
    return IdentityEvent(
        kind=kind,
        trigger=trigger,
        control_id=message.control_id,
        recorded_at=recorded,
        authority=ipp.authority,
        ipp=ipp.value,
        identifiers=facts.identifiers,
        traits=facts.traits,
        ins=facts.ins,
        status=facts.status,
        reliability_codes=facts.reliability_codes,
        attributes=facts.attributes,
        cleared=facts.cleared,
        prior=related
        if kind in (IdentityEventKind.MERGE, IdentityEventKind.IDENTIFIER_CHANGE)
        else (),
        other=related if kind in (IdentityEventKind.LINK, IdentityEventKind.UNLINK) else (),
        zfd=map_zfd(reader, message.segment("ZFD")),
        sending_facility=message.sending_facility,
    )


def map_adt(message: Message) -> AdtMapping:
    """Map one PAM France ADT message (see the module docstring for the events).

    Raises :class:`hub.errors.MappingError` naming the field for content that
    cannot be mapped: an unsupported event, no IPP, an INS with a foreign
    authority, a malformed date, a missing MRG or second PID.
    """
    trigger = _trigger(message)
    reader = Reader(message)
    facts = map_pid(reader, _segment(message, "PID", trigger))
    related = _related(message, reader, trigger) if trigger in ("A40", "A47", "A24", "A37") else ()
    event = _event(message, trigger, facts, related, reader)
    patient_data = patient_dict(facts, event.zfd)
    links = _links(trigger, related)
    if links:
        patient_data["link"] = links
    movement = map_zbe(reader, message.segment("ZBE"))
    encounter = None
    visit = map_pv1(reader, message.segment("PV1")) if trigger in ENCOUNTER_STATUS else None
    if visit is not None:
        encounter = encounter_dict(trigger, visit, movement, facts.ipp)
    return AdtMapping(patient_data, encounter, movement, event)
