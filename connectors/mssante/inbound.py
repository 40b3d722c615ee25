"""Mails arriving in the hub's applicative mailbox: read receipts and XDM packages.

:meth:`Inbound.handle` takes one raw mail (RFC 5322 bytes) and returns what
became of it:

* an MDN (RFC 8098) for a mail the hub sent: ``displayed`` / ``deleted`` from
  a recipient whose sender asked ACK_LECTURE_MSS becomes a ZAM^Z03 (Y / N)
  taken into the hub from source ``mssante`` (CI-SIS volet, "Message metier
  lecture MSS"), routed back to the sender like the ZAM^Z02;
* a mail carrying ``IHE_XDM.zip``: the package is read and checked
  (:func:`mappings.xdm.read_xdm`), every CDA is mapped and filed in the
  repository in one submission, journaled (protocol ``mail``) in the same
  transaction, and answered with a ``processed`` MDN; a malformed package or
  refused document is journaled ``rejected`` with the reason (the mail's
  bytes kept) and answered with a ``processed/error`` MDN;
* anything else is left alone (reported ``ignored``).

A storage failure raises :class:`hub.errors.StorageError`: the poller leaves
the mail unseen and tries again at the next poll.
"""

from __future__ import annotations

import logging
import time
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any

from connectors.mssante.mdn import Mdn, build_mdn, parse_mdn
from connectors.mssante.smtp import SmtpDeferred, SmtpRefused
from connectors.mssante.store import SentRecipient
from hub.errors import MappingError, MessageError
from hub.hl7.er7 import parse
from hub.intake import hl7_timestamp
from hub.intake_http import HttpArrival, HttpIntake
from hub.journal import new_message_id
from mappings.cda import map_cda
from mappings.hl7v2 import MssAddressee, zam_z03
from mappings.xdm import XdmPackage, read_xdm

if TYPE_CHECKING:
    from connectors.mssante.component import MssanteComponent

log = logging.getLogger(__name__)
XDM_ATTACHMENT = "ihe_xdm.zip"


def xdm_attachment(mail: Message) -> bytes | None:
    """The bytes of the ``IHE_XDM.zip`` attachment, None when there is none."""
    for part in mail.walk():
        name = (part.get_filename() or "").lower()
        if name == XDM_ATTACHMENT:
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else None
    return None


class Inbound:
    """Handles the mails of the applicative mailbox (see the module docstring)."""

    def __init__(self, component: MssanteComponent) -> None:
        self._component = component

    async def handle(self, raw: bytes) -> str:
        """Process one mail; return a short outcome (``filed: ...``, ``ZAM^Z03 ...``)."""
        mail = message_from_bytes(raw, policy=policy.default)
        mdn = parse_mdn(mail)
        if mdn is not None:
            return await self._receipt(mdn)
        package = xdm_attachment(mail)
        if package is None:
            return "ignored: neither an MDN nor a mail carrying IHE_XDM.zip"
        return await self._package(raw, mail, package)

    # -- read receipts ----------------------------------------------------------

    async def _receipt(self, mdn: Mdn) -> str:
        store = self._component.store
        sent = await store.by_mail_id(mdn.original_message_id)
        match = [s for s in sent if s.address.lower() == mdn.final_recipient] or sent[:1]
        if not match:
            return f"MDN for unknown mail {mdn.original_message_id}: ignored"
        recipient = match[0]
        if mdn.disposition not in ("displayed", "deleted") or not recipient.read_asked:
            return f"MDN {mdn.disposition} from {recipient.address}: noted"
        await self._zam_z03(recipient, mdn.read)
        await store.db.committer.run(store.mark_read(recipient), urgent=True)
        return f"ZAM^Z03 {'Y' if mdn.read else 'N'} for {recipient.address}"

    async def _zam_z03(self, recipient: SentRecipient, read: bool) -> None:
        hub = self._component.hub
        record = await hub.journal.get(recipient.message_id)
        if record is None:
            raise MappingError(f"journal message {recipient.message_id} is gone")
        original = parse(await hub.blobs.get(record["sha256"]))
        now = time.time()
        zam = zam_z03(original, read=read,
                      reader=MssAddressee(recipient.recipient_id, recipient.address),
                      control_id=new_message_id(now), timestamp=hl7_timestamp(now))
        await hub.intake.submit(zam, source="mssante")

    # -- XDM packages -----------------------------------------------------------

    def _arrival(self, raw: bytes, mail: Message) -> HttpArrival:
        return HttpArrival(payload=raw, protocol="mail", message_type="XDM",
                           peer=parseaddr(str(mail.get("From", "")))[1] or "unknown",
                           source=self._component.settings.inbound_source,
                           control_id=str(mail.get("Message-ID", ""))[:64])

    async def _package(self, raw: bytes, mail: Message, data: bytes) -> str:
        hub = self._component.hub
        intake = HttpIntake(hub.db, hub.journal, hub.blobs)
        arrival = self._arrival(raw, mail)
        try:
            package = read_xdm(data)
            outcome = await self._file(intake, arrival, mail, package)
        except MessageError as exc:
            reason = f"IHE_XDM.zip refused: {exc}"
            journal_id = await intake.rejected(arrival, reason)
            await self._answer(mail, reason)
            return f"rejected ({journal_id}): {reason}"
        await self._answer(mail, None)
        return outcome

    async def _file(self, intake: HttpIntake, arrival: HttpArrival, mail: Message,
                    package: XdmPackage) -> str:
        from hub.repository.iti65 import cda_patient
        from hub.repository.model import Filing, Submission, as_oid

        filings = []
        for entry in package.documents:
            mapping = map_cda(entry.content)
            filings.append(Filing(mapping, entry.content, cda_patient(mapping)))
        repository = self._component.repository()
        journal_id, ops = intake.accepted(arrival, destination="repository",
                                          detail=f"{len(filings)} document(s) from IHE_XDM.zip")
        # XDS sourceId is an OID: the package's (METADATA.XML), else the hub's own.
        source_oid = as_oid(package.source_id) or self._component.source_id
        _, filed = await repository.file(filings, Submission(
            self._component.settings.inbound_source, source_oid,
            unique_id=package.submission_unique_id or None, message_id=journal_id,
            title=str(mail.get("Subject", ""))[:200]), extra_ops=ops)
        ids = ", ".join(f"DocumentReference/{f.id}" for f in filed)
        return f"filed ({journal_id}): {ids}"

    async def _answer(self, mail: Message, error: str | None) -> None:
        """Send the processing MDN; a failure to send it is logged, never fatal."""
        component = self._component
        report: Any = build_mdn(mail, reporter=component.address, error=error)
        to = str(report["To"] or "")
        if not to or component.sender is None:
            return
        try:
            await component.sender.send(_as_email(report), component.address, [to])
        except (SmtpDeferred, SmtpRefused) as exc:
            log.warning("processing MDN to %s not sent: %s", to, exc)


def _as_email(report: Any) -> EmailMessage:
    message: EmailMessage = message_from_bytes(report.as_bytes(), policy=policy.default)
    return message
