"""The ``repository`` destination: CI-SIS document messages filed in the repository.

A routed ORU^R01 or MDM^T02/T10/T04 (CI-SIS "Transmission de documents CDA
en HL7v2") is mapped (``mappings.hl7v2.map_document_message``); when its
``DESTDMP`` flag is ``Y`` every embedded CDA is filed in one submission, with
the action of its OBX-11 (F, C, D) or of the MDM event (T02, T10, T04), the
visibility flags of the message and the patient identifiers of PID-3 and
PID-32. A message without ``DESTDMP=Y`` is delivered without being filed
(the outcome says so): routes select on the flag's presence, the value is
read here.

Refusals (unmappable message or document, a conflict, an unknown document to
replace or delete) are permanent: the delivery is parked with the reason.
Storage problems are transient and retried; filing again is idempotent.

Business acknowledgement (CI-SIS volet, ZAM^Z01 "reception DMP"): when the
sender asks with ``ACK_RECEPTION=Y``, the ZAM (Y, or N with an ERR naming
the refusal) is taken in by the hub's own intake as a new message from the
internal source ``repository``, journaled and routed like any other: a route
on ``source: repository``, ``message_type: ZAM`` and ``MSH-5`` (the original
sender's application, which the ZAM's header swaps in) delivers it to the
sender's return endpoint.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hub.config import RepositoryDestination as RepositorySettings
from hub.delivery import DeliveryJob
from hub.document_jobs import read_document_job
from hub.errors import (
    MappingError,
    PermanentDeliveryError,
    StorageError,
    TransientDeliveryError,
)
from hub.hl7.er7 import Message
from hub.intake import hl7_timestamp
from hub.journal import new_message_id
from hub.repository.model import (
    Action,
    Filed,
    Filing,
    PatientIdentifiers,
    PatientMismatch,
    RepositoryError,
    Submission,
    Visibility,
    hl7_source_oid,
)
from mappings.cda import map_cda
from mappings.hl7v2 import (
    DocumentMessage,
    EmbeddedDocument,
    ZamError,
    zam_z01,
)

if TYPE_CHECKING:
    from hub.repository import RepositoryComponent

log = logging.getLogger(__name__)


def patient_of(mapped: DocumentMessage) -> PatientIdentifiers:
    """PID-3 identifiers with an OID authority, and the INS (qualified per PID-32)."""
    identifiers = tuple((f"urn:oid:{i.authority_oid}", i.value) for i in mapped.identifiers
                        if i.authority_oid and i.value)
    ins = mapped.ins
    if ins is None:
        return PatientIdentifiers(identifiers)
    return PatientIdentifiers(identifiers, (f"urn:oid:{ins.oid}", ins.value), ins.qualified)


def visibility_of(mapped: DocumentMessage) -> Visibility:
    """The MetaDMPMSS visibility flags (absent means N)."""
    f = mapped.flags
    return Visibility(bool(f.masque_ps), bool(f.invisible_patient),
                      bool(f.invisible_rep_legaux), bool(f.connexion_secrete))


def filing_of(document: EmbeddedDocument, mapped: DocumentMessage) -> Filing:
    """One embedded CDA as a filing (MappingError when its header cannot be mapped).

    The INS of the message (PID-3) and of the document (recordTarget) must
    agree when both are given: otherwise :class:`PatientMismatch`.
    """
    action = Action(document.action.value)
    parent = mapped.txa.parent_id if mapped.txa and action is Action.REPLACEMENT else None
    cda = map_cda(document.content, results=False)
    check_same_patient(mapped, cda.entry.patient_id)
    return Filing(cda, document.content, patient_of(mapped), action,
                  visibility_of(mapped), parent or None)


def check_same_patient(mapped: DocumentMessage, cda_patient_id: str | None) -> None:
    """Refuse a document whose recordTarget INS is not the message's INS (PID-3)."""
    if mapped.ins is None or not cda_patient_id:
        return
    in_document = cda_patient_id.split("^", 1)[0]
    if in_document and in_document != mapped.ins.value:
        raise PatientMismatch(
            f"the message's patient (PID-3 INS {mapped.ins.value}) is not the document's "
            f"(recordTarget INS {in_document}): not filed, to keep each patient's file right")


def summary(filed: Sequence[Filed]) -> str:
    """``filed: 1 created, 1 replaced (DocumentReference/...)`` for the journal."""
    counts = Counter(f.outcome for f in filed)
    ids = ", ".join(f"DocumentReference/{f.id}" for f in filed)
    notes = "; ".join(f.note for f in filed if f.note)
    text = "filed: " + ", ".join(f"{n} {o}" for o, n in counts.items()) + f" ({ids})"
    return f"{text}; {notes}" if notes else text


class RepositoryDestination:
    """Files the documents of routed CI-SIS messages (see the module docstring)."""

    def __init__(self, name: str, settings: RepositorySettings,
                 component: RepositoryComponent) -> None:
        self.name = name
        self.lanes = settings.lanes
        self.ordered = settings.ordered
        self.retry = settings.retry
        self._acknowledge = settings.acknowledgements
        self._component = component

    async def start(self) -> None:
        """Nothing to open: the repository belongs to the component."""

    async def close(self) -> None:
        """Nothing to release."""

    async def deliver(self, job: DeliveryJob) -> str:
        """File the message's documents; answer ZAM^Z01 when asked; return the outcome."""
        message, mapped = read_document_job(job.payload)
        if mapped.flags.dest_dmp is not True:
            return "not filed: DESTDMP is not Y"
        try:
            filings = [filing_of(d, mapped) for d in mapped.documents]
            source_oid = (hl7_source_oid(message.sending_facility, message.sending_application)
                          or self._component.source_oid)
            _, filed = await self._component.repository.file(filings, Submission(
                job.headers.get("source", "default"), source_oid,
                message_id=job.message_id, title=f"{mapped.message_type}^{mapped.trigger}"))
        except (MappingError, RepositoryError) as exc:
            await self._zam(message, mapped, job, exc)
            raise PermanentDeliveryError(f"document refused: {exc}") from exc
        except StorageError as exc:
            raise TransientDeliveryError(f"repository unavailable: {exc}") from exc
        await self._zam(message, mapped, job, None)
        return summary(filed)

    async def _zam(self, message: Message, mapped: DocumentMessage, job: DeliveryJob,
                   error: Exception | None) -> None:
        """ZAM^Z01 into the hub when ACK_RECEPTION=Y (a storage failure is transient)."""
        if not (self._acknowledge and mapped.flags.ack_reception):
            return
        zam_error = None
        if error is not None:
            code = error.code if isinstance(error, RepositoryError) else "INVALID_DOCUMENT"
            zam_error = ZamError(code, str(error)[:200], system="HUBERRORCODE")
        now = time.time()
        zam = zam_z01(message, received=error is None, control_id=new_message_id(now),
                      timestamp=hl7_timestamp(now), error=zam_error)
        intake = self._component.hub.intake
        if intake is None:
            raise TransientDeliveryError("the intake is not running: ZAM^Z01 not sent")
        try:
            await intake.submit(zam, source="repository")
        except StorageError as exc:
            raise TransientDeliveryError(f"ZAM^Z01 not stored: {exc}") from exc
