"""What the repository files and answers: filings, outcomes, flags, errors.

::

    MessageError
    └── RepositoryError          the document cannot be filed as asked (permanent)
        ├── DocumentConflict     same uniqueId, different bytes
        ├── UnknownDocument      a replacement or deletion names no stored document
        └── LifecycleError       the transition is not allowed (replace a deleted document)

Lifecycle of one document version (XDS availabilityStatus, as MHD exposes it
in ``DocumentReference.status``), one row per allowed transition:

==================  =============  ==================  =====================================
state               event          next state          source
==================  =============  ==================  =====================================
(none)              initial        current             ORU OBX-11 F, MDM T02, ITI-65
current             replacement    superseded          CDA RPLC, OBX-11 C, MDM T10, relatesTo
current             deletion       entered-in-error    OBX-11 D, MDM T04
superseded          deletion       entered-in-error    (the old version is withdrawn too)
entered-in-error    deletion       entered-in-error    (resent deletion: nothing changes)
==================  =============  ==================  =====================================
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from hub.errors import MessageError
from hub.patients import Identifier
from mappings.cda import CdaMapping

CURRENT = "current"
SUPERSEDED = "superseded"
ENTERED_IN_ERROR = "entered-in-error"
STATUSES = (CURRENT, SUPERSEDED, ENTERED_IN_ERROR)


class Action(StrEnum):
    """What the sender asks for one document."""

    INITIAL = "initial"
    REPLACEMENT = "replacement"
    DELETION = "deletion"


LIFECYCLE: dict[tuple[str, Action], str] = {
    (CURRENT, Action.REPLACEMENT): SUPERSEDED,
    (CURRENT, Action.DELETION): ENTERED_IN_ERROR,
    (SUPERSEDED, Action.DELETION): ENTERED_IN_ERROR,
    (ENTERED_IN_ERROR, Action.DELETION): ENTERED_IN_ERROR,
}
"""(state of the stored version, action on it) -> its next state; other pairs are refused."""


class RepositoryError(MessageError):
    """A document cannot be filed as asked; ``code`` is reported in ZAM ERR-5 and outcomes.

    ``index`` is the position of the document in its submission (0 for a
    single document), so that an ITI-65 answer can name ``Bundle.entry[i]``.
    """

    code = "DOCUMENT_REFUSED"
    fhir_code = "processing"

    def __init__(self, message: str, *, index: int = 0) -> None:
        super().__init__(message)
        self.index = index


class DocumentConflict(RepositoryError):
    """The uniqueId is already filed with other bytes (XDS: XDSNonIdenticalHash)."""

    code = "NON_IDENTICAL_HASH"
    fhir_code = "conflict"


class PatientMismatch(RepositoryError):
    """The message's patient and the document's patient (recordTarget) differ.

    Filing it under either would put one person's document in another's
    file: refused, whatever else is right.
    """

    code = "PATIENT_MISMATCH"
    fhir_code = "business-rule"


class UnknownDocument(RepositoryError):
    """A replacement or deletion names a document the repository does not hold."""

    code = "UNKNOWN_DOCUMENT"
    fhir_code = "not-found"


class LifecycleError(RepositoryError):
    """The asked transition is not in :data:`LIFECYCLE`."""

    code = "INVALID_STATUS"
    fhir_code = "business-rule"


@dataclass(frozen=True, slots=True)
class Visibility:
    """The CI-SIS MetaDMPMSS visibility flags of one document (all False: visible to all)."""

    masque_ps: bool = False
    invisible_patient: bool = False
    invisible_rep_legaux: bool = False
    connexion_secrete: bool = False


VISIBILITY_CODES: dict[str, str] = {
    "masque_ps": "MASQUE_PS", "invisible_patient": "INVISIBLE_PATIENT",
    "invisible_rep_legaux": "INVISIBLE_REP_LEGAUX", "connexion_secrete": "CONNEXION_SECRETE"}
""":class:`Visibility` field (and ``documents`` column) -> its MetaDMPMSS code."""


@dataclass(frozen=True, slots=True)
class PatientIdentifiers:
    """Who the document is about: every identifier it was sent with, and the INS.

    ``ins_qualified``: the sender marked the identity qualified (PID-32
    ``VALI``), or the document came as a CDA carrying the INS, which the
    CI-SIS allows only for a qualified identity. Only then may the document
    be shared with national services.
    """

    identifiers: tuple[Identifier, ...]
    ins: Identifier | None = None
    ins_qualified: bool = False


@dataclass(frozen=True, slots=True)
class Filing:
    """One document to file, with what the sender said about it."""

    mapping: CdaMapping
    content: bytes
    patient: PatientIdentifiers
    action: Action = Action.INITIAL
    visibility: Visibility = field(default_factory=Visibility)
    replaces: str | None = None
    """uniqueId of the version replaced (ITI-65 relatesTo, TXA-13) when the CDA does not say."""
    strict_replacement: bool = False
    """True: an unknown replaced document is an error (ITI-65); False: file as a new one."""


_OID = re.compile(r"[0-2](?:\.(?:0|[1-9]\d*))+")


def as_oid(value: str | None) -> str | None:
    """``value`` as a bare OID (``urn:oid:`` dropped), None when it is not one."""
    bare = (value or "").strip().removeprefix("urn:oid:")
    return bare if _OID.fullmatch(bare) else None


def hub_source_oid(regional_system: str) -> str:
    """The XDS sourceId of what the hub submits itself: the OID of its regional system
    (the operator's own OID, ``identity.regional_system``), or a ``2.25`` UUID OID
    derived from it when that system is not an OID (ITU-T X.667)."""
    return as_oid(regional_system) or f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, regional_system).int}"


def hl7_source_oid(facility: str, application: str) -> str | None:
    """The OID of an HL7 v2 sender: MSH-4 (HD) universal id when typed ISO, else MSH-3's."""
    for hd in (facility, application):
        parts = hd.split("^")
        if len(parts) >= 3 and parts[2].upper() == "ISO" and (oid := as_oid(parts[1])):
            return oid
    return None


@dataclass(frozen=True, slots=True)
class Submission:
    """The submission set (XDS SubmissionSet, MHD List) a filing belongs to."""

    source: str
    source_id: str
    """XDS SubmissionSet.sourceId (ITI TF-3 4.2.3.3): the OID of the submitting system."""
    unique_id: str | None = None
    message_id: str | None = None
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Filed:
    """What happened to one document.

    ``outcome``: ``created``, ``replaced`` (created and superseding
    ``previous``), ``deleted``, ``unchanged`` (the same document again).
    """

    id: str
    unique_id: str
    outcome: str
    status: str
    previous: str | None = None
    note: str | None = None
