"""SMTP submission to the MSSanté operator: STARTTLS, client certificate, AUTH, reused connections.

The ANS "Référentiel #2 clients de messageries sécurisées de santé" asks an
applicative mailbox to submit over TLS (STARTTLS on the submission port,
RFC 3207) with a certificate of its structure (mutual TLS) and to
authenticate (RFC 4954). Connections are kept open and reused (``connections``
of them); sends to one recipient domain are limited to ``per_domain`` at a
time so that one slow operator cannot take every connection.

Replies become the hub's delivery errors once, here (RFC 5321 4.2.1):
a 4yz reply is transient (:class:`SmtpDeferred`, retried with backoff), a 5yz
reply permanent (:class:`SmtpRefused`, parked with the server's words). A
connection, TLS or timeout problem is transient. An authentication failure is
transient too: the credentials are the hub's problem, not the message's.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage

import aiosmtplib

from connectors.mllp.tls import client_context
from hub.config import ImapSettings, SmtpSettings
from hub.errors import PermanentDeliveryError, TransientDeliveryError

WIRE_POLICY = policy.SMTP.clone(max_line_length=998)
"""CRLF, and header lines folded only past RFC 5322's 998 characters: a receiver reads the
MSSanté subject ``XDM/1.0/DDM+...`` exactly as written, never after a fold."""


class SmtpDeferred(TransientDeliveryError):
    """A 4yz reply, or the server could not be reached: try again later."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class SmtpRefused(PermanentDeliveryError):
    """A 5yz reply: the server will not take this mail as it is."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Refusal:
    """One recipient refused at RCPT time."""

    address: str
    code: int
    message: str


def tls_context(settings: SmtpSettings | ImapSettings) -> ssl.SSLContext:
    """The client context (SMTP and IMAP): the server's CA, the hub's certificate and key."""
    t = settings.tls
    if t is None:
        return client_context()
    return client_context(t.cafile, t.certfile, t.keyfile, t.verify)


def error_of(exc: Exception) -> SmtpDeferred | SmtpRefused:
    """The delivery error of an aiosmtplib exception (see the module docstring)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        first = exc.recipients[0]
        return error_of(first)
    if isinstance(exc, aiosmtplib.SMTPResponseException) and not isinstance(
            exc, aiosmtplib.SMTPAuthenticationError):
        text = f"SMTP {exc.code} {exc.message}".strip()
        if 500 <= exc.code < 600:
            return SmtpRefused(text, exc.code)
        return SmtpDeferred(text, exc.code)
    return SmtpDeferred(f"SMTP server unavailable: {type(exc).__name__}: {exc}")


def domain_of(address: str) -> str:
    """The domain of a mailbox, lower case."""
    return address.rpartition("@")[2].lower()


class SmtpSender:
    """A small pool of authenticated SMTP connections (see the module docstring)."""

    def __init__(self, settings: SmtpSettings, local_hostname: str | None = None) -> None:
        self._settings = settings
        self._context = tls_context(settings)
        self._local_hostname = local_hostname
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(settings.connections)
        self._domains: dict[str, asyncio.Semaphore] = {}
        self.opened = 0

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self._settings
        client = aiosmtplib.SMTP(hostname=s.host, port=s.port, timeout=s.timeout_s,
                                 start_tls=s.starttls, tls_context=self._context,
                                 local_hostname=self._local_hostname)
        await client.connect()
        if s.username:
            await client.login(s.username, s.password or "")
        self.opened += 1
        return client

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[aiosmtplib.SMTP]:
        async with self._slots:
            client = self._idle.pop() if self._idle else None
            if client is None or not client.is_connected:
                client = await self._connect()
            try:
                yield client
            except BaseException:
                client.close()
                raise
            if client.is_connected:
                self._idle.append(client)

    @contextlib.asynccontextmanager
    async def _domain_slots(self, recipients: Sequence[str]) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            # Sorted: two mails to the same two domains never wait on each other.
            for domain in sorted({domain_of(r) for r in recipients}):
                gate = self._domains.setdefault(
                    domain, asyncio.Semaphore(self._settings.per_domain))
                await stack.enter_async_context(gate)
            yield

    async def send(self, mail: EmailMessage, sender: str,
                   recipients: Sequence[str]) -> list[Refusal]:
        """Send ``mail`` to ``recipients``; return those refused while others were accepted.

        Raises :class:`SmtpDeferred` or :class:`SmtpRefused` when nothing was accepted.
        """
        async with self._domain_slots(recipients):
            try:
                return await self._send_once(mail, sender, recipients)
            except aiosmtplib.SMTPServerDisconnected:
                pass  # a reused connection the server had closed: one fresh try
            try:
                return await self._send_once(mail, sender, recipients)
            except aiosmtplib.SMTPServerDisconnected as exc:
                raise error_of(exc) from exc

    async def _send_once(self, mail: EmailMessage, sender: str,
                         recipients: Sequence[str]) -> list[Refusal]:
        try:
            async with self._connection() as client:
                refused, _ = await client.sendmail(sender, list(recipients),
                                                   mail.as_bytes(policy=WIRE_POLICY))
        except aiosmtplib.SMTPServerDisconnected:
            raise
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError, TimeoutError) as exc:
            raise error_of(exc) from exc
        return [Refusal(address, response.code, response.message)
                for address, response in refused.items()]

    async def close(self) -> None:
        """QUIT every idle connection."""
        while self._idle:
            client = self._idle.pop()
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()
