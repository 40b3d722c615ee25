"""The imaging router: the ``imaging`` component.

DICOM instances come in through the listener of ``connectors/dicom``
(C-ECHO, C-STORE, C-FIND), are stored and routed by
:class:`~hub.imaging.intake.ImagingIntake` before their success status, go
out through ``dicom`` destinations (C-STORE SCU, coerced on the way out), and
complete studies are indexed as FHIR ImagingStudy
(:class:`~hub.imaging.studies.StudyIndex`), searchable under ``/fhir``. The
connector is imported by name: ``hub`` has no static dependency on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from hub.api.fhir import declare_capability
from hub.components import DestinationFactory
from hub.config import TlsSettings
from hub.delivery import Destination
from hub.errors import ConfigError
from hub.imaging.find import find_studies
from hub.imaging.intake import DicomSources, ImagingIntake, StoreAnswer, StoreRequest
from hub.imaging.studies import StudyIndex
from hub.patients import Identifier, PatientDirectory, PatientView

__all__ = ["ImagingComponent", "create"]

FIND_LIMIT = 1000


class ImagingComponent:
    """The ``imaging`` component of a running hub."""

    name = "imaging"

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self.sources = DicomSources(hub.settings.dicom.sources)
        self.listener: Any = None
        self._intake: ImagingIntake | None = None
        self._index: StudyIndex | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def index(self) -> StudyIndex:
        """The study index (after :meth:`start`)."""
        if self._index is None:
            raise RuntimeError("the imaging component is not started")
        return self._index

    @property
    def dicom_port(self) -> int | None:
        """The bound DICOM port, None when the listener is off."""
        return self.listener.port if self.listener is not None else None

    def _directory(self) -> PatientDirectory:
        # Read at each call: the identity component installs its directory at start.
        directory: PatientDirectory = self.hub.patients
        return directory

    async def _lookup(self, identifier: Identifier) -> PatientView | None:
        return await self._directory().lookup(identifier)

    def destination_types(self) -> Mapping[str, DestinationFactory]:
        """``dicom``: C-STORE to a peer AE."""
        return {"dicom": self._destination}

    def _destination(self, name: str, settings: Any, data_dir: Path) -> Destination:
        scu = importlib.import_module("connectors.dicom.scu")
        context = scu.ImagingContext(
            blob=self.hub.blobs.get, lookup=self._lookup, sources=self.sources,
            regional_system=self.hub.settings.identity.regional_system)
        destination: Destination = scu.DicomDestination(name, settings, context,
                                                        _client_tls(settings.tls))
        return destination

    def routers(self) -> Sequence[Any]:
        """ImagingStudy under ``/fhir`` and the study list under ``/api/imaging``."""
        from hub.imaging.api import routers

        return routers(self)

    async def start(self) -> None:
        """Open the intake and the study index; start the listener when enabled."""
        hub = self.hub
        if hub.db is None or hub.blobs is None or hub.journal is None or hub.router is None:
            raise RuntimeError("the imaging component starts after the hub's storage")
        settings = hub.settings.dicom
        self._intake = ImagingIntake(hub.db, hub.blobs, hub.journal, hub.broker, hub.router,
                                     self._directory, self.sources)
        self._index = StudyIndex(hub.db, self._directory, self.sources,
                                 regional_system=hub.settings.identity.regional_system,
                                 quiet_s=settings.study_quiet_s, journal=hub.journal)
        self._task = asyncio.create_task(self._index.run(), name="imaging-studies")
        declare_capability({"type": "ImagingStudy",
                            "interaction": [{"code": "read"}, {"code": "search-type"}],
                            "searchParam": [{"name": "patient.identifier", "type": "token"}]})
        if settings.enabled:
            await self._start_listener()

    async def _start_listener(self) -> None:
        s = self.hub.settings.dicom
        scp = importlib.import_module("connectors.dicom.scp")
        self.listener = scp.DicomListener(
            self.store, self.find, self._source_of, self.sources.ae_titles,
            ae_title=s.ae_title, host=s.host, port=s.port, max_pdu=s.max_pdu,
            max_associations=s.max_associations, store_timeout_s=s.store_timeout_s,
            ssl_context=_server_tls(s.tls), certificate_check=self.sources.certificate_refusal)
        try:
            await self.listener.start()
        except OSError as exc:  # the port in use, an address not of this host
            self.listener = None
            raise ConfigError(f"cannot listen on {s.host}:{s.port}: {exc.strerror or exc}",
                              key="dicom.port") from exc

    def _source_of(self, calling_ae: str, address: str) -> str | None:
        source = self.sources.resolve(calling_ae, address)
        return source.name if source else None

    async def store(self, request: StoreRequest) -> StoreAnswer:
        """Store one instance (the listener's C-STORE sink); the status to answer."""
        assert self._intake is not None
        return await self._intake.store(request)

    async def find(self, query: Dataset) -> list[Dataset]:
        """Answer a STUDY-level C-FIND over the studies held."""
        held = await self.index.held(limit=FIND_LIMIT)
        return find_studies(query, held)

    async def close(self) -> None:
        """Stop the listener and the indexer."""
        if self.listener is not None:
            await self.listener.close()
            self.listener = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _server_tls(tls: TlsSettings | None) -> Any:
    if tls is None:
        return None
    module = importlib.import_module("connectors.mllp.tls")
    return module.server_context(str(tls.certfile), str(tls.keyfile),
                                 str(tls.cafile) if tls.cafile else None,
                                 tls.require_client_cert)


def _client_tls(tls: TlsSettings | None) -> Any:
    if tls is None:
        return None
    module = importlib.import_module("connectors.mllp.tls")
    return module.client_context(tls.cafile, tls.certfile, tls.keyfile, tls.verify)


def create(hub: Any) -> ImagingComponent:
    """The factory named in :data:`hub.registry.COMPONENTS`."""
    return ImagingComponent(hub)
