"""Intake of DICOM instances: stored, journaled and routed before the success status.

ARCHITECTURE rule 1 for C-STORE (PS3.4 B.2.3): the listener answers
``0x0000`` only once the instance's bytes (blob), its journal row (protocol
``dicom``, status ``routed``/``unrouted``/``filtered``), its instance row and
its delivery jobs are committed in one transaction. A storage failure answers
``0xA700`` (Refused: Out of Resources) so that the sender retries. A dataset
that cannot be read, is truncated (an element longer than the bytes
received, native Pixel Data shorter than the image it describes), or lacks
the UIDs every composite instance has (PS3.3 C.12.1, C.7.2.1, C.7.3.1), is
kept as ``rejected`` and answered ``0xC000`` (Error: Cannot understand) with
the reason as Error Comment.

The same SOP Instance UID from the same calling AE with the same bytes (a
resend after a lost response) is answered success without being stored or
forwarded again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from sqlalchemy import insert

from hub.auth.model import PeerCertificate
from hub.blobs import INLINE_MAX, BlobStore, sha256_hex
from hub.broker.base import Broker, OutboundMessage, transactional
from hub.config import DicomSourceSettings, normalise_dn
from hub.db.committer import Op, Write
from hub.db.engine import Database
from hub.db.tables import imaging_instances
from hub.delivery import delivery_job, delivery_queue
from hub.imaging.paths import MESSAGE_TYPE, DicomRoutable, header_facts
from hub.journal import Journal, MessageRecord, new_message_id, routed_status
from hub.patients import Identifier, PatientDirectory
from hub.routing.engine import RoutingEngine, decision_detail
from hub.source_binding import describe

log = logging.getLogger(__name__)

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000
REQUIRED_UIDS = ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID")
BLOB_REFERENCE = b"sha256:"
"""Delivery jobs of DICOM instances carry ``sha256:<hex>``: the destination reads the blob."""
IDENTITY_CACHE_S = 30.0


@dataclass(frozen=True, slots=True)
class StoreRequest:
    """One C-STORE as the listener hands it over (connectors/dicom)."""

    part10: bytes
    """The instance as a PS3.10 file: preamble, file meta, dataset as received."""
    header: Dataset | None
    """The dataset read without pixel data, None when it could not be read."""
    error: str | None
    calling_ae: str
    called_ae: str
    peer: str
    source: str
    transfer_syntax: str


@dataclass(frozen=True, slots=True)
class StoreAnswer:
    """The C-STORE response: its Status and, for a failure, an Error Comment (PS3.7 C.4.2)."""

    status: int
    error_comment: str | None = None


class DicomSources:
    """Which configured source a calling AE title and address belong to."""

    def __init__(self, sources: Sequence[DicomSourceSettings]) -> None:
        self._sources = list(sources)
        self._networks = {
            s.name: [ipaddress.ip_network(a, strict=False) for a in s.addresses]
            for s in self._sources
        }

    @property
    def ae_titles(self) -> list[str]:
        """Every calling AE title some source accepts."""
        return sorted({ae for s in self._sources for ae in s.ae_titles})

    def resolve(self, calling_ae: str, address: str) -> DicomSourceSettings | None:
        """The first source accepting ``calling_ae`` from ``address``, or None."""
        try:
            peer = ipaddress.ip_address(address)
        except ValueError:
            return None
        for source in self._sources:
            if calling_ae.strip() not in source.ae_titles:
                continue
            networks = self._networks[source.name]
            if not networks or any(peer in network for network in networks):
                return source
        return None

    def get(self, name: str) -> DicomSourceSettings | None:
        """The source called ``name``."""
        return next((s for s in self._sources if s.name == name), None)

    def _bound_to(self, certificate: PeerCertificate) -> DicomSourceSettings | None:
        for source in self._sources:
            binding = source.certificate
            if binding is not None and (
                    binding.fingerprint == certificate.fingerprint_sha256
                    or binding.subject_key == normalise_dn(certificate.subject)):
                return source
        return None

    def certificate_refusal(self, calling_ae: str,
                            certificate: PeerCertificate | None) -> str | None:
        """Why an association calling as ``calling_ae`` with ``certificate`` is refused.

        A certificate bound to a source may call only with that source's AE
        titles; an AE title of a bound source needs that source's certificate
        when it presents one, and always when the source requires it. None:
        no objection (the AE title and address checks still apply).
        """
        title = calling_ae.strip()
        bound = self._bound_to(certificate) if certificate is not None else None
        if bound is not None and certificate is not None and title not in bound.ae_titles:
            return (f"calling AE {title!r} is not one of source '{bound.name}''s "
                    f"{bound.ae_titles}, to which the certificate {describe(certificate)} "
                    "is bound")
        owner = next((s for s in self._sources if title in s.ae_titles), None)
        if bound is not None or owner is None or owner.certificate is None:
            return None
        if certificate is not None:
            return (f"calling AE {title!r} is source '{owner.name}''s, bound to another "
                    f"certificate than {describe(certificate)}")
        if owner.require_certificate:
            return (f"calling AE {title!r} is source '{owner.name}''s, which requires its "
                    "client certificate; none was presented")
        return None


def local_identifier(facts: dict[str, str],
                     source: DicomSourceSettings | None) -> Identifier | None:
    """(``urn:oid:<authority>``, PatientID): IssuerOfPatientID, else the source's authority."""
    patient_id = facts.get("PatientID")
    authority = facts.get("IssuerOfPatientID") or (source.patient_id_authority
                                                   if source else None)
    if not patient_id or not authority:
        return None
    system = authority if ":" in authority else f"urn:oid:{authority}"
    return system, patient_id


@dataclass
class _IdentityCache:
    """Identity status per local identifier, kept briefly: a study is many instances."""

    entries: dict[Identifier, tuple[float, str]] = field(default_factory=dict)

    def get(self, key: Identifier, now: float) -> str | None:
        found = self.entries.get(key)
        return found[1] if found and now - found[0] < IDENTITY_CACHE_S else None

    def put(self, key: Identifier, now: float, status: str) -> None:
        if len(self.entries) > 10_000:
            self.entries.clear()
        self.entries[key] = (now, status)


class ImagingIntake:
    """Turns C-STORE requests into stored, routed messages."""

    def __init__(self, db: Database, blobs: BlobStore, journal: Journal, broker: Broker,
                 router: RoutingEngine, patients: Callable[[], PatientDirectory],
                 sources: DicomSources) -> None:
        self._db = db
        self._blobs = blobs
        self._journal = journal
        self._broker = broker
        self._router = router
        self._patients = patients
        self._sources = sources
        self._identity = _IdentityCache()
        self._insert_instance = insert(imaging_instances)

    async def store(self, request: StoreRequest) -> StoreAnswer:
        """Store one instance; the C-STORE status to answer (PS3.4 Table B.2-1) and why."""
        now = time.time()
        facts, error = self._facts(request)
        digest = sha256_hex(request.part10)
        try:
            if error is None and await self._seen(request, facts, digest):
                return StoreAnswer(SUCCESS)
            if error is not None:
                await self._reject(request, facts, digest, error, now)
                return StoreAnswer(CANNOT_UNDERSTAND, error)
            await self._accept(request, facts, digest, now)
        except Exception as exc:  # storage failed: the sender must retry
            log.error("DICOM instance from %s not stored: %s", request.calling_ae, exc)
            return StoreAnswer(OUT_OF_RESOURCES, "the hub cannot store the instance now")
        return StoreAnswer(SUCCESS)

    @staticmethod
    def _facts(request: StoreRequest) -> tuple[dict[str, str], str | None]:
        if request.header is None:
            return {}, request.error or "the dataset cannot be read"
        facts = header_facts(request.header)
        if request.error is not None:  # read, but truncated: kept with what it says
            return facts, request.error
        missing = [k for k in REQUIRED_UIDS if k not in facts]
        if missing:
            return facts, f"{', '.join(missing)} missing (PS3.3 C.12.1: type 1)"
        return facts, None

    async def _seen(self, request: StoreRequest, facts: dict[str, str], digest: str) -> bool:
        key = (request.calling_ae, facts["SOPInstanceUID"])
        found = await self._journal.find_by_control_ids([key])
        previous = found.get(key)
        return previous is not None and previous[1] == digest

    async def _identity_status(self, identifier: Identifier | None, now: float) -> str:
        if identifier is None:
            return "unknown"
        cached = self._identity.get(identifier, now)
        if cached is not None:
            return cached
        view = await self._patients().lookup(identifier)
        status = ("unknown" if view is None else
                  "qualified" if view.qualified_ins else "known" if view.regional_id
                  else "unknown")
        self._identity.put(identifier, now, status)
        return status

    def _record(self, request: StoreRequest, facts: dict[str, str], digest: str,
                status: str, error: str | None, now: float) -> MessageRecord:
        return MessageRecord(
            id=new_message_id(now), received_at=now, source=request.source, protocol="dicom",
            peer=request.peer[:128], sender=request.calling_ae[:256],
            control_id=facts.get("SOPInstanceUID", "")[:64], message_type=MESSAGE_TYPE,
            sha256=digest, size=len(request.part10), status=status,
            patient_key=facts.get("PatientID"), ack_code="", ack=None, error=error)

    async def _reject(self, request: StoreRequest, facts: dict[str, str], digest: str,
                      error: str, now: float) -> None:
        record = self._record(request, facts, digest, "rejected", error, now)
        blob_ops = await self._blob_ops(request.part10, digest)
        await self._db.committer.run(
            *blob_ops, self._journal.record(record),
            self._journal.event(record.id, "rejected", detail=error, at=now), urgent=True)

    async def _accept(self, request: StoreRequest, facts: dict[str, str], digest: str,
                      now: float) -> None:
        source = self._sources.get(request.source)
        identifier = local_identifier(facts, source)
        routable_facts = {**facts, "CallingAETitle": request.calling_ae,
                          "CalledAETitle": request.called_ae, "PeerAddress": request.peer,
                          "TransferSyntaxUID": request.transfer_syntax,
                          "PatientIdentityStatus": await self._identity_status(identifier, now)}
        decision = self._router.decide(request.source, "dicom", DicomRoutable(routable_facts))
        record = self._record(request, facts, digest, routed_status(decision.outcome), None, now)
        blob_ops = await self._blob_ops(request.part10, digest)
        j = self._journal
        ops: list[Op] = [*blob_ops, j.record(record),
                         j.event(record.id, "received", at=now),
                         *j.routing(record.id, decision.outcome, decision.destinations,
                                    decision_detail(decision), set_status=False),
                         self._instance_row(record, facts)]
        # Instances are independent (PS3.4 B.2: no order among C-STOREs): the lane key is
        # the instance, so that one study spreads over every lane of a destination.
        jobs = {delivery_queue(d): [delivery_job(
            BLOB_REFERENCE + digest.encode(), record.id, d, patient_key=record.control_id,
            source=record.source, control_id=record.control_id)] for d in decision.destinations}
        await self._commit(ops, jobs)

    async def _blob_ops(self, data: bytes, digest: str) -> list[Op]:
        """The blob's ops; a large one is written and fsynced off the loop first."""
        if len(data) <= INLINE_MAX:
            return self._blobs.ops_for(data, digest)[1]
        return (await asyncio.to_thread(self._blobs.ops_for, data, digest))[1]

    def _instance_row(self, record: MessageRecord, facts: dict[str, str]) -> Write:
        return Write(self._insert_instance, {
            "message_id": record.id, "sop_instance_uid": facts["SOPInstanceUID"],
            "study_uid": facts["StudyInstanceUID"], "series_uid": facts["SeriesInstanceUID"],
            "source": record.source, "received_at": record.received_at, "size": record.size,
            "facts": json.dumps(facts, ensure_ascii=False)})

    async def _commit(self, ops: list[Op], jobs: dict[str, list[OutboundMessage]]) -> None:
        """One transaction with the embedded broker; publish after commit with RabbitMQ.

        With RabbitMQ a crash between commit and publish leaves pending
        deliveries, which the hub republishes at start.
        """
        broker = transactional(self._broker)
        if broker is None:
            await self._db.committer.run(*ops, urgent=True)
            for queue, items in jobs.items():
                await self._broker.publish(queue, items)
            return
        prepared = [broker.prepare(queue, items) for queue, items in jobs.items()]
        await self._db.committer.run(*ops, *[op for p in prepared for op in p[0]], urgent=True)
        for _, published in prepared:
            published()
