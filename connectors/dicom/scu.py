"""The ``dicom`` destination: C-STORE to a peer over associations kept open.

Each lane of the delivery worker owns one association (:class:`StoreLink`),
used by one thread at a time and kept open between instances. Presentation
contexts are proposed from what the instances have (PS3.8 9.3.2.2): the SOP
class with the instance's own transfer syntax, plus Explicit and Implicit VR
Little Endian for an uncompressed one (pynetdicom converts between
uncompressed syntaxes; a compressed instance goes as it is, never
recompressed). An instance needing a context the open association lacks
makes the link associate again with the contexts seen so far.

C-STORE statuses (PS3.4 Table B.2-1): success and warnings (``0xB000``,
``0xB006``, ``0xB007``) are delivered; ``0xA7xx`` (out of resources), a
refused or lost association, a timeout are transient (retried with backoff);
every other failure (``0xA9xx``, ``0xCxxx``, SOP class not supported) parks.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, evt

from connectors.dicom.coerce import Origin, check_coercion, coerce
from connectors.dicom.part10 import nodelay, read_instance
from hub.config import DicomDestination as DicomDestinationSettings
from hub.config import RetrySettings
from hub.delivery import DeliveryJob
from hub.errors import PermanentDeliveryError, TransientDeliveryError
from hub.imaging.intake import BLOB_REFERENCE, DicomSources, local_identifier
from hub.imaging.paths import header_facts
from hub.patients import PatientView

__all__ = ["DicomDestination", "ImagingContext", "StoreLink"]

log = logging.getLogger(__name__)

MAX_CONTEXTS = 128  # PS3.8 9.3.2.2: presentation context ids are odd numbers 1..255
WARNINGS = frozenset({0xB000, 0xB006, 0xB007})


@dataclass(frozen=True, slots=True)
class ImagingContext:
    """What the destination needs from the running hub."""

    blob: Callable[[str], Awaitable[bytes]]
    lookup: Callable[[tuple[str, str]], Awaitable[PatientView | None]]
    sources: DicomSources
    regional_system: str


def _syntaxes(transfer_syntax: UID) -> list[str]:
    if transfer_syntax.is_compressed:
        return [transfer_syntax]
    return list(dict.fromkeys([transfer_syntax, ExplicitVRLittleEndian, ImplicitVRLittleEndian]))


def classify_status(status: int) -> str:
    """``delivered``, ``transient`` or ``permanent`` for a C-STORE status."""
    if status == 0x0000 or status in WARNINGS:
        return "delivered"
    if 0xA700 <= status <= 0xA7FF:
        return "transient"
    return "permanent"


class StoreLink:
    """One association to the peer, opened on demand and reused."""

    def __init__(self, settings: DicomDestinationSettings,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self._settings = settings
        self._ssl = ssl_context
        self._contexts: dict[tuple[str, str], None] = {}
        self._assoc: Any = None

    def _ae(self) -> AE:
        s = self._settings
        ae = AE(ae_title=s.calling_ae)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = s.timeout_s
        ae.connection_timeout = s.timeout_s
        ae.maximum_pdu_size = 0
        by_class: dict[str, list[str]] = {}
        for sop_class, syntax in list(self._contexts)[-MAX_CONTEXTS:]:
            by_class.setdefault(sop_class, []).extend(_syntaxes(UID(syntax)))
        for sop_class, syntaxes in by_class.items():
            for syntax in dict.fromkeys(syntaxes):
                ae.add_requested_context(sop_class, syntax)
        return ae

    def _associate(self) -> None:
        s = self._settings
        tls = (self._ssl, s.host) if self._ssl is not None else None
        assoc = self._ae().associate(s.host, s.port, ae_title=s.called_ae, tls_args=tls,
                                     evt_handlers=[(evt.EVT_CONN_OPEN, _on_open)])
        if not assoc.is_established:
            why = "rejected" if assoc.is_rejected else "aborted" if assoc.is_aborted else \
                "not established (peer down?)"
            raise TransientDeliveryError(f"association with {s.called_ae}@{s.host}:{s.port} "
                                         f"{why}")
        self._assoc = assoc

    def release(self) -> None:
        """Release the association, if open (A-RELEASE, PS3.8 7.2)."""
        assoc, self._assoc = self._assoc, None
        if assoc is not None and assoc.is_established:
            try:
                assoc.release()
            except Exception:  # the peer may be gone already
                assoc.abort()

    def _ready_for(self, key: tuple[str, str]) -> bool:
        """Propose ``key`` if new; True when the open association can be used."""
        if key not in self._contexts:
            self._contexts[key] = None
            self.release()
        return self._assoc is not None and self._assoc.is_established

    def send(self, ds: Dataset) -> int:
        """C-STORE ``ds`` (blocking: call from a worker thread); return the status."""
        key = (str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID))
        reused = self._ready_for(key)
        if not reused:
            self._associate()
        try:
            return self._store(ds)
        except TransientDeliveryError:
            if not reused:
                raise
        # The peer may have closed an idle association: one fresh attempt.
        self.release()
        self._associate()
        return self._store(ds)

    def _store(self, ds: Dataset) -> int:
        try:
            response = self._assoc.send_c_store(ds)
        except ValueError as exc:  # no accepted presentation context for this instance
            raise PermanentDeliveryError(
                f"the peer accepts no context for SOP class {ds.SOPClassUID} in "
                f"{ds.file_meta.TransferSyntaxUID}: {exc}") from exc
        except (OSError, RuntimeError) as exc:
            self.release()
            raise TransientDeliveryError(f"C-STORE failed: {exc}") from exc
        status = response.get("Status") if response else None
        if status is None:
            self.release()
            raise TransientDeliveryError("no C-STORE response (timeout or association lost)")
        return int(status)


def _on_open(event: Any) -> None:
    nodelay(event.assoc)


class DicomDestination:
    """Forwards routed instances, coerced, to one peer AE."""

    def __init__(self, name: str, settings: DicomDestinationSettings,
                 context: ImagingContext, ssl_context: ssl.SSLContext | None = None) -> None:
        check_coercion(settings.coerce, f"destinations.{name}.coerce")
        self.name = name
        self.lanes = settings.lanes
        self.ordered = settings.ordered
        self.retry: RetrySettings = settings.retry
        self._settings = settings
        self._context = context
        self._links = [StoreLink(settings, ssl_context) for _ in range(settings.lanes)]

    async def start(self) -> None:
        """Nothing to open: associations are made on the first instance."""

    async def close(self) -> None:
        """Release every open association."""
        for link in self._links:
            await asyncio.to_thread(link.release)

    async def _instance(self, payload: bytes) -> bytes:
        if payload.startswith(BLOB_REFERENCE):
            return await self._context.blob(payload[len(BLOB_REFERENCE):].decode())
        return payload  # a job rebuilt from the journal carries the bytes themselves

    async def _prepare(self, job: DeliveryJob) -> Dataset:
        raw = await self._instance(job.payload)
        ds = await asyncio.to_thread(read_instance, raw)
        source_name = job.headers.get("source", "")
        source = self._context.sources.get(source_name)
        local = local_identifier(header_facts(ds, ("PatientID", "IssuerOfPatientID")), source)
        view = await self._context.lookup(local) if local else None
        origin = Origin(source=source_name, marker=(source.marker if source and source.marker
                                                    else source_name), local=local)
        coerce(ds, self._settings.coerce, view, origin, self._context.regional_system)
        return ds

    async def deliver(self, job: DeliveryJob) -> str:
        """Coerce and C-STORE one instance on the job's lane; the status as ``0xNNNN``."""
        ds = await self._prepare(job)
        status = await asyncio.to_thread(self._links[job.lane % len(self._links)].send, ds)
        outcome = classify_status(status)
        if outcome == "transient":
            raise TransientDeliveryError(f"C-STORE status 0x{status:04X} (out of resources)")
        if outcome == "permanent":
            raise PermanentDeliveryError(f"C-STORE status 0x{status:04X}")
        return f"0x{status:04X}"
