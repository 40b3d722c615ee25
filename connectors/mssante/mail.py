"""The MSSanté mail of one CI-SIS document message (pure: models in, an EmailMessage out).

Conventions of the ANS MSSanté guides ("DST MSSanté", "Guide d'intégration
MSSanté clients", transmission of CDA documents) as the hub applies them:

* one patient per mail; the documents travel in one ``IHE_XDM.zip``
  attachment (IHE XDM, :mod:`mappings.xdm`), plus the PDF of a level 1
  document whose body is a PDF;
* ``Subject: XDM/1.0/DDM+<document title> <BIRTH NAME> <given name> <birth date>``,
  the birth date as ``DD/MM/YYYY``;
* ``X-MSS-CODECDA`` once per document: the CDA ``code`` as
  ``code^displayName^codeSystem``;
* ``X-MSS-INS`` only when the identity is qualified: ``<INS>^^^&<OID>&ISO^INS``;
* ``Disposition-Notification-To`` (RFC 8098 2.1) to the hub's applicative
  mailbox when the sender asked ACK_LECTURE_MSS, so that read receipts come
  back to the hub (ZAM^Z03); ``Reply-To`` from the PRT ``REPLY`` participant;
* the body for professionals is CORPSMAIL_PS when given; each filed
  document is cited with its repository reference.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from connectors.mssante.recipients import Audience, Recipient
from mappings.cda import DocumentEntry, parse_cda
from mappings.cda.nodes import NS
from mappings.hl7v2 import DocumentMessage
from mappings.xdm import XdmDocument, XdmSubmission, build_xdm

XDM_NAME = "IHE_XDM.zip"
SUBJECT_PREFIX = "XDM/1.0/DDM+"
PS_BODY = "Veuillez trouver ci-joint le(s) document(s) de votre patient(e)."
PATIENT_BODY = "Veuillez trouver ci-joint un document de santé vous concernant."


MailDocument = XdmDocument
"""One document of the mail: bytes, metadata, and where the repository filed it (a URL)."""


@dataclass(frozen=True, slots=True)
class MailContext:
    """What the hub adds: its address, the ids, the time, the XDM submission source."""

    sender: str
    mail_id: str
    submission_uid: str
    source_id: str
    now: datetime


def birth_identity(mapped: DocumentMessage) -> tuple[str, str, str]:
    """(BIRTH NAME, first given name, DD/MM/YYYY) of the patient (PID-5 type L, PID-7)."""
    names = mapped.patient.name or []
    official = next((n for n in names if n.use == "official"), names[0] if names else None)
    family = (official.family or "") if official else ""
    given = str((official.given or [""])[0] or "") if official else ""
    born = mapped.patient.birthDate
    date = born.strftime("%d/%m/%Y") if born is not None and hasattr(born, "strftime") else ""
    return family.upper(), given, date


def subject(mapped: DocumentMessage, documents: Sequence[MailDocument]) -> str:
    """``XDM/1.0/DDM+<title> <BIRTH NAME> <given> <birth date>`` (ANS MSSanté)."""
    title = next((d.entry.title for d in documents if d.entry.title), "Document")
    parts = [title, *birth_identity(mapped)]
    return SUBJECT_PREFIX + " ".join(p for p in parts if p)


def code_cda(entry: DocumentEntry) -> str:
    """The ``X-MSS-CODECDA`` value of one document: ``code^displayName^codeSystem``."""
    code = entry.type_code
    return f"{code.code}^{code.display or ''}^{code.system or ''}"


def ins_header(mapped: DocumentMessage) -> str | None:
    """The ``X-MSS-INS`` value, only for a qualified INS."""
    ins = mapped.ins
    if ins is None or not ins.qualified:
        return None
    return f"{ins.value}^^^&{ins.oid}&ISO^INS"


def pdf_of(document: MailDocument) -> bytes | None:
    """The PDF of a level 1 CDA whose ``nonXMLBody`` is ``application/pdf``; else None."""
    entry = document.entry
    if entry.body != "nonXML" or entry.body_media_type != "application/pdf":
        return None
    text = parse_cda(document.content).find("v3:component/v3:nonXMLBody/v3:text", NS)
    if text is None or text.get("representation") != "B64":
        return None
    try:
        return base64.b64decode("".join(str(t) for t in text.itertext()), validate=False)
    except (binascii.Error, ValueError):
        return None


def body_text(mapped: DocumentMessage, audience: Audience,
              documents: Sequence[MailDocument]) -> str:
    """The text part: CORPSMAIL_PS for professionals when given, and the repository references."""
    if audience is Audience.PROFESSIONALS and mapped.flags.corpsmail_ps:
        text = mapped.flags.corpsmail_ps
    else:
        text = PS_BODY if audience is Audience.PROFESSIONALS else PATIENT_BODY
    cited = [f"- {d.entry.title or d.entry.unique_id}: {d.repository_reference}"
             for d in documents if d.repository_reference]
    if cited:
        text += "\n\nDocument(s) disponible(s) dans l'entrepôt régional :\n" + "\n".join(cited)
    return text + "\n"


def xdm_of(mapped: DocumentMessage, documents: Sequence[MailDocument],
           recipients: Sequence[Recipient], context: MailContext) -> bytes:
    """The ``IHE_XDM.zip``: a SubmissionSet for these recipients, an entry per document."""
    patient_id = next((d.entry.patient_id for d in documents if d.entry.patient_id), None)
    submission = XdmSubmission(
        unique_id=context.submission_uid, source_id=context.source_id,
        submission_time=context.now.astimezone(UTC).strftime("%Y%m%d%H%M%S"),
        patient_id=patient_id,
        intended_recipients=tuple(f"|^^Internet^{r.address}" for r in recipients),
        title=subject(mapped, documents)[len(SUBJECT_PREFIX):])
    return build_xdm(documents, submission)


def build_mail(mapped: DocumentMessage, documents: Sequence[MailDocument],
               recipients: Sequence[Recipient], context: MailContext) -> EmailMessage:
    """The mail to ``recipients`` (all of one audience) carrying ``documents``."""
    audience = recipients[0].audience
    mail = EmailMessage()
    mail["From"] = context.sender
    mail["To"] = ", ".join(r.address for r in recipients)
    if audience is Audience.PROFESSIONALS and mapped.reply_to and mapped.reply_to[0].address:
        mail["Reply-To"] = mapped.reply_to[0].address
    mail["Subject"] = subject(mapped, documents)
    mail["Date"] = format_datetime(context.now)
    mail["Message-ID"] = context.mail_id
    for document in documents:
        mail["X-MSS-CODECDA"] = code_cda(document.entry)
    if (ins := ins_header(mapped)) is not None:
        mail["X-MSS-INS"] = ins
    if mapped.flags.ack_lecture_mss:
        mail["Disposition-Notification-To"] = context.sender
    mail.set_content(body_text(mapped, audience, documents), charset="utf-8")
    mail.add_attachment(xdm_of(mapped, documents, recipients, context), maintype="application",
                        subtype="zip", filename=XDM_NAME)
    for number, document in enumerate(documents, 1):
        if (pdf := pdf_of(document)) is not None:
            mail.add_attachment(pdf, maintype="application", subtype="pdf",
                                filename=f"DOC{number:04d}.pdf")
    return mail


def mail_id_for(delivery_key: str, domain: str) -> str:
    """A fresh RFC 5322 Message-ID, kept for every attempt of one delivery."""
    return make_msgid(idstring=delivery_key.replace(":", ".")[:60], domain=domain)
