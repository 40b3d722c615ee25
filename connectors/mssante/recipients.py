"""Who receives the mail of one CI-SIS document message.

CI-SIS volet "Transmission de documents CDA en HL7v2" (2.1), MetaDMPMSS flags
and PRT participants:

* ``DESTMSSANTEPS=Y``: the professionals: PRT ``RCT`` participants with an
  MSSanté address (PRT-15, XTN ``X.400``); an RCT without an address but with
  an RPPS is looked up in the directory; the CDA ``informationRecipient``
  (``telecom`` ``mailto:``, else its RPPS through the directory); the
  prescriber (ORC-12, OBR-16) and the general practitioner (PD1-4) through the
  directory by RPPS.
* ``DESTMSSANTEPAT=Y``: the patient's mailbox ``<INS>@patient.mssante.fr``
  (ANS, "MSSanté: messagerie citoyenne"), only when the identity is qualified
  (PID-32 ``VALI`` with an INS): an unqualified INS must not address a mail.

Professionals and the patient get separate mails (the patient must not read
the body written for professionals, CORPSMAIL_PS). Pure functions: the
directory is passed in as a mapping.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from hub.hl7.er7 import Message
from mappings.cda import parse_cda
from mappings.cda.nodes import NS
from mappings.hl7v2 import DocumentMessage, Participant
from mappings.hl7v2.datatypes import XCN, Reader

RPPS_ROOT = "1.2.250.1.71.4.2.1"
"""OID of the national identifiers of health professionals (IDNPS: ``8`` + RPPS)."""


class Audience(StrEnum):
    """Who a mail is written for."""

    PROFESSIONALS = "ps"
    PATIENT = "patient"


@dataclass(frozen=True, slots=True)
class Recipient:
    """One mailbox, the identifier it stands for (RPPS, IDNPS, INS) and where it came from."""

    address: str
    id: str
    audience: Audience
    origin: str


@dataclass(frozen=True, slots=True)
class Wanted:
    """A professional named without an address: found through the directory by RPPS."""

    rpps: str
    origin: str


def _rpps_of(person_id: str, type_code: str = "") -> str | None:
    if type_code == "RPPS" and len(person_id) == 11:
        return person_id
    if len(person_id) == 12 and person_id.startswith("8") and person_id.isdigit():
        return person_id[1:]
    if len(person_id) == 11 and person_id.isdigit() and type_code in ("", "RPPS", "IDNPS"):
        return person_id
    return None


def cda_information_recipients(document: bytes) -> list[tuple[str | None, str | None]]:
    """``(mailto address, RPPS)`` of each ``informationRecipient`` of a CDA (CI-SIS header)."""
    root = parse_cda(document)
    found = []
    for intended in root.iterfind("v3:informationRecipient/v3:intendedRecipient", NS):
        address = next((t.get("value", "")[7:] for t in intended.iterfind("v3:telecom", NS)
                        if t.get("value", "").lower().startswith("mailto:")), None)
        rpps = next((_rpps_of(i.get("extension", "")) for i in intended.iterfind("v3:id", NS)
                     if i.get("root") == RPPS_ROOT), None)
        found.append((address or None, rpps))
    return found


def prescribers(message: Message) -> list[str]:
    """RPPS of the ordering provider (ORC-12, OBR-16) and the GP (PD1-4), when given."""
    reader = Reader(message)
    found = []
    for name, number in (("ORC", 12), ("OBR", 16), ("PD1", 4)):
        for segment in message.segments_named(name):
            for raw in reader.repetitions(segment.field(number)):
                person = XCN.read(reader, raw)
                rpps = _rpps_of(person.id, person.type_code)
                if rpps:
                    found.append(rpps)
    return found


def _is_patient_box(address: str, patient_domain: str) -> bool:
    return address.lower().endswith("@" + patient_domain.lower())


def _from_participants(recipients: Sequence[Participant], patient_domain: str,
                       ) -> tuple[list[Recipient], list[Wanted]]:
    found, wanted = [], []
    for p in recipients:
        if p.address and not _is_patient_box(p.address, patient_domain):
            found.append(Recipient(p.address, p.rpps or p.person_id, Audience.PROFESSIONALS,
                                   "PRT"))
        elif not p.address and p.rpps:
            wanted.append(Wanted(p.rpps, "PRT"))
    return found, wanted


def professionals(mapped: DocumentMessage, cda_recipients: Iterable[tuple[str | None, str | None]],
                  prescriber_rpps: Iterable[str], patient_domain: str,
                  ) -> tuple[list[Recipient], list[Wanted]]:
    """Addresses known from the message and CDA, and the RPPS numbers to look up."""
    found, wanted = _from_participants(mapped.recipients, patient_domain)
    for address, rpps in cda_recipients:
        if address:
            found.append(Recipient(address, rpps or "", Audience.PROFESSIONALS,
                                   "CDA informationRecipient"))
        elif rpps:
            wanted.append(Wanted(rpps, "CDA informationRecipient"))
    wanted += [Wanted(rpps, "prescriber/GP") for rpps in prescriber_rpps]
    return found, wanted


def patient_mailbox(mapped: DocumentMessage, patient_domain: str) -> Recipient | None:
    """``<INS>@<patient_domain>`` when DESTMSSANTEPAT=Y and the INS is qualified; else None."""
    ins = mapped.ins
    if mapped.flags.dest_mssante_pat is not True or ins is None or not ins.qualified:
        return None
    return Recipient(f"{ins.value}@{patient_domain}", ins.value, Audience.PATIENT, "INS")


def resolve(found: Iterable[Recipient], wanted: Iterable[Wanted],
            directory: Mapping[str, str]) -> tuple[list[Recipient], list[str]]:
    """Add the directory's addresses; return the recipients (first seen per address) and notes.

    A notes entry says which RPPS the directory did not know (journal detail).
    """
    chosen: dict[str, Recipient] = {}
    notes = []
    for recipient in found:
        chosen.setdefault(recipient.address.lower(), recipient)
    for item in wanted:
        address = directory.get(item.rpps)
        if address is None:
            notes.append(f"RPPS {item.rpps} ({item.origin}) not in the MSSanté directory")
            continue
        chosen.setdefault(address.lower(), Recipient(address, item.rpps, Audience.PROFESSIONALS,
                                                     f"directory ({item.origin})"))
    return list(chosen.values()), notes

