"""PID (and ZFD) to identity facts and to a FHIR R4B Patient, after IHE PAM France 2.11.

Rules applied (PAM France 2.11.2 section 6.6 and Appendix N FR):

* 6.6.1 PID-3: identifiers with their authority (CX-4) and type (CX-5). An
  INS is a CX typed ``INS`` whose authority is one of the INS OIDs; a NIR
  typed ``NH`` is the billing number, never an INS. The INS is only sent for
  a qualified identity.
* 6.6.15 PID-32: a receiver keeps an INS only when PID-32 holds ``VALI``;
  otherwise it integrates the message without it. The Patient resource
  follows that rule; the identity event keeps the INS, marked not qualified.
* 6.6.2 / XPN-7: type L is the birth name (with the INSi list of given names
  in XPN-3), type D the used name, ``""`` in a type D clears it.
* XAD-7 ``BDL`` with XAD-9: the INSEE code of the birthplace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hub.errors import MappingError
from hub.hl7.er7 import Segment
from mappings.hl7v2 import fhir_fr
from mappings.hl7v2.datatypes import CX, HL7_NULL, XAD, XPN, XTN, Reader, fhir_date, fhir_datetime
from mappings.hl7v2.identity_event import (
    INS_OIDS,
    IdentityStatus,
    IdentityTraits,
    Ins,
    PatientIdentifier,
    Zfd,
)

__all__ = ["PidFacts", "map_pid", "map_zfd", "patient_dict", "rniv_status"]

_INS_VALUE = re.compile(r"[0-9][0-9]{4}(?:[0-9]{2}|2A|2B)[0-9]{8}")
_STATUS_CODES = frozenset({"VIDE", "PROV", "VALI"})
_NO_QUALIFICATION = frozenset({"FICT", "DOUT"})
_SEX = {"F": "female", "M": "male", "U": "unknown", "O": "other", "A": "other", "N": "unknown"}


@dataclass(frozen=True, slots=True)
class PidFacts:
    """What one PID says about the patient, before any FHIR model is built."""

    identifiers: tuple[PatientIdentifier, ...]
    cleared: tuple[PatientIdentifier, ...]
    ipp: PatientIdentifier | None
    ins: Ins | None
    traits: IdentityTraits
    names: tuple[XPN, ...]
    addresses: tuple[XAD, ...]
    telecoms: tuple[XTN, ...]
    reliability_codes: tuple[str, ...]
    status: IdentityStatus
    deceased: str | bool | None

    @property
    def attributes(self) -> tuple[str, ...]:
        """PID-32 codes that are identity attributes rather than a status (DOUT, FICT, HOMA...)."""
        return tuple(code for code in self.reliability_codes if code not in _STATUS_CODES)


def rniv_status(codes: tuple[str, ...], has_ins: bool) -> IdentityStatus:
    """The RNIV status implied by PID-32 and the presence of an INS.

    RNIV 1 EXI SI 07: qualified = INS recovered from INSi and identity
    validated (PID-32 ``VALI``); recovered = INS without ``VALI``; validated =
    ``VALI`` without INS; provisional otherwise. RNIV 1 EXI SI 09: a doubtful
    (DOUT) or fictitious (FICT) identity stays provisional.
    """
    if _NO_QUALIFICATION.intersection(codes):
        return IdentityStatus.PROVISIONAL
    validated = "VALI" in codes
    if has_ins:
        return IdentityStatus.QUALIFIED if validated else IdentityStatus.RECOVERED
    return IdentityStatus.VALIDATED if validated else IdentityStatus.PROVISIONAL


def _identifier(cx: CX) -> PatientIdentifier:
    authority = cx.authority
    return PatientIdentifier(
        value="" if cx.is_null else cx.value,
        authority_oid=authority.oid,
        authority_name=authority.namespace,
        authority_id=authority.universal_id,
        type_code=cx.type_code,
        authority_id_type=authority.universal_id_type,
    )


def _read_identifiers(
    reader: Reader, raw: str, location: str
) -> tuple[list[PatientIdentifier], list[PatientIdentifier]]:
    """PID-3 / MRG-1 repetitions, split into present and cleared (``""``) identifiers."""
    present: list[PatientIdentifier] = []
    cleared: list[PatientIdentifier] = []
    for index, rep in enumerate(reader.repetitions(raw), 1):
        cx = CX.read(reader, rep)
        if not cx.value:
            continue
        identifier = _identifier(cx)
        if cx.type_code == "INS":
            _check_ins(identifier, f"{location}[{index}]")
        (cleared if cx.is_null else present).append(identifier)
    return present, cleared


def _check_ins(identifier: PatientIdentifier, location: str) -> None:
    """An INS names an INS authority (Appendix N.1 FR) and has 15 characters (13 + key)."""
    if identifier.authority_oid not in INS_OIDS:
        raise MappingError(
            f"identifier typed 'INS' has authority {identifier.authority!r}, expected one of "
            f"{', '.join(INS_OIDS)}",
            location=f"{location}.4",
        )
    if identifier.value and not _INS_VALUE.fullmatch(identifier.value):
        raise MappingError(
            f"INS {identifier.value!r} is not 15 characters (13-character matricule, 2-digit key)",
            location=f"{location}.1",
        )


def read_identifiers(reader: Reader, raw: str, location: str) -> tuple[PatientIdentifier, ...]:
    """Identifiers of a CX list field (MRG-1, a second PID-3), ``""`` ones included."""
    present, cleared = _read_identifiers(reader, raw, location)
    return tuple(present + cleared)


def _pick_ins(identifiers: list[PatientIdentifier]) -> PatientIdentifier | None:
    """The INS of PID-3; an INS-NIR wins over an INS-NIA (PAM France 4.4.1)."""
    candidates = [item for item in identifiers if item.type_code == "INS"]
    candidates.sort(key=lambda item: INS_OIDS[item.authority_oid or ""][0] == "NIA")
    return candidates[0] if candidates else None


def _pick_ipp(identifiers: list[PatientIdentifier]) -> PatientIdentifier | None:
    """The IPP: the first identifier typed ``PI`` (Appendix N.1 FR)."""
    return next((item for item in identifiers if item.type_code == "PI"), None)


def _traits(
    names: list[XPN], birth: str | None, sex: str | None, birthplace: str | None
) -> IdentityTraits:
    legal = next((name for name in names if name.type_code == "L"), None)
    used = next((name for name in names if name.type_code == "D"), None)
    used_cleared = used is not None and used.family == HL7_NULL
    return IdentityTraits(
        birth_name=legal.family or None if legal else None,
        first_given_name=legal.given or None if legal else None,
        birth_given_names=tuple(legal.further_given.split()) if legal else (),
        used_name=None if used is None or used_cleared else used.family or None,
        used_given_name=None if used is None or used_cleared else used.given or None,
        used_name_cleared=used_cleared,
        birth_date=birth,
        sex=sex,
        birthplace_insee=birthplace,
    )


def _sex(value: str, location: str) -> str | None:
    if not value:
        return None
    if value not in _SEX:
        raise MappingError(
            f"administrative sex {value!r} is not one of F, M, U (table 0001)", location=location
        )
    return value


def _deceased(reader: Reader, pid: Segment, prefix: str) -> str | bool | None:
    """PID-29 death date, else PID-30 indicator ``Y``."""
    moment = fhir_datetime(
        reader.text(pid.field(29).split(reader.encoding.component, 1)[0]), f"{prefix}-29"
    )
    if moment:
        return moment
    return True if reader.text(pid.field(30)) == "Y" else None


def map_pid(reader: Reader, pid: Segment, prefix: str = "PID") -> PidFacts:
    """Read one PID into :class:`PidFacts` (PAM France 6.6). ``prefix`` locates errors."""
    present, cleared = _read_identifiers(reader, pid.field(3), f"{prefix}-3")
    names = [XPN.read(reader, rep) for rep in reader.repetitions(pid.field(5))]
    addresses = [XAD.read(reader, rep) for rep in reader.repetitions(pid.field(11))]
    telecoms = [
        XTN.read(reader, rep)
        for rep in reader.repetitions(pid.field(13) + reader.encoding.repetition + pid.field(14))
    ]
    codes = tuple(
        code for code in (reader.text(rep) for rep in reader.repetitions(pid.field(32))) if code
    )
    ins_id = _pick_ins(present)
    status = rniv_status(codes, ins_id is not None)
    birth = fhir_date(reader.first_component(pid.field(7)), f"{prefix}-7")
    birthplace = next((a.county for a in addresses if a.type_code == "BDL" and a.county), None)
    sex = _sex(reader.text(pid.field(8)), f"{prefix}-8")
    ins = None
    if ins_id is not None:
        kind = INS_OIDS[ins_id.authority_oid or ""][0]
        ins = Ins(
            ins_id.value, ins_id.authority_oid or "", kind, status is IdentityStatus.QUALIFIED
        )
    return PidFacts(
        identifiers=tuple(present),
        cleared=tuple(cleared),
        ipp=_pick_ipp(present),
        ins=ins,
        traits=_traits(names, birth, sex, birthplace),
        names=tuple(names),
        addresses=tuple(addresses),
        telecoms=tuple(telecoms),
        reliability_codes=codes,
        status=status,
        deceased=_deceased(reader, pid, prefix),
    )


def _yes_no(value: str) -> bool | None:
    return {"Y": True, "N": False}.get(value)


def map_zfd(reader: Reader, zfd: Segment | None) -> Zfd | None:
    """ZFD, complément démographique (PAM France 6.18); None without the segment."""
    if zfd is None:
        return None
    lunar = [reader.text(part) for part in reader.components(zfd.field(1), 3)]
    return Zfd(
        lunar_date="-".join(reversed(lunar)) if all(lunar) else None,
        gestation_weeks=reader.text(zfd.field(2)) or None,
        sms_consent=_yes_no(reader.text(zfd.field(3))),
        birth_date_corrected=_yes_no(reader.text(zfd.field(4))),
        identity_method=reader.text(zfd.field(5)) or None,
        insi_query_date=fhir_date(reader.first_component(zfd.field(6)), "ZFD-6"),
        evidence_type=reader.text(zfd.field(7)) or None,
        evidence_expiry=fhir_date(reader.first_component(zfd.field(8)), "ZFD-8"),
    )


def patient_dict(facts: PidFacts, zfd: Zfd | None) -> dict[str, Any]:
    """The FHIR R4B Patient (as a dict, validated by the caller) for one PID."""
    patient: dict[str, Any] = {"resourceType": "Patient"}
    extensions = fhir_fr.patient_extensions(facts.status, facts.attributes, facts.addresses, zfd)
    if extensions:
        patient["extension"] = extensions
    identifiers = [
        fhir_fr.identifier(item) for item in facts.identifiers if _shown(item, facts.ins)
    ]
    if identifiers:
        patient["identifier"] = identifiers
    names = [entry for entry in (fhir_fr.human_name(name) for name in facts.names) if entry]
    if names:
        patient["name"] = names
    telecoms = [entry for entry in (fhir_fr.contact_point(tel) for tel in facts.telecoms) if entry]
    if telecoms:
        patient["telecom"] = telecoms
    if facts.traits.sex:
        patient["gender"] = _SEX[facts.traits.sex]
    if facts.traits.birth_date:
        patient["birthDate"] = facts.traits.birth_date
    if isinstance(facts.deceased, bool):
        patient["deceasedBoolean"] = facts.deceased
    elif facts.deceased:
        patient["deceasedDateTime"] = facts.deceased
    addresses = [fhir_fr.address(item) for item in facts.addresses if item.type_code != "BDL"]
    addresses = [entry for entry in addresses if entry]
    if addresses:
        patient["address"] = addresses
    return patient


def _shown(identifier: PatientIdentifier, ins: Ins | None) -> bool:
    """An INS appears in the Patient only when qualified (PAM France 6.6.15)."""
    if identifier.type_code != "INS":
        return True
    return ins is not None and ins.qualified and identifier.value == ins.value
