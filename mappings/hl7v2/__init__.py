"""HL7 v2 mappings: PAM France ADT, CI-SIS document messages, lab ORU to FHIR R4B; builders."""

from mappings.hl7v2.adt import ADT_EVENTS, AdtMapping, map_adt
from mappings.hl7v2.documents import (
    DmpMssFlags,
    DocumentAction,
    DocumentMessage,
    EmbeddedDocument,
    Participant,
    map_document_message,
)
from mappings.hl7v2.identity_event import (
    IdentityEvent,
    IdentityEventKind,
    IdentityStatus,
    IdentityTraits,
    Ins,
    PatientIdentifier,
    Zfd,
)
from mappings.hl7v2.lab import LabReport, map_lab_oru
from mappings.hl7v2.outbound import (
    A31Patient,
    MssAddressee,
    ZamError,
    adt_a31,
    zam_z01,
    zam_z02,
    zam_z03,
)

__all__ = [
    "ADT_EVENTS",
    "A31Patient",
    "AdtMapping",
    "DmpMssFlags",
    "DocumentAction",
    "DocumentMessage",
    "EmbeddedDocument",
    "IdentityEvent",
    "IdentityEventKind",
    "IdentityStatus",
    "IdentityTraits",
    "Ins",
    "LabReport",
    "MssAddressee",
    "Participant",
    "PatientIdentifier",
    "ZamError",
    "Zfd",
    "adt_a31",
    "map_adt",
    "map_document_message",
    "map_lab_oru",
    "zam_z01",
    "zam_z02",
    "zam_z03",
]
