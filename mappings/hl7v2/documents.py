"""ORU^R01 and MDM^T02/T10/T04 carrying CDA (CI-SIS "Transmission de documents CDA en HL7v2").

What the volet (CI-SIS, versions 1.2 to 2.1) puts where:

* the CDA in an OBX of type ED, data subtype ``XML``, mostly Base64;
* the action: for ORU the OBX-11 of the document (``F`` initial, ``C``
  replacement, ``D`` deletion), for MDM the event (T02 initial, T10
  replacement, T04 deletion);
* the ``MetaDMPMSS`` OBX flags (Y/N) saying where the document goes (DMP,
  MSSanté to professionals or to the patient), how it is shown (masked,
  invisible to the patient or legal representatives, secret connection,
  confidentiality change) and which acknowledgements are asked for; the
  ``CORPSMAIL_PS`` OBX carries the mail body for professionals;
* PRT segments (HL7 v2.6+ participation): SB author, RCT recipients (with
  their MSSanté address in PRT-15), REPLY the reply-to address.

The CDA bytes are returned as they were sent; reading the CDA header is the
job of ``mappings.cda``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from fhir.resources.R4B.patient import Patient

from hub.errors import MappingError
from hub.hl7.er7 import Message, Segment
from mappings.hl7v2.datatypes import XCN, XON, XTN, Reader
from mappings.hl7v2.embedded import check_cda, decode_ed
from mappings.hl7v2.identity_event import Ins, PatientIdentifier
from mappings.hl7v2.pid import map_pid, patient_dict
from mappings.hl7v2.validation import validated

__all__ = [
    "CodedValue",
    "DmpMssFlags",
    "DocumentAction",
    "DocumentMessage",
    "EmbeddedDocument",
    "Participant",
    "Txa",
    "map_document_message",
]


class DocumentAction(StrEnum):
    """What the sender asks for the document."""

    INITIAL = "initial"
    REPLACEMENT = "replacement"
    DELETION = "deletion"


_OBX11_ACTIONS = {
    "F": DocumentAction.INITIAL,
    "C": DocumentAction.REPLACEMENT,
    "D": DocumentAction.DELETION,
}
_MDM_ACTIONS = {
    "T02": DocumentAction.INITIAL,
    "T10": DocumentAction.REPLACEMENT,
    "T04": DocumentAction.DELETION,
}
_FLAGS = {
    "DESTDMP": "dest_dmp",
    "DESTMSSANTEPS": "dest_mssante_ps",
    "DESTMSSANTEPAT": "dest_mssante_pat",
    "MASQUE_PS": "masque_ps",
    "INVISIBLE_PATIENT": "invisible_patient",
    "INVISIBLE_REP_LEGAUX": "invisible_rep_legaux",
    "INVISIBLE_REPRESENTANTS_LEGAUX": "invisible_rep_legaux",
    "CONNEXION_SECRETE": "connexion_secrete",
    "MODIF_CONF_CODE": "modif_conf_code",
    "MODIF_CONFIDENTIALITYCODE": "modif_conf_code",
    "ACK_RECEPTION": "ack_reception",
    "ACK_LECTURE_MSS": "ack_lecture_mss",
    "ACK_LECTURE": "ack_lecture_mss",
}
"""MetaDMPMSS codes (volet 2.x) and their volet 1.x spellings -> DmpMssFlags field."""
_ROLES = {"SB": "author", "RCT": "recipient", "REPLY": "reply-to"}


@dataclass(frozen=True, slots=True)
class CodedValue:
    """A CE/CWE: code, display text, coding system name."""

    code: str
    display: str
    system: str


@dataclass(frozen=True, slots=True)
class DmpMssFlags:
    """The MetaDMPMSS OBX flags; None when the sender did not send the flag."""

    dest_dmp: bool | None = None
    dest_mssante_ps: bool | None = None
    dest_mssante_pat: bool | None = None
    masque_ps: bool | None = None
    invisible_patient: bool | None = None
    invisible_rep_legaux: bool | None = None
    connexion_secrete: bool | None = None
    modif_conf_code: bool | None = None
    ack_reception: bool | None = None
    ack_lecture_mss: bool | None = None
    corpsmail_ps: str | None = None


@dataclass(frozen=True, slots=True)
class EmbeddedDocument:
    """One embedded document: its OBX, its code (OBX-3), the action and the bytes."""

    obx: int
    code: CodedValue
    action: DocumentAction
    media_type: str
    encoding: str
    content: bytes
    checked_cda: bool


@dataclass(frozen=True, slots=True)
class Participant:
    """A PRT participant: role, person (PRT-5), organization (PRT-8), MSSanté address (PRT-15)."""

    role: str
    role_code: str
    person_id: str = ""
    person_id_type: str = ""
    person_id_authority: str = ""
    family: str = ""
    given: str = ""
    organization: str = ""
    organization_id: str = ""
    address: str = ""

    @property
    def rpps(self) -> str | None:
        """The RPPS number: the id typed RPPS, or an IDNPS ``8`` + RPPS (CI-SIS identifiers)."""
        if self.person_id_type == "RPPS":
            return self.person_id
        if (
            self.person_id_type == "IDNPS"
            and self.person_id.startswith("8")
            and len(self.person_id) == 12
        ):
            return self.person_id[1:]
        return None


@dataclass(frozen=True, slots=True)
class Txa:
    """MDM TXA: document type (TXA-2), unique id (TXA-12), parent (TXA-13), status (TXA-17)."""

    document_type: str
    unique_id: str
    parent_id: str
    completion_status: str


@dataclass(frozen=True, slots=True)
class DocumentMessage:
    """One CI-SIS document message, mapped."""

    message_type: str
    trigger: str
    control_id: str
    profile: str
    action: DocumentAction
    documents: tuple[EmbeddedDocument, ...]
    flags: DmpMssFlags
    participants: tuple[Participant, ...]
    patient: Patient
    identifiers: tuple[PatientIdentifier, ...]
    ins: Ins | None
    txa: Txa | None
    ignored: tuple[str, ...]

    @property
    def authors(self) -> tuple[Participant, ...]:
        """PRT with role SB."""
        return tuple(item for item in self.participants if item.role == "author")

    @property
    def recipients(self) -> tuple[Participant, ...]:
        """PRT with role RCT."""
        return tuple(item for item in self.participants if item.role == "recipient")

    @property
    def reply_to(self) -> tuple[Participant, ...]:
        """PRT with role REPLY."""
        return tuple(item for item in self.participants if item.role == "reply-to")


def _coded(reader: Reader, raw: str) -> CodedValue:
    code, display, system = (reader.text(part) for part in reader.components(raw, 3))
    return CodedValue(code, display, system)


def _message_action(message: Message) -> DocumentAction | None:
    """None for ORU (the action is per OBX); the MDM event otherwise. MappingError for others."""
    kind, trigger = message.message_type, message.trigger_event
    if kind == "ORU" and trigger == "R01":
        return None
    if kind == "MDM" and trigger in _MDM_ACTIONS:
        return _MDM_ACTIONS[trigger]
    raise MappingError(
        f"message type {kind}^{trigger} is not a CI-SIS document message; expected ORU^R01 or "
        "MDM^T02, MDM^T10, MDM^T04",
        location="MSH-9",
    )


def _obx_action(reader: Reader, obx: Segment, index: int) -> DocumentAction:
    status = reader.text(obx.field(11))
    if status not in _OBX11_ACTIONS:
        raise MappingError(
            f"document result status {status!r} is not F (initial), C (replacement), D (deletion)",
            location=f"OBX[{index}]-11",
        )
    return _OBX11_ACTIONS[status]


def _flag(reader: Reader, obx: Segment, index: int, code: str) -> bool:
    value = reader.first_component(obx.field(5))
    if value not in ("Y", "N"):
        raise MappingError(
            f"{code} is {value!r}, expected Y or N (table 0136)", location=f"OBX[{index}]-5"
        )
    return value == "Y"


@dataclass
class _Collected:
    documents: list[EmbeddedDocument]
    flags: dict[str, bool]
    ignored: list[str]
    mail_body: str | None = None


def _read_obx(
    reader: Reader,
    obx: Segment,
    index: int,
    mdm_action: DocumentAction | None,
    check: bool,
    into: _Collected,
) -> None:
    code = _coded(reader, obx.field(3))
    value_type = reader.text(obx.field(2))
    location = f"OBX[{index}]-5"
    if code.code in _FLAGS and value_type in ("CE", "CWE"):
        into.flags[_FLAGS[code.code]] = _flag(reader, obx, index, code.code)
    elif code.code == "CORPSMAIL_PS" and value_type == "ED":
        data = decode_ed(reader, obx.field(5), location, lenient=True)
        into.mail_body = data.content.decode("utf-8", "replace")
    elif value_type == "ED" and reader.components(obx.field(5), 3)[2].upper() == "XML":
        into.documents.append(_document(reader, obx, index, code, mdm_action, check))
    else:
        into.ignored.append(f"OBX[{index}] {value_type} {code.code}")


def _document(
    reader: Reader,
    obx: Segment,
    index: int,
    code: CodedValue,
    mdm_action: DocumentAction | None,
    check: bool,
) -> EmbeddedDocument:
    location = f"OBX[{index}]-5"
    data = decode_ed(reader, obx.field(5), location)
    if check:
        check_cda(data.content, location)
    return EmbeddedDocument(
        obx=index,
        code=code,
        action=mdm_action or _obx_action(reader, obx, index),
        media_type=f"{data.type_of_data}/{data.subtype}",
        encoding=data.encoding,
        content=data.content,
        checked_cda=check,
    )


def _participant(reader: Reader, prt: Segment) -> Participant:
    role_code = reader.first_component(prt.field(4))
    person = XCN.read(reader, prt.field(5).split(reader.encoding.repetition, 1)[0])
    org = XON.read(reader, prt.field(8).split(reader.encoding.repetition, 1)[0])
    tels = [XTN.read(reader, rep) for rep in reader.repetitions(prt.field(15))]
    address = next((tel.address for tel in tels if tel.address), "")
    return Participant(
        role=_ROLES.get(role_code, role_code.lower()),
        role_code=role_code,
        person_id=person.id,
        person_id_type=person.type_code,
        person_id_authority=person.authority.key,
        family=person.family,
        given=person.given,
        organization=org.name,
        organization_id=org.id,
        address=address,
    )


def _txa(reader: Reader, txa: Segment | None) -> Txa | None:
    if txa is None:
        return None
    return Txa(
        document_type=reader.first_component(txa.field(2)),
        unique_id=reader.first_component(txa.field(12)),
        parent_id=reader.first_component(txa.field(13)),
        completion_status=reader.first_component(txa.field(17)),
    )


def map_document_message(message: Message, *, check_cda: bool = True) -> DocumentMessage:
    """Map a CI-SIS ORU^R01 or MDM^T02/T10/T04 carrying CDA (see the module docstring).

    With ``check_cda`` (the default) every embedded document must be a
    well-formed CDA ``ClinicalDocument`` without DOCTYPE; ``check_cda=False``
    only decodes (for published examples whose payload was cut short).
    Raises :class:`hub.errors.MappingError` naming the OBX, PID or MSH field.
    """
    mdm_action = _message_action(message)
    reader = Reader(message)
    pid = message.segment("PID")
    if pid is None:
        raise MappingError("document message has no PID segment", location="PID")
    facts = map_pid(reader, pid)
    collected = _Collected([], {}, [])
    for index, obx in enumerate(message.segments_named("OBX"), 1):
        _read_obx(reader, obx, index, mdm_action, check_cda, collected)
    if not collected.documents:
        raise MappingError(
            "carries no CDA document (OBX of type ED with data subtype XML)", location="OBX"
        )
    return DocumentMessage(
        message_type=message.message_type,
        trigger=message.trigger_event,
        control_id=message.control_id,
        profile=message.first("MSH-21"),
        action=collected.documents[0].action,
        documents=tuple(collected.documents),
        flags=DmpMssFlags(corpsmail_ps=collected.mail_body, **collected.flags),
        participants=tuple(_participant(reader, prt) for prt in message.segments_named("PRT")),
        patient=validated(Patient, patient_dict(facts, None), "PID"),
        identifiers=facts.identifiers,
        ins=facts.ins,
        txa=_txa(reader, message.segment("TXA")),
        ignored=tuple(collected.ignored),
    )
