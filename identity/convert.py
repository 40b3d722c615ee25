"""From the mapping layer's identity event to the SRRI's local record.

The HL7 mapping (:mod:`mappings.hl7v2.identity_event`) carries the facts as
sent; here the INS is checked (format, key, OID; test and demo OIDs only in
test mode) and the RNIV status and attributes become the model's enums. An
INS that fails the checks is dropped from the record, never trusted, and the
reason is returned so the log can say why.
"""

from __future__ import annotations

from dataclasses import dataclass

from identity.errors import InsError
from identity.ins import Ins, parse_ins
from identity.model import Attribute, LocalRecord, Sex, Status, Traits, make_record
from mappings.hl7v2.identity_event import IdentityEvent, PatientIdentifier

_ATTRIBUTES = {a.value: a for a in Attribute}
_SEX = {s.value: s for s in Sex}


@dataclass(frozen=True, slots=True)
class Converted:
    """The local record an event describes, and why its INS was refused (if it was)."""

    record: LocalRecord
    ins_problem: str | None


def traits_of(event: IdentityEvent) -> Traits:
    """RNIV traits from the event (the birth list of given names first)."""
    t = event.traits
    given = t.birth_given_names or ((t.first_given_name,) if t.first_given_name else ())
    return Traits(
        birth_name=t.birth_name, given_names=tuple(given), used_name=t.used_name,
        used_given_name=t.used_given_name, birth_date=t.birth_date,
        sex=_SEX.get((t.sex or "U").upper(), Sex.UNKNOWN), birthplace=t.birthplace_insee,
    )


def checked_ins(event: IdentityEvent, *, test_mode: bool) -> tuple[Ins | None, str | None]:
    """The INS when it passes the checks, else None and the reason."""
    if event.ins is None:
        return None, None
    try:
        return parse_ins(event.ins.value, event.ins.oid, test_mode=test_mode), None
    except InsError as exc:
        return None, str(exc)


def to_record(event: IdentityEvent, *, test_mode: bool) -> Converted:
    """The local record (authority + IPP) the event is about."""
    ins, problem = checked_ins(event, test_mode=test_mode)
    status = Status(event.status.value)
    if status is Status.QUAL and ins is None:
        status = Status.VALI  # qualified needs a usable INS
    attributes = frozenset(_ATTRIBUTES[a] for a in event.attributes if a in _ATTRIBUTES)
    record = make_record(event.authority, event.ipp, traits_of(event), status=status,
                         attributes=attributes, ins=ins)
    return Converted(record, problem)


def same_authority(identifiers: tuple[PatientIdentifier, ...], authority: str) -> str | None:
    """The IPP among ``identifiers`` assigned by ``authority`` (MRG-1, second PID)."""
    for identifier in identifiers:
        if identifier.authority == authority and identifier.value and \
                identifier.type_code.upper() in ("PI", ""):
            return identifier.value
    for identifier in identifiers:
        if identifier.authority == authority and identifier.value \
                and identifier.type_code.upper() != "INS":
            return identifier.value
    return None


def first_local(identifiers: tuple[PatientIdentifier, ...]) -> tuple[str, str] | None:
    """(authority, IPP) of the first identifier that is not an INS."""
    for identifier in identifiers:
        if identifier.value and identifier.type_code.upper() not in ("INS", "NH"):
            return identifier.authority, identifier.value
    return None
