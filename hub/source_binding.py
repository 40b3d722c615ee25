"""Sources known by their client certificate rather than by what they write in MSH-3/MSH-4.

A source whose ``certificate`` is set is recognised by the certificate its
connection presented (mutual TLS: the listener's CA verified it), looked up
by SHA-256 fingerprint, then by subject, in a dict. A message on such a
connection may name only that source's application and facility: one whose
MSH-4 (or MSH-3) is another source's, or is not the bound source's own, is
refused AR, and so is a message naming a bound source from a connection that
presented another certificate, or none when the source requires one.

Refusals are :class:`~hub.errors.ParseError` with ``reject=True`` and table
0357 code ``103`` (table value not found: the facility, HL7 table 0362, is
not one the certificate may use), located at the field (HL7 v2.5 2.14.5:
ERR-2 location, ERR-3 code, ERR-8 the text naming certificate and facility).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hub.auth.model import PeerCertificate
from hub.config import SourceSettings, normalise_dn
from hub.errors import ParseError
from hub.hl7.er7 import Message

NOT_ALLOWED = "103"  # HL7 table 0357: table value not found (the facility, table 0362)


def describe(certificate: PeerCertificate) -> str:
    """The certificate as refusals and logs name it: subject and fingerprint head."""
    return f"'{certificate.subject}' (sha256 {certificate.fingerprint_sha256[:16]}...)"


def _refusal(text: str, field: int) -> ParseError:
    return ParseError(text, segment="MSH", field=field, code=NOT_ALLOWED, reject=True)


def named_by_header(source: SourceSettings) -> bool:
    """False for a source known by its certificate alone (no MSH-3/MSH-4 to match):
    a header cannot name it, or every message without a certificate would."""
    if source.certificate is None:
        return True
    return bool(source.sending_application or source.sending_facility)


def _claims(source: SourceSettings, app: str, facility: str) -> bool:
    """The source's MSH-3.1/MSH-4.1, where set, are the message's."""
    return (source.sending_application in (None, app)
            and source.sending_facility in (None, facility))


def _implied(other: SourceSettings, bound: SourceSettings) -> bool:
    """Every field ``other`` sets, ``bound`` sets to the same value."""
    return ((other.sending_application is None
             or other.sending_application == bound.sending_application)
            and (other.sending_facility is None
                 or other.sending_facility == bound.sending_facility))


class CertificateBindings:
    """The sources bound to a certificate, and the refusals of messages that misuse them."""

    def __init__(self, sources: Sequence[SourceSettings]) -> None:
        bound = [s for s in sources if s.certificate is not None]
        self._by_fingerprint = {s.certificate.fingerprint: s for s in bound
                                if s.certificate and s.certificate.fingerprint}
        self._by_subject = {s.certificate.subject_key: s for s in bound
                            if s.certificate and s.certificate.subject_key}
        self._by_facility: dict[str, list[SourceSettings]] = {}
        self._by_application: dict[str, list[SourceSettings]] = {}
        for source in sources:
            if source.sending_facility:
                self._by_facility.setdefault(source.sending_facility, []).append(source)
            elif source.sending_application:
                self._by_application.setdefault(source.sending_application, []).append(source)
        self.active = bool(bound)

    def source_of(self, certificate: PeerCertificate) -> SourceSettings | None:
        """The source bound to ``certificate``: by fingerprint, else by subject."""
        found = self._by_fingerprint.get(certificate.fingerprint_sha256)
        if found is None and self._by_subject:
            found = self._by_subject.get(normalise_dn(certificate.subject))
        return found

    def check(
        self, message: Message, claimed: Callable[[Message], SourceSettings | None],
        certificate: PeerCertificate | None,
    ) -> tuple[SourceSettings | None, ParseError | None]:
        """The source of a message from a network connection, and its refusal if any.

        ``claimed`` finds the source MSH-3/MSH-4 name (called only when the
        certificate names none); ``certificate`` is the one the connection
        presented (None over plain TCP or TLS without one).
        """
        bound = self.source_of(certificate) if certificate is not None else None
        if bound is not None and certificate is not None:
            return bound, self._misused(message, bound, certificate)
        named = claimed(message)
        if named is None or named.certificate is None:
            return named, None
        facility = message.first("MSH-4.1")
        if certificate is not None:
            return None, _refusal(
                f"MSH-4 '{facility}' names source '{named.name}', which is bound to another "
                f"client certificate than {describe(certificate)}", 4)
        if named.require_certificate:
            return None, _refusal(
                f"MSH-4 '{facility}' names source '{named.name}', which requires its client "
                "certificate; this connection presented none", 4)
        return named, None

    def _misused(self, message: Message, bound: SourceSettings,
                 certificate: PeerCertificate) -> ParseError | None:
        """Why a message on ``bound``'s certificate names another sender, or None."""
        app, facility = message.first("MSH-3.1"), message.first("MSH-4.1")
        who = f"the client certificate {describe(certificate)} is bound to source '{bound.name}'"
        if bound.sending_facility not in (None, facility):
            return _refusal(f"MSH-4 '{facility}' is not the facility of this connection: {who}, "
                            f"whose facility is '{bound.sending_facility}'", 4)
        if bound.sending_application not in (None, app):
            return _refusal(f"MSH-3 '{app}' is not the application of this connection: {who}, "
                            f"whose application is '{bound.sending_application}'", 3)
        for other in (*self._by_facility.get(facility, ()), *self._by_application.get(app, ())):
            if other is not bound and _claims(other, app, facility) and not _implied(other, bound):
                field = 4 if other.sending_facility else 3
                value = facility if field == 4 else app
                return _refusal(f"MSH-{field} '{value}' is source '{other.name}''s; {who}", field)
        return None
