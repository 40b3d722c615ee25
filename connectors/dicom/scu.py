"""The ``dicom`` destination: C-STORE to a peer over associations kept open.

Each lane of the delivery worker owns one association (:class:`StoreLink`),
used by one thread at a time and kept open while instances follow each other;
a lane with nothing to send for ``idle_release_s`` releases it (A-RELEASE,
PS3.8 7.2), so that a peer serving one association at a time (dcmtk's
``storescp``) is free for the other lanes and for other senders. Presentation
contexts are proposed from what the instances have (PS3.8 9.3.2.2): the SOP
class with the instance's own transfer syntax, plus Explicit and Implicit VR
Little Endian for an uncompressed one (an instance is converted between
uncompressed syntaxes of the same byte order, as pynetdicom does; a
compressed instance goes as it is, never recompressed). An instance needing a
context the open association lacks makes the link associate again with the
contexts seen so far. The association itself is :mod:`connectors.dicom.ul`:
the calling thread drives the socket, no reactor threads.

C-STORE statuses (PS3.4 Table B.2-1): success and warnings (``0xB000``,
``0xB006``, ``0xB007``) are delivered; ``0xA7xx`` (out of resources), a
refused or lost association, a timeout are transient (retried with backoff);
every other failure (``0xA9xx``, ``0xCxxx``, SOP class not supported) parks.

What each delivery costs is kept to the header (PS3.5 7.1): only the
elements up to the Patient group (and any ``set`` keyword) are parsed and
coerced, and of these only the ones coercion set are written again, the
others being copied as stored (:func:`~connectors.dicom.part10.patch_header`);
the elements after them, the pixel data and whatever follows are sent as the
bytes stored, already in the instance's transfer syntax, when the peer
accepted that syntax (else the whole instance is parsed and converted, as
before). TCP_QUICKACK keeps a Nagle-bound peer from holding each response for
a delayed ACK.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.dsutils import encode

from connectors.dicom.coerce import Origin, check_coercion, coerce
from connectors.dicom.part10 import patch_header, read_instance, split_instance
from connectors.dicom.ul import (
    AssociationLost,
    AssociationRefused,
    StoreAssociation,
    encode_whole,
    valid_context,
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
T = TypeVar("T")

MAX_CONTEXTS = 128  # PS3.8 9.3.2.2: presentation context ids are odd numbers 1..255
WARNINGS = frozenset({0xB000, 0xB006, 0xB007})
PIXEL_TAGS_FROM = 0x7FE00008
"""(7FE0,0008) Float Pixel Data: the first element a header-only read leaves out."""
PATIENT_GROUP_END = 0x0010FFFF
"""Coercion reads and sets group 0010 (Patient), the private group 0009 and ``set`` keywords."""
CHARACTER_SET = 0x00080005  # (0008,0005) Specific Character Set
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


def prepare_outgoing(part10: bytes, header_only: bool = True,
                     through: int | None = None) -> Outgoing:
    """Parse what coercion needs: the header when the tail can be kept, else everything.

    ``through``: the last tag coercion reads or sets; the elements after it
    stay in the tail too (else the header runs to the pixel data).
    """
    split = split_instance(part10, through) if header_only else None
    if split is None:
        return Outgoing(read_instance(part10), None, part10)
    return Outgoing(split.header, split.tail, part10)


class StoreLink:
    """One association to the peer, opened on demand and reused (one thread at a time)."""

    def __init__(self, settings: DicomDestinationSettings,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self._settings = settings
        self._ssl = ssl_context
        self._contexts: dict[tuple[str, str], None] = {}
        self._assoc: StoreAssociation | None = None
        self._message_id = 0
        self._idle_since = 0.0
        self.requesting_since: float | None = None
        """When the association being requested was asked for; None when not requesting."""

    def _requested(self) -> list[tuple[str, list[str]]]:
        """One context per (SOP class, transfer syntax), the most recent ones (PS3.8 9.3.2.2)."""
        pairs = [(sop_class, syntax) for sop_class, stored in self._contexts
                 for syntax in _syntaxes(UID(stored))]
        return [(sop_class, [syntax]) for sop_class, syntax
                in list(dict.fromkeys(pairs))[-MAX_CONTEXTS:]]

    def _associate(self) -> None:
        s = self._settings
        self.requesting_since = time.monotonic()
        try:
            self._assoc = StoreAssociation.request(
                s.host, s.port, calling_ae=s.calling_ae, called_ae=s.called_ae,
                contexts=self._requested(), timeout_s=s.timeout_s, ssl_context=self._ssl)
        except AssociationRefused as exc:
            raise TransientDeliveryError(f"association with {s.called_ae}@{s.host}:{s.port} "
                                         f"not established: {exc}") from exc
        finally:
            self.requesting_since = None

    def release(self) -> None:
        """Release the association, if open (A-RELEASE, PS3.8 7.2)."""
        assoc, self._assoc = self._assoc, None
        if assoc is not None:
            assoc.release()

    @property
    def idle_limit_s(self) -> float:
        """How long the association may stay open with nothing to send."""
        return min(self._settings.idle_release_s, self._settings.timeout_s)

    def idle_for(self, now: float | None = None) -> float | None:
        """Seconds the open association has had nothing to send; None when none is open."""
        if self._assoc is None:
            return None
        return (time.monotonic() if now is None else now) - self._idle_since

    def release_if_idle(self) -> bool:
        """Release the association once idle for :attr:`idle_limit_s`; True if released.

        A peer serving one association at a time (dcmtk's ``storescp``)
        serves nobody else while an idle one stays open.
        """
        idle = self.idle_for()
        if idle is None or idle < self.idle_limit_s:
            return False
        self.release()
        return True

    def _ready_for(self, key: tuple[str, str]) -> bool:
        """Propose ``key`` if new; True when the open association can be used.

        An association idle for longer than :attr:`idle_limit_s` is released first.
        """
        if key not in self._contexts:
            self._contexts[key] = None
            self.release()
        else:
            self.release_if_idle()
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

    def _store(self, item: Outgoing) -> int:
        assoc = self._assoc
        assert assoc is not None
        try:
            context_id, data = _payload(item, assoc)
        except ValueError as exc:  # no accepted presentation context, or not encodable
            raise PermanentDeliveryError(
                f"the peer accepts no context for SOP class {item.sop_class} in "
                f"{item.transfer_syntax}: {exc}") from exc
        self._message_id = self._message_id % 0xFFFF + 1
        try:
            return assoc.send_c_store(context_id, self._message_id, item.sop_class,
                                      str(item.dataset.SOPInstanceUID), PRIORITY_LOW, data)
        except (OSError, AssociationLost) as exc:
            self._assoc = None  # send_c_store aborted it
            raise TransientDeliveryError(f"C-STORE failed: {exc or type(exc).__name__}") \
                from exc
        finally:
            self._idle_since = time.monotonic()


def _payload(item: Outgoing, assoc: StoreAssociation) -> tuple[int, bytes]:
    """The context id and the dataset bytes to send in its syntax.

    The header-only path when the peer accepted the instance's own syntax;
    else the whole instance written in an accepted uncompressed syntax of the
    same byte order (pynetdicom's conversion rule); ValueError when none.
    """
    syntax = item.transfer_syntax
    context = valid_context(assoc.accepted_contexts, item.sop_class, syntax)
    if context is None:
        raise ValueError("no accepted presentation context")
    accepted = UID(context.transfer_syntax[0])
    context_id = int(context.context_id or 0)
    if item.tail is not None and accepted == syntax:
        return context_id, item.encoded()
    return context_id, encode_whole(item.whole(), accepted)


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
        self._busy = [asyncio.Lock() for _ in self._links]
        self._reaper: asyncio.Task[None] | None = None
        # One thread per lane: a lane waiting for its peer holds none of the shared pool.
        self._threads = ThreadPoolExecutor(settings.lanes, thread_name_prefix=f"dicom-{name}")
        # A ``set`` keyword at or beyond the pixel data would fall in the kept tail.
        set_tags = [tag_for_keyword(k) or 0 for k in settings.coerce.set]
        self._header_only = all(tag < PIXEL_TAGS_FROM for tag in set_tags)
        # A new character set re-encodes every text element: the header must hold them all.
        self._through = None if CHARACTER_SET in set_tags else max([PATIENT_GROUP_END, *set_tags])

    async def start(self) -> None:
        """Start releasing idle associations; they are made on the first instance."""
        self._reaper = asyncio.create_task(self._release_idle(),
                                           name=f"dicom-{self.name}-idle-release")

    async def close(self) -> None:
        """Stop the idle release and release every open association."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        for link, busy in zip(self._links, self._busy, strict=True):
            async with busy:
                await self._run(link.release)
        self._threads.shutdown(wait=False)

    async def _run(self, call: Callable[..., T], *args: object) -> T:
        """``call(*args)`` in one of the destination's own threads."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, call, *args)

    async def _release_idle(self) -> None:
        """Release the association of every lane idle for ``idle_release_s`` (forever)."""
        every = max(0.05, self._links[0].idle_limit_s / 4)
        while True:
            await asyncio.sleep(every)
            for link, busy in zip(self._links, self._busy, strict=True):
                idle = link.idle_for()
                if busy.locked() or idle is None or idle < link.idle_limit_s:
                    continue
                async with busy:
                    await self._run(link.release_if_idle)

    def _another_lane_waits(self, lane: int) -> bool:
        """True when another lane has asked the peer for an association for a while.

        A peer serving one association at a time leaves the request unanswered
        until the open association is released: this lane gives way once the
        request has waited ``idle_release_s``, and asks again after it.
        """
        now = time.monotonic()
        return any(n != lane and link.requesting_since is not None and
                   now - link.requesting_since >= link.idle_limit_s
                   for n, link in enumerate(self._links))

    async def _instance(self, payload: bytes) -> bytes:
        if payload.startswith(BLOB_REFERENCE):
            return await self._context.blob(payload[len(BLOB_REFERENCE):].decode())
        return payload  # a job rebuilt from the journal carries the bytes themselves

    async def _prepare(self, job: DeliveryJob) -> Outgoing:
        raw = await self._instance(job.payload)
        item = await asyncio.to_thread(prepare_outgoing, raw, self._header_only, self._through)
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
        lane = job.lane % len(self._links)
        link = self._links[lane]
        async with self._busy[lane]:
            if self._another_lane_waits(lane):
                await self._run(link.release)
            status = await self._run(link.send, item)
        outcome = classify_status(status)
        if outcome == "transient":
            raise TransientDeliveryError(f"C-STORE status 0x{status:04X} (out of resources)")
        if outcome == "permanent":
            raise PermanentDeliveryError(f"C-STORE status 0x{status:04X}")
        return f"0x{status:04X}"
