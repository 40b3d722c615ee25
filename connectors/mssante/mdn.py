"""Message Disposition Notifications (RFC 8098): the read and processing receipts of MSSanté.

* :func:`build_mdn` answers a mail the hub processed (inbound XDM): a
  ``multipart/report; report-type=disposition-notification`` (RFC 8098 3.1)
  whose second part carries ``Reporting-UA``, ``Final-Recipient``,
  ``Original-Message-ID`` and ``Disposition:
  automatic-action/MDN-sent-automatically; processed`` (3.2.6), with the
  ``/error`` modifier and an ``Error`` field when the package was refused.
* :func:`parse_mdn` reads the receipts that come back for mails the hub sent:
  ``displayed`` (the recipient read it: ZAM^Z03 Y), ``deleted`` (ZAM^Z03 N);
  other dispositions are noted only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import HeaderParser
from email.utils import format_datetime, make_msgid, parseaddr

REPORT_TYPE = "disposition-notification"


@dataclass(frozen=True, slots=True)
class Mdn:
    """One disposition notification: which mail, who, what (RFC 8098 3.2)."""

    original_message_id: str
    final_recipient: str
    action_mode: str
    disposition: str
    modifiers: tuple[str, ...]

    @property
    def read(self) -> bool:
        """The recipient displayed the mail."""
        return self.disposition == "displayed"


def _fields(part: Message) -> Message:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    text = payload if isinstance(payload, str) else part.as_string()
    return HeaderParser().parsestr(text)


def _report_part(mail: Message) -> Message | None:
    if mail.get_content_type() != "multipart/report":
        return None
    if str(mail.get_param("report-type") or "").lower() != REPORT_TYPE:
        return None
    for part in mail.walk():
        if part.get_content_type() == "message/disposition-notification":
            return part
    return None


def parse_mdn(mail: Message) -> Mdn | None:
    """The MDN carried by ``mail``; None when it is not one (or lacks the required fields)."""
    part = _report_part(mail)
    if part is None:
        return None
    fields = _fields(part)
    original = (fields.get("Original-Message-ID") or "").strip()
    disposition = (fields.get("Disposition") or "").strip()
    if not original or ";" not in disposition:
        return None
    mode, _, kind = disposition.partition(";")
    kind_name, _, modifiers = kind.strip().partition("/")
    final = (fields.get("Final-Recipient") or "").partition(";")[2].strip()
    return Mdn(original, final.lower(), mode.strip(), kind_name.strip().lower(),
               tuple(m.strip() for m in modifiers.split(",") if m.strip()))


def build_mdn(original: Message, *, reporter: str, error: str | None = None,
              ua: str = "regional-hub") -> EmailMessage | MIMEMultipart:
    """The ``processed`` MDN answering ``original`` (``processed/error`` with ``error``)."""
    to = original.get("Disposition-Notification-To") or original.get("From") or ""
    disposition = "automatic-action/MDN-sent-automatically; processed"
    if error:
        disposition += "/error"
    lines = [f"Reporting-UA: {ua}", f"Final-Recipient: rfc822; {reporter}",
             f"Original-Message-ID: {original.get('Message-ID', '')}",
             f"Disposition: {disposition}"]
    if error:
        lines.append(f"Error: {' '.join(error.split())[:900]}")
    human = (f"Votre message « {original.get('Subject', '')} » a été traité."
             if not error else f"Votre message « {original.get('Subject', '')} » n'a pas pu "
             f"être traité : {error}")
    report = MIMEMultipart("report", report_type=REPORT_TYPE)
    report["From"] = reporter
    report["To"] = parseaddr(to)[1]
    report["Subject"] = f"Accusé de traitement : {original.get('Subject', '')}"
    report["Date"] = format_datetime(datetime.now().astimezone())
    report["Message-ID"] = make_msgid(domain=reporter.rpartition("@")[2] or None)
    report["Auto-Submitted"] = "auto-replied"
    report.attach(MIMEText(human + "\n", "plain", "utf-8"))
    notification = MIMEBase("message", REPORT_TYPE)
    notification.set_payload("\r\n".join(lines) + "\r\n")
    report.attach(notification)
    return report


def build_read_receipt(original: Message, *, reader: str,
                       disposition: str = "displayed") -> MIMEMultipart:
    """A ``manual-action/MDN-sent-manually; displayed`` MDN, as a recipient's client sends it.

    The hub does not send these; tests and the benchmark use it to play the
    reader's side.
    """
    report = MIMEMultipart("report", report_type=REPORT_TYPE)
    report["From"] = reader
    report["To"] = original.get("Disposition-Notification-To", "")
    report["Subject"] = f"Lu : {original.get('Subject', '')}"
    report["Message-ID"] = make_msgid(domain=reader.rpartition("@")[2] or None)
    report.attach(MIMEText("Le message a été affiché.\n", "plain", "utf-8"))
    notification = MIMEBase("message", REPORT_TYPE)
    notification.set_payload(
        f"Reporting-UA: client\r\nFinal-Recipient: rfc822; {reader}\r\n"
        f"Original-Message-ID: {original.get('Message-ID', '')}\r\n"
        f"Disposition: manual-action/MDN-sent-manually; {disposition}\r\n")
    report.attach(notification)
    return report
