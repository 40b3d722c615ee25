"""MSSanté, the French secure health messaging space: the ``mssante`` component.

Out: the ``mssante`` destination (:mod:`connectors.mssante.destination`)
mails routed CI-SIS documents as IHE XDM packages over SMTP submission with
STARTTLS, a client certificate and AUTH (:mod:`connectors.mssante.smtp`),
and answers ZAM^Z02. In: the applicative mailbox is polled over IMAP
(:mod:`connectors.mssante.imap`); read receipts become ZAM^Z03 and XDM
packages are filed in the repository (:mod:`connectors.mssante.inbound`).
The RPPS -> MSSanté address directory lives in the hub's database
(:mod:`connectors.mssante.store`) and is managed through the admin API
(:mod:`connectors.mssante.api`) and ``hub mssante directory``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from connectors.mssante.imap import ImapPoller
from connectors.mssante.inbound import Inbound
from connectors.mssante.smtp import SmtpSender
from connectors.mssante.store import MailStore
from hub.components import DestinationFactory
from hub.config import MssanteSettings
from hub.delivery import Destination
from hub.errors import ConfigError

__all__ = ["MssanteComponent", "create"]


class MssanteComponent:
    """The ``mssante`` component of a running hub."""

    name = "mssante"

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.settings: MssanteSettings = hub.settings.mssante
        self._store: MailStore | None = None
        self.sender: SmtpSender | None = None
        self.inbound = Inbound(self)
        self.poller: ImapPoller | None = None

    @property
    def store(self) -> MailStore:
        """The component's tables (after :meth:`start`)."""
        if self._store is None:
            raise RuntimeError("the mssante component is not started")
        return self._store

    @property
    def address(self) -> str:
        """The hub's applicative mailbox."""
        if not self.settings.address:
            raise ConfigError("the applicative mailbox is not set", key="mssante.address")
        return self.settings.address

    @property
    def mail_domain(self) -> str:
        """The domain of the applicative mailbox (right side of Message-IDs)."""
        return self.address.rpartition("@")[2]

    @property
    def source_id(self) -> str:
        """XDS sourceId of the packages the hub makes: an OID derived from its mailbox."""
        return f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, 'mailto:' + self.address).int}"

    def repository(self) -> Any:
        """The repository service of the ``repository`` component (inbound filing)."""
        for component in self.hub.components:
            if component.name == "repository":
                return component.repository
        raise ConfigError("inbound XDM mails need the repository component", key="components")

    def destination_types(self) -> Mapping[str, DestinationFactory]:
        """``mssante``: mails routed CI-SIS documents."""
        return {"mssante": self._destination}

    def _destination(self, name: str, settings: Any, data_dir: Path) -> Destination:
        from connectors.mssante.destination import MssanteDestination

        if self.settings.smtp is None or not self.settings.address:
            raise ConfigError("the mssante destination needs mssante.address and mssante.smtp",
                              key=f"destinations.{name}")
        return MssanteDestination(name, settings, self)

    def routers(self) -> Sequence[Any]:
        """The directory admin API under ``/api/mssante``."""
        from connectors.mssante.api import router

        return [router(self)]

    async def start(self) -> None:
        """Bind the tables, prepare the SMTP pool, start polling the mailbox when configured."""
        if self.hub.db is None:
            raise RuntimeError("the mssante component starts after the hub's storage")
        self._store = MailStore(self.hub.db)
        if self.settings.smtp is not None:
            self.sender = SmtpSender(self.settings.smtp, local_hostname=self._local_hostname())
        if self.settings.imap is not None:
            self.poller = ImapPoller(self.settings.imap, self.inbound.handle)
            self.poller.start()

    def _local_hostname(self) -> str | None:
        return self.mail_domain if self.settings.address else None

    async def close(self) -> None:
        """Stop polling, close the SMTP connections."""
        if self.poller is not None:
            await self.poller.close()
        if self.sender is not None:
            await self.sender.close()


def create(hub: Any) -> MssanteComponent:
    """The factory named in :data:`hub.registry.COMPONENTS`."""
    return MssanteComponent(hub)
