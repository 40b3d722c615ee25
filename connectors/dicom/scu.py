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

What each delivery costs is kept to the header (PS3.5 7.1): only the
elements before the pixel data are parsed and coerced, and of these only the
ones coercion set are written again, the others being copied as stored
(:func:`~connectors.dicom.part10.patch_header`); the pixel data and whatever
follows it are sent as the bytes stored, already in
the instance's transfer syntax, when the peer accepted that syntax (else the
whole instance is parsed and pynetdicom converts it, as before). TCP_QUICKACK
keeps a Nagle-bound peer from holding each response for a delayed ACK.
"""

from __future__ import annotations

import asyncio
import io
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import encode

from connectors.dicom.coerce import Origin, check_coercion, coerce
from connectors.dicom.part10 import (
    nodelay,
    patch_header,
    quickack,
    read_instance,
    split_instance,
)
from hub.config import DicomDestination as DicomDestinationSettings
from hub.config import RetrySettings
from hub.delivery import DeliveryJob
from hub.errors import PermanentDeliveryError, TransientDeliveryError
from hub.imaging.intake import BLOB_REFERENCE, DicomSources, local_identifier
from hub.imaging.paths import header_facts
from hub.patients import PatientView

__all__ = ["DicomDestination", "ImagingContext", "Outgoing", "StoreLink", "prepare_outgoing"]

log = logging.getLogger(__name__)

MAX_CONTEXTS = 128  # PS3.8 9.3.2.2: presentation context ids are odd numbers 1..255
WARNINGS = frozenset({0xB000, 0xB006, 0xB007})
PIXEL_TAGS_FROM = 0x7FE00008
"""(7FE0,0008) Float Pixel Data: the first element a header-only read leaves out."""
PRIORITY_LOW = 2  # PS3.7 9.3.1.1: what pynetdicom's send_c_store sends by default


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


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One coerced instance on its way to the peer.

    ``dataset`` is the coerced header when ``tail`` holds the rest of the
    dataset as stored (pixel data on), or the whole coerced instance when
    ``tail`` is None (deflated, or a ``set`` keyword beyond the pixel data).
    """

    dataset: Dataset
    tail: memoryview | None
    part10: bytes
    """The stored instance: parsed whole only if the peer needs another syntax."""

    @property
    def sop_class(self) -> str:
        return str(self.dataset.SOPClassUID)

    @property
    def transfer_syntax(self) -> UID:
        return UID(self.dataset.file_meta.TransferSyntaxUID)

    def encoded(self) -> bytes:
        """The dataset bytes in its own transfer syntax: the header patched, the tail as is.

        The header elements coercion left alone are the stored bytes; only the
        ones it set are written (:func:`patch_header`), the same bytes as
        writing the whole header again.
        """
        assert self.tail is not None
        syntax = self.transfer_syntax
        try:
            header = patch_header(self.dataset, self.part10, syntax.is_implicit_VR,
                                  syntax.is_little_endian)
        except Exception as exc:  # what encode() below turns into None, pydicom raising many types
            raise ValueError(f"the coerced header cannot be encoded: {exc}") from exc
        if header is None:
            header = encode(self.dataset, syntax.is_implicit_VR, syntax.is_little_endian)
        if header is None:
            raise ValueError("the coerced header cannot be encoded")
        return b"".join((header, self.tail))

    def whole(self) -> Dataset:
        """The whole coerced instance, for pynetdicom to convert to an accepted syntax."""
        if self.tail is None:
            return self.dataset
        whole = read_instance(self.part10)
        whole.update(self.dataset)  # coercion only sets header elements
        return whole


def prepare_outgoing(part10: bytes, header_only: bool = True) -> Outgoing:
    """Parse what coercion needs: the header when the tail can be kept, else everything."""
    split = split_instance(part10) if header_only else None
    if split is None:
        return Outgoing(read_instance(part10), None, part10)
    return Outgoing(split.header, split.tail, part10)


class StoreLink:
    """One association to the peer, opened on demand and reused."""

    def __init__(self, settings: DicomDestinationSettings,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self._settings = settings
        self._ssl = ssl_context
        self._contexts: dict[tuple[str, str], None] = {}
        self._assoc: Any = None
        self._message_id = 0

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
                                     evt_handlers=[(evt.EVT_CONN_OPEN, _on_open),
                                                   (evt.EVT_PDU_SENT, _on_pdu),
                                                   (evt.EVT_PDU_RECV, _on_pdu)])
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

    def send(self, item: Outgoing) -> int:
        """C-STORE ``item`` (blocking: call from a worker thread); return the status."""
        key = (item.sop_class, str(item.transfer_syntax))
        reused = self._ready_for(key)
        if not reused:
            self._associate()
        try:
            return self._store(item)
        except TransientDeliveryError:
            if not reused:
                raise
        # The peer may have closed an idle association: one fresh attempt.
        self.release()
        self._associate()
        return self._store(item)

    def _exact_context(self, item: Outgoing) -> int | None:
        """The accepted context id for the instance's own syntax, if any (PS3.8 9.3.2.2)."""
        syntax = str(item.transfer_syntax)
        for context in self._assoc.accepted_contexts:
            if context.abstract_syntax == item.sop_class and context.transfer_syntax and \
                    context.transfer_syntax[0] == syntax and context.as_scu is not False:
                return int(context.context_id)
        return None

    def _store(self, item: Outgoing) -> int:
        try:
            context_id = self._exact_context(item) if item.tail is not None else None
            if context_id is not None and _sends_encoded(self._assoc):
                status = self._store_encoded(item, context_id)
            else:
                response = self._assoc.send_c_store(item.whole())
                status = response.get("Status") if response else None
        except ValueError as exc:  # no accepted presentation context for this instance
            raise PermanentDeliveryError(
                f"the peer accepts no context for SOP class {item.sop_class} in "
                f"{item.transfer_syntax}: {exc}") from exc
        except (OSError, RuntimeError) as exc:
            self.release()
            raise TransientDeliveryError(f"C-STORE failed: {exc}") from exc
        if status is None:
            self.release()
            raise TransientDeliveryError("no C-STORE response (timeout or association lost)")
        return int(status)

    def _store_encoded(self, item: Outgoing, context_id: int) -> int | None:
        """C-STORE bytes already in the context's syntax; the status, None without response.

        ``send_c_store`` only takes a Dataset (which it writes whole) or a file
        path; this is its request/response exchange (pynetdicom 2.x/3.x) with
        the dataset handed over as bytes. The association's reactor is paused
        meanwhile, as send_c_store does, so that it does not take the response.
        """
        assoc = self._assoc
        data = item.encoded()
        self._message_id = self._message_id % 0xFFFF + 1
        request = C_STORE()
        request.MessageID = self._message_id
        request.AffectedSOPClassUID = item.sop_class
        request.AffectedSOPInstanceUID = str(item.dataset.SOPInstanceUID)
        request.Priority = PRIORITY_LOW
        request.DataSet = io.BytesIO(data)
        checkpoint = assoc._reactor_checkpoint
        checkpoint.clear()
        try:
            deadline = time.monotonic() + self._settings.timeout_s
            while not assoc._is_paused:
                if not assoc.is_established or time.monotonic() > deadline:
                    raise RuntimeError("the association ended before the C-STORE")
                time.sleep(0.0001)
            assoc.dimse.send_msg(request, context_id)
            _, response = assoc.dimse.get_msg(block=True)
        finally:
            checkpoint.set()
        if response is None:
            if assoc.is_established:  # DIMSE timeout: the association is unusable
                assoc.abort()
            return None
        if not response.is_valid_response or response.Status is None:
            return None
        return int(response.Status)


def _sends_encoded(assoc: Any) -> bool:
    """Whether this pynetdicom has the reactor pause :meth:`StoreLink._store_encoded` uses."""
    return hasattr(assoc, "_reactor_checkpoint") and hasattr(assoc, "_is_paused")


def _on_pdu(event: Any) -> None:
    quickack(event.assoc)


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
        # A ``set`` keyword at or beyond the pixel data would fall in the kept tail.
        self._header_only = all((tag_for_keyword(k) or 0) < PIXEL_TAGS_FROM
                                for k in settings.coerce.set)

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

    async def _prepare(self, job: DeliveryJob) -> Outgoing:
        raw = await self._instance(job.payload)
        item = await asyncio.to_thread(prepare_outgoing, raw, self._header_only)
        ds = item.dataset
        source_name = job.headers.get("source", "")
        source = self._context.sources.get(source_name)
        local = local_identifier(header_facts(ds, ("PatientID", "IssuerOfPatientID")), source)
        view = await self._context.lookup(local) if local else None
        origin = Origin(source=source_name, marker=(source.marker if source and source.marker
                                                    else source_name), local=local)
        coerce(ds, self._settings.coerce, view, origin, self._context.regional_system)
        return item

    async def deliver(self, job: DeliveryJob) -> str:
        """Coerce and C-STORE one instance on the job's lane; the status as ``0xNNNN``."""
        item = await self._prepare(job)
        status = await asyncio.to_thread(self._links[job.lane % len(self._links)].send, item)
        outcome = classify_status(status)
        if outcome == "transient":
            raise TransientDeliveryError(f"C-STORE status 0x{status:04X} (out of resources)")
        if outcome == "permanent":
            raise PermanentDeliveryError(f"C-STORE status 0x{status:04X}")
        return f"0x{status:04X}"
