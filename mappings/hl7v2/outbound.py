"""Outbound HL7 v2 builders: the ADT^A31 identity update and the CI-SIS business acknowledgements.

* ``adt_a31``: PAM France ITI-30 A31 (patient information update) in PIX
  update style: every identifier the hub knows for the patient in PID-3, the
  INS only when the identity is qualified (PAM France 6.6.1), the names,
  birth date, sex, birthplace and PID-32.
* ``zam_z01`` / ``zam_z02`` / ``zam_z03``: the business acknowledgements of
  the CI-SIS volet "Transmission de documents CDA en HL7v2" (ZAM^Z01
  repository receipt, ZAM^Z02 MSSanté delivery, ZAM^Z03 MSSanté read), laid
  out as the volet's published examples: HL7 v2.6, EVN, an OBX ``CWE`` with
  the Y/N answer whose OBX-4 is the original MSH-10, an OBX ``XTN`` naming
  the MSSanté recipient or reader, an ERR with the repository's error code.

The technical ACK is ``hub.hl7.ack.build_ack``. Output is UTF-8 with the
standard delimiters ``|^~\\&`` and ``\\r`` after every segment.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.hl7.er7 import Encoding, Message
from hub.hl7.paths import escape, unescape
from mappings.hl7v2.identity_event import IdentityTraits, PatientIdentifier

__all__ = ["A31Patient", "MssAddressee", "ZamError", "adt_a31", "zam_z01", "zam_z02", "zam_z03"]

_STD = Encoding("|", "^", "~", "\\", "&")
_YES_NO = "expandedYes-NoIndicator"
_CISIS_PROFILE = "2.1^CISIS_CDA_HL7_V2"


@dataclass(frozen=True, slots=True)
class A31Patient:
    """What the hub knows of one patient, to announce in an A31."""

    identifiers: tuple[PatientIdentifier, ...]
    traits: IdentityTraits
    reliability_codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ZamError:
    """The ERR of a negative ZAM: ERR-3 HL7 code (table 0357), ERR-5 application error."""

    code: str
    text: str
    system: str = "DMPERRORCODE"
    hl7_code: str = "207"
    hl7_text: str = "Application internal error"


@dataclass(frozen=True, slots=True)
class MssAddressee:
    """An MSSanté recipient or reader: identifier (IDNPS, INS...) and mailbox address."""

    id: str
    address: str


def _e(value: str) -> str:
    return escape(value, _STD)


def _recode(raw: str, source: Encoding, charset: str) -> str:
    """Re-encode a raw field of the original message with the standard delimiters."""
    components = raw.split(source.component)
    out = []
    for component in components:
        parts = component.split(source.subcomponent) if source.subcomponent else [component]
        out.append("&".join(_e(unescape(part, source, charset)) for part in parts))
    return "^".join(out)


def _msh(fields: list[str]) -> str:
    return "MSH|^~\\&|" + "|".join(fields)


def _zam_header(original: Message, event: str, control_id: str, timestamp: str) -> str:
    """MSH of a ZAM: applications swapped, v2.6, MSH-21 copied (CI-SIS volet, ZAM examples)."""
    msh = original.segments[0]
    recode = [_recode(msh.field(n), original.encoding, original.charset) for n in (5, 6, 3, 4)]
    profile = _recode(msh.field(21), original.encoding, original.charset) or _CISIS_PROFILE
    processing = _recode(msh.field(11), original.encoding, original.charset) or "P"
    fields = [*recode, _e(timestamp), "", f"ZAM^{event}^ZAM_Z01", _e(control_id), processing, "2.6"]
    fields += ["", "", "", "", "FRA", "UNICODE UTF-8", "", "", profile]
    return _msh(fields)


def _answer_obx(code: str, label: str, reference: str, answer: bool) -> str:
    value = f"{'Y' if answer else 'N'}^^{_YES_NO}"
    return f"OBX|1|CWE|{code}^{_e(label)}^AckMetierZAM|{_e(reference)}|{value}||||||F|"


def _addressee_obx(code: str, label: str, who: MssAddressee) -> str:
    return (
        f"OBX|2|XTN|{code}^{_e(label)}^AckMetierZAM|{_e(who.id)}|^^X.400^{_e(who.address)}||||||F|"
    )


def _err(error: ZamError) -> str:
    hl7 = f"{_e(error.hl7_code)}^{_e(error.hl7_text)}^messageErrorCondition"
    return f"ERR|||{hl7}|E|{_e(error.code)}^{_e(error.text)}^{_e(error.system)}"


def _zam(original: Message, event: str, body: list[str], stamps: tuple[str, str, str]) -> bytes:
    control_id, timestamp, event_time = stamps
    segments = [
        _zam_header(original, event, control_id, timestamp),
        f"EVN||{_e(event_time)}",
        *body,
    ]
    return ("\r".join(segments) + "\r").encode("utf-8")


def zam_z01(
    original: Message,
    *,
    received: bool,
    control_id: str,
    timestamp: str,
    event_time: str | None = None,
    error: ZamError | None = None,
) -> bytes:
    """ZAM^Z01: did the repository (DMP) accept the document of ``original``.

    OBX ``ACK_RECEPTION_DMP`` answers Y/N, OBX-4 is the original MSH-10; a
    refusal carries an ERR naming the repository's error (CI-SIS volet,
    "Message metier reception DMP").
    """
    body = [
        _answer_obx("ACK_RECEPTION_DMP", "Accusé de réception DMP", original.control_id, received)
    ]
    if error is not None:
        body.append(_err(error))
    return _zam(original, "Z01", body, (control_id, timestamp, event_time or timestamp))


def zam_z02(
    original: Message,
    *,
    delivered: bool,
    recipient: MssAddressee,
    control_id: str,
    timestamp: str,
    event_time: str | None = None,
    error: ZamError | None = None,
) -> bytes:
    """ZAM^Z02: was the MSSanté mail delivered to ``recipient`` (CI-SIS, "reception MSS")."""
    answer = _answer_obx(
        "ACK_RECEPTION_MSS", "Accusé de réception MSSanté", original.control_id, delivered
    )
    body = [answer, _addressee_obx("DESTINATAIRE_MSS", "Destinataire MSSanté", recipient)]
    if error is not None:
        body.append(_err(error))
    return _zam(original, "Z02", body, (control_id, timestamp, event_time or timestamp))


def zam_z03(
    original: Message,
    *,
    read: bool,
    reader: MssAddressee,
    control_id: str,
    timestamp: str,
    event_time: str | None = None,
) -> bytes:
    """ZAM^Z03: was the MSSanté mail read, and by whom (CI-SIS, "lecture MSS")."""
    answer = _answer_obx("ACK_LECTURE_MSS", "Accusé de lecture", original.control_id, read)
    body = [answer, _addressee_obx("LECTEUR_MSS", "Lecteur du courriel MSSanté", reader)]
    return _zam(original, "Z03", body, (control_id, timestamp, event_time or timestamp))


def _cx(item: PatientIdentifier) -> str:
    if item.authority_oid:
        authority = f"{_e(item.authority_name)}&{_e(item.authority_oid)}&ISO"
    else:
        authority = (
            f"{_e(item.authority_name)}&{_e(item.authority_id)}&{_e(item.authority_id_type)}"
        )
    return f"{_e(item.value)}^^^{authority}^{_e(item.type_code)}"


def _names(traits: IdentityTraits) -> str:
    names = []
    if traits.used_name:
        names.append(f"{_e(traits.used_name)}^{_e(traits.used_given_name or '')}^^^^^D")
    elif traits.used_name_cleared:
        names.append('""^^^^^^D')
    if traits.birth_name:
        further = _e(" ".join(traits.birth_given_names))
        names.append(f"{_e(traits.birth_name)}^{_e(traits.first_given_name or '')}^{further}^^^^L")
    return "~".join(names)


def _pid(patient: A31Patient) -> str:
    """PID for the A31 (PAM France 6.6); the INS only for a validated identity (6.6.1)."""
    qualified = "VALI" in patient.reliability_codes
    shown = [item for item in patient.identifiers if item.type_code != "INS" or qualified]
    traits = patient.traits
    fields = [""] * 33
    fields[1] = "1"
    fields[3] = "~".join(_cx(item) for item in shown)
    fields[5] = _names(traits)
    fields[7] = (traits.birth_date or "").replace("-", "")
    fields[8] = _e(traits.sex or "")
    if traits.birthplace_insee:
        fields[11] = f"^^^^^^BDL^^{_e(traits.birthplace_insee)}"
    fields[32] = "~".join(_e(code) for code in patient.reliability_codes)
    return "PID" + "|".join(fields).rstrip("|")


def adt_a31(
    patient: A31Patient,
    *,
    control_id: str,
    timestamp: str,
    sending: tuple[str, str] = ("HUB", "GRADES"),
    receiving: tuple[str, str] = ("", ""),
) -> bytes:
    """ADT^A31^ADT_A05 (PAM France ITI-30) announcing every known identifier of ``patient``.

    PIX update style: PID-3 lists all the identifiers the hub holds (local
    IPPs of each authority, INS when qualified); PV1-2 is ``N`` (no visit).
    """
    header = [_e(sending[0]), _e(sending[1]), _e(receiving[0]), _e(receiving[1]), _e(timestamp)]
    header += ["", "ADT^A31^ADT_A05", _e(control_id), "P", "2.5^FRA^2.11", "", "", "", ""]
    header += ["FRA", "UNICODE UTF-8", "FR", "", "2.11^IHE_FRANCE-2.11-PAM"]
    segments = [_msh(header), f"EVN||{_e(timestamp)}", _pid(patient), "PV1|1|N"]
    return ("\r".join(segments) + "\r").encode("utf-8")
