"""Polling the applicative mailbox over IMAP with TLS (RFC 9051 over implicit TLS, RFC 8314).

Each poll opens one connection (``imaplib.IMAP4_SSL`` in a worker thread: the
standard library's client is blocking and the poll is rare), logs in, takes
the UIDs of the unseen messages of the folder, fetches each without marking
it (``BODY.PEEK[]``), hands it to :class:`connectors.mssante.inbound.Inbound`
on the event loop, and marks ``\\Seen`` only what was handled: a mail whose
handling failed on storage stays unseen and is taken again at the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterator

from connectors.mssante.smtp import tls_context
from hub.config import ImapSettings
from hub.errors import StorageError

log = logging.getLogger(__name__)

Handler = Callable[[bytes], Awaitable[str]]


class ImapMailbox:
    """Blocking IMAP operations, each run in a thread by :class:`ImapPoller`."""

    def __init__(self, settings: ImapSettings) -> None:
        self._settings = settings
        self._context = tls_context(settings)

    @contextlib.contextmanager
    def _session(self) -> Iterator[imaplib.IMAP4_SSL]:
        """A logged-in connection with the folder selected, logged out afterwards."""
        s = self._settings
        client = imaplib.IMAP4_SSL(s.host, s.port, ssl_context=self._context, timeout=30)
        client.login(s.username, s.password or "")
        client.select(s.folder)
        try:
            yield client
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                client.logout()

    def unseen(self) -> list[tuple[bytes, bytes]]:
        """``(uid, raw mail)`` of every unseen message, left unseen."""
        with self._session() as client:
            _, data = client.uid("SEARCH", "UNSEEN")
            uids = data[0].split() if data and data[0] else []
            found = []
            for uid in uids:
                _, parts = client.uid("FETCH", uid, "(BODY.PEEK[])")
                raw = next((p[1] for p in parts if isinstance(p, tuple)), None)
                if isinstance(raw, bytes):
                    found.append((uid, raw))
            return found

    def mark_seen(self, uids: list[bytes]) -> None:
        """Flag ``uids`` ``\\Seen``."""
        if not uids:
            return
        with self._session() as client:
            client.uid("STORE", b",".join(uids).decode(), "+FLAGS", "(\\Seen)")


class ImapPoller:
    """Polls every ``poll_s`` seconds until closed."""

    def __init__(self, settings: ImapSettings, handler: Handler) -> None:
        self._settings = settings
        self._mailbox = ImapMailbox(settings)
        self._handler = handler
        self._task: asyncio.Task[None] | None = None

    async def poll_once(self) -> list[str]:
        """One poll; the outcome of each mail handled."""
        mails = await asyncio.to_thread(self._mailbox.unseen)
        handled, outcomes = [], []
        for uid, raw in mails:
            try:
                outcomes.append(await self._handler(raw))
            except StorageError as exc:
                log.warning("inbound mail %s left unseen: %s", uid.decode(), exc)
                continue
            handled.append(uid)
        await asyncio.to_thread(self._mailbox.mark_seen, handled)
        return outcomes

    async def _loop(self) -> None:
        while True:
            try:
                for outcome in await self.poll_once():
                    log.info("inbound mail: %s", outcome)
            except (imaplib.IMAP4.error, OSError, ssl.SSLError) as exc:
                log.warning("IMAP poll of %s failed: %s", self._settings.host, exc)
            await asyncio.sleep(self._settings.poll_s)

    def start(self) -> None:
        """Start polling in the background."""
        self._task = asyncio.create_task(self._loop(), name="mssante-imap")

    async def close(self) -> None:
        """Stop polling."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
