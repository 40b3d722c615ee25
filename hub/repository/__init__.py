"""The document repository service (DMP-like) and its MHD API: the ``repository`` component.

Documents come from CI-SIS HL7 v2 messages routed to a ``repository``
destination (:mod:`hub.repository.destination`) and from HTTP (MHD ITI-65,
plain CDA upload: :mod:`hub.repository.mhd`); they are stored as blobs with
their XDS metadata (:mod:`hub.repository.store`) and read through MHD
ITI-66/67/68. Patient identifiers are resolved through ``hub.patients`` at
query time, so identity merges and links are seen without re-indexing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hub.api.fhir import declare_capability
from hub.components import DestinationFactory
from hub.delivery import Destination
from hub.intake_http import HttpIntake
from hub.patients import Identifier, PatientView
from hub.repository.model import hub_source_oid
from hub.repository.store import Repository

__all__ = ["RepositoryComponent", "create"]


class _HubPatients:
    """The hub's patient directory, read at each call (the identity service may replace it)."""

    def __init__(self, hub: Any) -> None:
        self._hub = hub

    async def lookup(self, identifier: Identifier) -> PatientView | None:
        """As ``hub.patients.lookup``."""
        view: PatientView | None = await self._hub.patients.lookup(identifier)
        return view

    async def equivalents(self, identifier: Identifier) -> tuple[Identifier, ...]:
        """As ``hub.patients.equivalents``."""
        found: tuple[Identifier, ...] = await self._hub.patients.equivalents(identifier)
        return found


_SEARCH = {"patient": "reference", "patient.identifier": "token", "status": "token",
           "category": "token", "type": "token", "date": "date", "creation": "date",
           "period": "date", "author.family": "string", "facility": "token",
           "setting": "token", "security-label": "token", "format": "token",
           "related": "reference"}


class RepositoryComponent:
    """The ``repository`` component of a running hub."""

    name = "repository"

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self._repository: Repository | None = None
        self._http_intake: HttpIntake | None = None

    @property
    def repository(self) -> Repository:
        """The service (after :meth:`start`)."""
        if self._repository is None:
            raise RuntimeError("the repository component is not started")
        return self._repository

    @property
    def http_intake(self) -> HttpIntake:
        """The journal writer of HTTP submissions (after :meth:`start`)."""
        if self._http_intake is None:
            raise RuntimeError("the repository component is not started")
        return self._http_intake

    @property
    def source_oid(self) -> str:
        """XDS sourceId of submissions whose sender names no OID (plain CDA uploads)."""
        return hub_source_oid(self.hub.settings.identity.regional_system)

    def destination_types(self) -> Mapping[str, DestinationFactory]:
        """``repository``: files routed CI-SIS document messages."""
        return {"repository": self._destination}

    def _destination(self, name: str, settings: Any, data_dir: Path) -> Destination:
        from hub.repository.destination import RepositoryDestination

        return RepositoryDestination(name, settings, self)

    def routers(self) -> Sequence[Any]:
        """The MHD routes under ``/fhir`` and the plain upload ``/documents``."""
        from hub.repository.mhd import routers

        return routers(self)

    async def start(self) -> None:
        """Bind the service to the hub's database, blobs and patient directory."""
        hub = self.hub
        if hub.db is None or hub.blobs is None or hub.journal is None:
            raise RuntimeError("the repository starts after the hub's storage")
        self._repository = Repository(hub.db, hub.blobs, _HubPatients(hub))
        self._http_intake = HttpIntake(hub.db, hub.journal, hub.blobs)
        declare_capability({"type": "DocumentReference",
                            "documentation": "MHD ITI-67 Find Document References and read; "
                                             "ITI-65 Provide Document Bundle is the system "
                                             "transaction",
                            "searchParam": [{"name": n, "type": t} for n, t in _SEARCH.items()]})
        declare_capability({"type": "List", "documentation": "MHD ITI-66 Find Document Lists "
                                                             "(SubmissionSets)",
                            "searchParam": [{"name": "patient", "type": "reference"},
                                            {"name": "patient.identifier", "type": "token"}]})
        declare_capability({"type": "Binary", "documentation": "MHD ITI-68 Retrieve Document; "
                                                               "create: a CDA R2 document"})

    async def close(self) -> None:
        """Nothing to release: the hub closes the storage."""


def create(hub: Any) -> RepositoryComponent:
    """The factory named in :data:`hub.registry.COMPONENTS`."""
    return RepositoryComponent(hub)
