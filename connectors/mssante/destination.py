"""The ``mssante`` destination: a routed CI-SIS document message mailed over MSSanté.

Steps of :meth:`MssanteDestination.deliver` (each a small function below):

1. parse and map the message (``mappings.hl7v2.map_document_message``) and
   its CDA documents (``mappings.cda.map_cda``); unmappable input is parked;
2. nothing to do unless DESTMSSANTEPS or DESTMSSANTEPAT is ``Y`` (CI-SIS
   MetaDMPMSS); deletions are not mailed;
3. when the message also goes to the repository (DESTDMP=Y and the
   ``after`` destination is configured) wait until the repository delivery
   is settled: pending -> transient ("waiting for the repository"), so the
   worker retries with backoff; delivered -> the mail cites the filed
   DocumentReference; parked -> mailed without a reference (said in the outcome);
4. resolve the recipients (:mod:`connectors.mssante.recipients`); none -> parked;
5. build one mail per audience (professionals, patient) and send it,
   skipping recipients a previous attempt already reached;
6. ZAM^Z02 per recipient through ``Intake.submit(source="mssante")`` when
   ACK_RECEPTION=Y: Y when accepted, N with the SMTP reply code in ERR when
   refused (5yz) or when the last attempt still got 4yz.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from connectors.mssante.mail import MailContext, MailDocument, build_mail, mail_id_for
from connectors.mssante.recipients import (
    Audience,
    Recipient,
    Wanted,
    cda_information_recipients,
    patient_mailbox,
    prescribers,
    professionals,
    resolve,
)
from connectors.mssante.smtp import SmtpDeferred, SmtpRefused
from connectors.mssante.store import SentRecipient
from hub.config import MssanteDestination as MssanteSettings
from hub.db.tables import documents as documents_table
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
from hub.journal import delivery_key, new_message_id
from mappings.cda import map_cda
from mappings.hl7v2 import DocumentAction, DocumentMessage, MssAddressee, ZamError, zam_z02

if TYPE_CHECKING:
    from connectors.mssante.component import MssanteComponent

log = logging.getLogger(__name__)
_WAIT = "waiting"
_SETTLE_WAIT_S = 3.0


@dataclass
class _Outcome:
    """What one delivery did, for the journal and the ZAM^Z02."""

    accepted: list[Recipient] = field(default_factory=list)
    refused: list[tuple[Recipient, int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"mailed to {len(self.accepted)} recipient(s)"]
        if self.accepted:
            parts[0] += " (" + ", ".join(r.address for r in self.accepted) + ")"
        parts += [f"refused {r.address}: {code} {text}" for r, code, text in self.refused]
        return "; ".join(parts + self.notes)


def _documents(mapped: DocumentMessage) -> list[MailDocument]:
    try:
        return [MailDocument(d.content, map_cda(d.content).entry) for d in mapped.documents
                if d.action is not DocumentAction.DELETION]
    except MappingError as exc:
        raise PermanentDeliveryError(f"document cannot be mailed: {exc}") from exc


def _cda_recipients(mapped: DocumentMessage) -> list[tuple[str | None, str | None]]:
    found = []
    for document in mapped.documents:
        found += cda_information_recipients(document.content)
    return found


class MssanteDestination:
    """Mails routed CI-SIS documents (see the module docstring)."""

    def __init__(self, name: str, settings: MssanteSettings,
                 component: MssanteComponent) -> None:
        self.name = name
        self.lanes = settings.lanes
        self.ordered = settings.ordered
        self.retry = settings.retry
        self._settings = settings
        self._component = component

    async def start(self) -> None:
        """Nothing to open: the SMTP connections belong to the component."""

    async def close(self) -> None:
        """Nothing to release."""

    async def deliver(self, job: DeliveryJob) -> str:
        """Mail the message's documents; answer ZAM^Z02 when asked; return the outcome."""
        message, mapped = read_document_job(job.payload)
        flags = mapped.flags
        if flags.dest_mssante_ps is not True and flags.dest_mssante_pat is not True:
            return "not mailed: neither DESTMSSANTEPS nor DESTMSSANTEPAT is Y"
        documents = _documents(mapped)
        if not documents:
            return "not mailed: deletions are not mailed"
        documents, note = await self._with_references(job, mapped, documents)
        recipients, notes = await self._recipients(message, mapped)
        if not recipients:
            raise PermanentDeliveryError("no MSSanté recipient could be resolved: "
                                         + ("; ".join(notes) or "no PRT address, no CDA "
                                            "informationRecipient, no known prescriber"))
        outcome = _Outcome(notes=[n for n in [note, *notes] if n])
        await self._send_all(job, message, mapped, documents, recipients, outcome)
        return outcome.summary()

    # -- 3. the repository first ----------------------------------------------------

    async def _with_references(self, job: DeliveryJob, mapped: DocumentMessage,
                               documents: list[MailDocument]) -> tuple[list[MailDocument], str]:
        after = self._settings.after
        hub = self._component.hub
        if not after or mapped.flags.dest_dmp is not True or after not in hub.settings.destinations:
            return documents, ""
        status = await self._repository_status(delivery_key(job.message_id, after))
        if status == "parked":
            return documents, f"{after} parked the document: mailed without its reference"
        if status != "delivered":
            raise TransientDeliveryError(f"{_WAIT} for '{after}' to file the document first")
        ids = await self._filed_ids([d.entry.unique_id for d in documents])
        base = (self._component.settings.repository_url or "").rstrip("/")
        return [MailDocument(d.content, d.entry,
                             f"{base}/DocumentReference/{ids[d.entry.unique_id]}".lstrip("/")
                             if d.entry.unique_id in ids else None)
                for d in documents], ""

    async def _repository_status(self, key: str) -> str | None:
        """The ``after`` delivery's status, waiting briefly while it is still pending.

        Both deliveries start together; filing takes milliseconds, so a short
        wait here saves a retry with backoff in the usual case.
        """
        journal = self._component.hub.journal
        deadline = time.monotonic() + _SETTLE_WAIT_S
        while True:
            status: str | None = await journal.delivery_status(key)
            if status in ("delivered", "parked") or time.monotonic() > deadline:
                return status
            await asyncio.sleep(0.05)

    async def _filed_ids(self, unique_ids: Sequence[str]) -> dict[str, str]:
        c = documents_table.c
        rows = await self._component.hub.db.fetch(
            select(c.unique_id, c.id).where(c.unique_id.in_(unique_ids)))
        return {row.unique_id: row.id for row in rows}

    # -- 4. recipients --------------------------------------------------------------

    async def _recipients(self, message: Message,
                          mapped: DocumentMessage) -> tuple[list[Recipient], list[str]]:
        domain = self._component.settings.patient_domain
        found: list[Recipient] = []
        wanted: list[Wanted] = []
        if mapped.flags.dest_mssante_ps is True:
            found, wanted = professionals(mapped, _cda_recipients(mapped), prescribers(message),
                                          domain)
        if (patient := patient_mailbox(mapped, domain)) is not None:
            found.append(patient)
        known = await self._component.store.lookup(sorted({w.rpps for w in wanted}))
        recipients, notes = resolve(found, wanted, {k: v.address for k, v in known.items()})
        if patient is None and mapped.flags.dest_mssante_pat is True:
            notes.append("DESTMSSANTEPAT=Y but the INS is not qualified: patient not mailed")
        return recipients, notes

    # -- 5. and 6. send, acknowledge --------------------------------------------------

    async def _send_all(self, job: DeliveryJob, message: Message, mapped: DocumentMessage,
                        documents: list[MailDocument], recipients: list[Recipient],
                        outcome: _Outcome) -> None:
        store = self._component.store
        attempt, base_id = await store.begin_attempt(
            job.key, mail_id_for(job.key, self._component.mail_domain))
        done = await store.done_recipients(job.key)
        for audience in Audience:
            group = [r for r in recipients if r.audience is audience and r.address not in done]
            if group:
                await self._send_group(job, message, mapped, documents, group,
                                       _group_id(base_id, audience), attempt, outcome)
        if outcome.refused and not outcome.accepted and not done:
            _, code, text = outcome.refused[0]
            raise PermanentDeliveryError(f"every recipient refused: SMTP {code} {text}")

    async def _send_group(self, job: DeliveryJob, message: Message, mapped: DocumentMessage,
                          documents: list[MailDocument], group: list[Recipient], mail_id: str,
                          attempt: int, outcome: _Outcome) -> None:
        component = self._component
        context = MailContext(component.address, mail_id, _submission_uid(job.key),
                              component.source_id, datetime.now().astimezone())
        mail = build_mail(mapped, documents, group, context)
        if component.sender is None:
            raise PermanentDeliveryError("mssante.smtp is not configured")
        try:
            refusals = await component.sender.send(mail, component.address,
                                                   [r.address for r in group])
        except SmtpRefused as exc:
            await self._settle(job, message, mapped, mail_id, [], _refused(group, exc.code, exc))
            raise
        except SmtpDeferred as exc:
            if attempt < self.retry.max_attempts:
                raise
            await self._settle(job, message, mapped, mail_id, [],
                               _refused(group, exc.code or 421, exc))
            raise PermanentDeliveryError(f"gave up after {attempt} attempts: {exc}") from exc
        refused_addresses = {r.address: r for r in refusals}
        accepted = [r for r in group if r.address not in refused_addresses]
        refused = [(r, refused_addresses[r.address].code, refused_addresses[r.address].message)
                   for r in group if r.address in refused_addresses]
        await self._settle(job, message, mapped, mail_id, accepted, refused)
        outcome.accepted += accepted
        outcome.refused += refused

    async def _settle(self, job: DeliveryJob, message: Message, mapped: DocumentMessage,
                      mail_id: str, accepted: list[Recipient],
                      refused: list[tuple[Recipient, int, str]]) -> None:
        """Record each recipient's outcome, then send the ZAM^Z02 asked for."""
        store = self._component.store
        read_asked = bool(mapped.flags.ack_lecture_mss)
        writes = [store.recipient_write(SentRecipient(job.key, job.message_id, r.address, r.id,
                                                      read_asked, "sent"), mail_id, 250)
                  for r in accepted]
        writes += [store.recipient_write(SentRecipient(job.key, job.message_id, r.address, r.id,
                                                       read_asked, "refused"), mail_id, code)
                   for r, code, _ in refused]
        await store.db.committer.run(*writes, urgent=True)
        if not (self._settings.acknowledgements and mapped.flags.ack_reception):
            return
        for recipient in accepted:
            await self._zam(message, recipient, None)
        for recipient, code, text in refused:
            await self._zam(message, recipient, ZamError(str(code), text[:200],
                                                         system="SMTPREPLYCODE"))

    async def _zam(self, message: Message, recipient: Recipient, error: ZamError | None) -> None:
        now = time.time()
        zam = zam_z02(message, delivered=error is None,
                      recipient=MssAddressee(recipient.id, recipient.address),
                      control_id=new_message_id(now), timestamp=hl7_timestamp(now), error=error)
        intake = self._component.hub.intake
        if intake is None:
            raise TransientDeliveryError("the intake is not running: ZAM^Z02 not sent")
        try:
            await intake.submit(zam, source="mssante")
        except StorageError as exc:
            raise TransientDeliveryError(f"ZAM^Z02 not stored: {exc}") from exc


def _refused(group: list[Recipient], code: int,
             exc: Exception) -> list[tuple[Recipient, int, str]]:
    return [(r, code, str(exc)) for r in group]


def _group_id(base: str, audience: Audience) -> str:
    """The Message-ID of one audience's mail: the delivery's id, ``.pat`` for the patient's."""
    if audience is Audience.PROFESSIONALS:
        return base
    local, _, domain = base.strip("<>").partition("@")
    return f"<{local}.pat@{domain}>"


def _submission_uid(key: str) -> str:
    """An OID-shaped XDM SubmissionSet uniqueId derived from the delivery key (2.25 UUID arc)."""
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, 'mssante:' + key).int}"

