"""Intake: store first, acknowledge after (ARCHITECTURE rule 1).

Concurrent arrivals are grouped: one intake task takes every frame waiting,
checks them for duplicates with one query, writes their blobs, journal rows
and ingress publishes in one transaction, waits for the broker's confirm, and
only then releases the ACKs. A storage failure answers AR so the sender
retries; nothing is acknowledged that is not on disk.

Duplicates (HL7 v2.5 2.10.1, sender + MSH-10): the same content gets the
original ACK back without reprocessing; other content under the same ids is
answered AE and journaled as rejected.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from hub.auth.model import PeerCertificate
from hub.blobs import BlobStore, sha256_hex
from hub.bloom import Bloom
from hub.broker.base import Broker, OutboundMessage, transactional
from hub.config import SourceSettings
from hub.db.committer import Op
from hub.db.engine import Database
from hub.delivery import delivery_job, delivery_queue
from hub.errors import DuplicateConflict, HubError, ParseError, StorageError
from hub.hl7.ack import build_ack, fallback_fields
from hub.hl7.er7 import Message, parse
from hub.journal import Journal, MessageRecord, new_message_id, routed_status
from hub.metrics import Metrics
from hub.routing.engine import RoutingEngine, decision_detail
from hub.source_binding import CertificateBindings, named_by_header

log = logging.getLogger(__name__)

INGRESS = "ingress"
ENHANCED_OK = "CA"
INTERNAL_SOURCES = ("srri", "repository", "mssante", "imaging")
"""Sources of the messages the hub itself produces (identity updates, business ACKs)."""


@dataclass(slots=True)
class Arrival:
    """One frame waiting for the intake task."""

    payload: bytes
    peer: str
    listener: str
    received_at: float
    future: asyncio.Future[bytes | None] = field(repr=False)
    message: Message | None = None
    error: HubError | None = None
    source: str = "default"
    replay_of: str | None = None
    record_id: str | None = None
    frame_size: int | None = None  # bytes of a refused frame, of which payload is the head


@dataclass(slots=True)
class _Plan:
    """What one intake batch will commit and answer."""

    batch: list[Arrival]
    ops: list[Op] = field(default_factory=list)
    accepted: list[tuple[Arrival, MessageRecord]] = field(default_factory=list)
    jobs: dict[str, list[OutboundMessage]] = field(default_factory=dict)
    outcomes: list[str] = field(default_factory=list)
    answers: list[tuple[Arrival, bytes | asyncio.Future[bool] | None]] = field(
        default_factory=list)
    keys: list[tuple[str, str]] = field(default_factory=list)
    resend_answers: dict[int, bytes | None] = field(default_factory=dict)
    committed: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


def ingress_message(
    payload: bytes,
    message_id: str,
    *,
    source: str,
    protocol: str,
    patient_key: str | None,
    recovered: bool = False,
) -> OutboundMessage:
    """The ingress broker message of a stored message (``recovered``: maybe a second copy)."""
    headers = {"message_id": message_id, "source": source, "protocol": protocol,
               "patient_key": patient_key or "", "recovered": "1" if recovered else "0"}
    return OutboundMessage(payload, message_id, headers)


def raw_header(raw: bytes) -> tuple[str, str, str]:
    """Sender (MSH-3|MSH-4), MSH-10 and MSH-9 of an unparseable message, as far as readable."""
    fields = fallback_fields(raw)

    def field(n: int) -> str:
        return fields[n].strip() if len(fields) > n else ""

    component = field(2)[:1] or "^"
    sender = "|".join(field(n).split(component)[0] for n in (3, 4)) if len(fields) > 4 else ""
    return sender[:256], field(10), field(9)[:32]


def _bloom_key(key: tuple[str, str]) -> str:
    return f"{key[0]}\x1f{key[1]}"


_last_stamp: list[tuple[int, str]] = [(-1, "")]


def hl7_timestamp(now: float) -> str:
    """HL7 DTM to the second, local time (HL7 v2.5 2.A.22); the last second's is reused."""
    second = int(now)
    cached = _last_stamp[0]
    if cached[0] == second:
        return cached[1]
    stamp = time.strftime("%Y%m%d%H%M%S", time.localtime(second))
    _last_stamp[0] = (second, stamp)
    return stamp


def sender_key(message: Message) -> str:
    """The sender identity used for duplicate detection: MSH-3|MSH-4."""
    return f"{message.sending_application}|{message.sending_facility}"


class SourceResolver:
    """Maps a message to its configured source: by the client certificate of its
    connection when a source is bound to it, else by MSH-3/MSH-4."""

    def __init__(self, sources: Sequence[SourceSettings]) -> None:
        self._sources = [s for s in sources if named_by_header(s)]
        self._bindings = CertificateBindings(sources)

    def resolve_connection(
        self, message: Message, certificate: PeerCertificate | None
    ) -> tuple[SourceSettings | None, ParseError | None]:
        """The source of a message received on a connection, and its refusal if any
        (:class:`~hub.source_binding.CertificateBindings`)."""
        if not self._bindings.active:
            return self.resolve(message), None
        return self._bindings.check(message, self.resolve, certificate)

    def resolve(self, message: Message) -> SourceSettings | None:
        """The first source whose MSH-3/MSH-4 match, or None."""
        if not self._sources:
            return None
        app = message.first("MSH-3.1")
        facility = message.first("MSH-4.1")
        for src in self._sources:
            if src.sending_application not in (None, app):
                continue
            if src.sending_facility not in (None, facility):
                continue
            return src
        return None


def ack_mode(message: Message) -> str:
    """'original' or the enhanced accept-ack condition from MSH-15 (AL, NE, ER, SU)."""
    value = message.accept_ack_type.upper()
    return value if value in ("AL", "NE", "ER", "SU") else "original"


class Intake:
    """Turns frames into stored, published, acknowledged messages."""

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        journal: Journal,
        broker: Broker,
        sources: SourceResolver,
        metrics: Metrics,
        *,
        receiving: tuple[str, str] = ("HUB", "HUB"),
        single_writer: bool = False,
        router: RoutingEngine | None = None,
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._journal = journal
        self._broker = broker
        self._sources = sources
        self._metrics = metrics
        self._receiving = receiving
        self._queue: asyncio.Queue[Arrival] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._inflight: dict[tuple[str, str], tuple[str, str, bytes | None,
                                                     asyncio.Future[bool]]] = {}
        self._finishing: set[asyncio.Task[None]] = set()
        self._bloom = Bloom() if single_writer else None
        # Routing in the intake transaction needs a broker whose publishes join it.
        self._router = router if transactional(broker) is not None else None

    def start(self) -> None:
        """Start the intake task."""
        self._task = asyncio.create_task(self._run(), name="intake")

    async def close(self) -> None:
        """Stop taking arrivals; let the batches being committed finish."""
        if self._finishing:
            await asyncio.gather(*list(self._finishing), return_exceptions=True)
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def receive_hl7(
        self, payload: bytes, peer: str, listener: str = "mllp", *,
        replay_of: str | None = None, certificate: PeerCertificate | None = None,
    ) -> bytes | None:
        """Store one HL7 v2 message and return the ACK to send (None: send nothing).

        ``certificate`` is the verified client certificate of the connection
        (None over plain TCP): a source bound to it is the message's source,
        and a message misusing a binding is journaled rejected and answered AR.
        """
        now = time.time()
        arrival = Arrival(payload, peer, listener, now,
                          asyncio.get_running_loop().create_future(), replay_of=replay_of)
        self._classify(arrival, connection=True, certificate=certificate)
        self._queue.put_nowait(arrival)
        return await arrival.future

    async def replay(self, payload: bytes, *, of: str) -> str:
        """Take a stored message in again as a new message; return the new id."""
        arrival = Arrival(payload, "replay", "replay", time.time(),
                          asyncio.get_running_loop().create_future(), replay_of=of)
        self._classify(arrival)
        self._queue.put_nowait(arrival)
        await arrival.future
        if arrival.record_id is None:
            raise StorageError(f"replay of {of} was not stored")
        return arrival.record_id

    async def submit(self, payload: bytes, *, source: str) -> str:
        """Take in a message the hub produced (an ADT^A31, a ZAM); return its journal id.

        It is stored, journaled and routed like any received message, under the
        internal ``source`` (one of :data:`INTERNAL_SOURCES`) so that routes can
        send it to the systems subscribed to it. Raises StorageError when it
        could not be stored, and MessageError when it does not parse.
        """
        if source not in INTERNAL_SOURCES:
            raise ValueError(f"'{source}' is not an internal source: {INTERNAL_SOURCES}")
        arrival = Arrival(payload, "internal", "internal", time.time(),
                          asyncio.get_running_loop().create_future())
        self._classify(arrival)
        arrival.source = source
        if arrival.error is not None:
            raise arrival.error
        self._queue.put_nowait(arrival)
        await arrival.future
        if arrival.record_id is None:
            raise StorageError(f"message from {source} was not stored")
        return arrival.record_id

    async def reject_frame(self, prefix: bytes, size: int, peer: str, reason: str) -> bytes:
        """Journal a frame refused before parsing (too large) and return its AR."""
        arrival = Arrival(prefix, peer, "mllp", time.time(),
                          asyncio.get_running_loop().create_future(), frame_size=size)
        arrival.error = ParseError(reason, segment="MSH", field=1, code="207", reject=True)
        try:
            arrival.message = parse(prefix)
        except ParseError:
            arrival.message = None
        self._queue.put_nowait(arrival)
        ack = await arrival.future
        return ack or b""

    def _classify(self, arrival: Arrival, *, connection: bool = False,
                  certificate: PeerCertificate | None = None) -> None:
        """Parse and find the source; a network arrival is checked against the bindings
        (a replay or the hub's own message has no connection to check)."""
        try:
            arrival.message = parse(arrival.payload)
        except ParseError as exc:
            arrival.error = exc
            return
        if connection:
            source, refusal = self._sources.resolve_connection(arrival.message, certificate)
        else:
            source, refusal = self._sources.resolve(arrival.message), None
        arrival.source = source.name if source else "default"
        if refusal is not None:
            arrival.error = refusal
            return
        if source is not None and source.strict:
            from hub.hl7.strict import validate_strict

            problems = validate_strict(arrival.message)
            if problems:
                arrival.error = problems[0]

    # -- the batch loop -----------------------------------------------------

    async def _run(self) -> None:
        """Take every waiting arrival, decide, and start its commit; do not wait for it.

        Batches overlap: while one batch waits for its commit, the next one is
        prepared. Keys of uncommitted messages are kept in ``_inflight`` so that a
        resend arriving meanwhile is still recognised (and answered only once the
        original is committed). Publishes of different batches are not ordered
        among themselves: a connection sends its next message only after the ACK,
        which waits for the publish, so each sender's order is kept.
        """
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 1000:
                batch.append(self._queue.get_nowait())
            try:
                plan = await self._plan(batch)
            except Exception as exc:  # storage failure: every sender retries
                self._fail_batch(batch, exc)
                continue
            task = asyncio.create_task(self._finish(plan))
            self._finishing.add(task)
            task.add_done_callback(self._finishing.discard)

    async def _plan(self, batch: list[Arrival]) -> _Plan:
        duplicates = await self._find_duplicates(batch)
        plan = _Plan(batch)
        for arrival in batch:
            record, answer, publish = self._decide(arrival, duplicates, plan)
            plan.answers.append((arrival, answer))
            if record is None:
                continue
            _, blob_ops = self._blobs.ops_for(arrival.payload, record.sha256)
            plan.ops.extend(blob_ops)
            if publish and self._router is not None:
                self._plan_routed(arrival, record, plan)
                continue
            plan.ops.append(self._journal.record(record))
            plan.ops.append(self._journal.event(
                record.id, "received" if publish else "rejected",
                detail=record.error, at=record.received_at))
            if publish:
                plan.accepted.append((arrival, record))
        return plan

    def _plan_routed(self, arrival: Arrival, record: MessageRecord, plan: _Plan) -> None:
        """Route now: the record, its events, deliveries and jobs, all in this transaction.

        With the embedded broker the delivery jobs commit with the journal row,
        so the ingress stage (a publish, a second parse, a second transaction)
        is skipped: the message is acknowledged already routed.
        """
        assert arrival.message is not None and self._router is not None
        decision = self._router.decide(arrival.source, record.protocol, arrival.message)
        j = self._journal
        plan.ops.append(j.record(record, status=routed_status(decision.outcome)))
        plan.ops.append(j.event(record.id, "received", at=record.received_at))
        plan.ops.extend(j.routing(record.id, decision.outcome, decision.destinations,
                                  decision_detail(decision), set_status=False))
        plan.outcomes.append(decision.outcome)
        for destination in decision.destinations:
            plan.jobs.setdefault(delivery_queue(destination), []).append(delivery_job(
                arrival.payload, record.id, destination, patient_key=record.patient_key,
                source=record.source, control_id=record.control_id))

    async def _finish(self, plan: _Plan) -> None:
        stored = False
        try:
            await self._commit_and_publish(plan.ops, plan.accepted, plan.jobs)
            stored = True
        except Exception as exc:
            self._fail_batch(plan.batch, exc)
            return
        finally:
            for key in plan.keys:
                self._inflight.pop(key, None)
            plan.committed.set_result(stored)
        for outcome in plan.outcomes:
            self._metrics.routed.labels(outcome).inc()
        for arrival, answer in plan.answers:
            if isinstance(answer, asyncio.Future):
                # A resend of a message that was still being committed: it gets the
                # original's ACK only if the original was stored.
                if not await asyncio.shield(answer):
                    self._answer_storage_failure(arrival, StorageError("original not stored"))
                    continue
                answer = plan.resend_answers[id(arrival)]
            self._metrics.observe_intake(arrival.source, arrival.error is None,
                                         time.time() - arrival.received_at)
            if not arrival.future.done():
                arrival.future.set_result(answer)

    def _fail_batch(self, batch: list[Arrival], exc: Exception) -> None:
        log.error("intake batch of %d failed: %s", len(batch), exc)
        for arrival in batch:
            self._answer_storage_failure(arrival, exc)

    async def _find_duplicates(
        self, batch: list[Arrival]
    ) -> dict[tuple[str, str], tuple[str, str, bytes | None]]:
        keys = [
            (sender_key(a.message), a.message.control_id)
            for a in batch
            if a.message is not None and a.error is None and a.replay_of is None
        ]
        if self._bloom is not None:
            keys = [k for k in keys if _bloom_key(k) in self._bloom]
        return await self._journal.find_by_control_ids(keys)

    async def load_known_keys(self) -> None:
        """Fill the Bloom filter from the journal (single-writer setups only)."""
        if self._bloom is None:
            return
        for sender, control_id in await self._journal.all_control_ids():
            self._bloom.add(_bloom_key((sender, control_id)))

    def _decide(
        self,
        arrival: Arrival,
        duplicates: dict[tuple[str, str], tuple[str, str, bytes | None]],
        plan: _Plan,
    ) -> tuple[MessageRecord | None, bytes | asyncio.Future[bool] | None, bool]:
        """The record to store (or None), the answer, and whether to publish."""
        digest = sha256_hex(arrival.payload)
        message = arrival.message
        if message is not None and arrival.error is None and arrival.replay_of is None:
            key = (sender_key(message), message.control_id)
            stored = duplicates.get(key)
            pending = self._inflight.get(key)
            previous = stored or (pending[:3] if pending else None)
            if previous is not None:
                if previous[1] == digest:
                    self._metrics.duplicates.inc()
                    if stored is None and pending is not None:
                        plan.resend_answers[id(arrival)] = pending[2]
                        return None, pending[3], False
                    return None, previous[2], False
                arrival.error = DuplicateConflict(
                    f"MSH-10 '{message.control_id}' from '{key[0]}' was already received "
                    f"with different content (message {previous[0]})"
                )
        record = self._record(arrival, digest)
        arrival.record_id = record.id
        if arrival.message is not None and arrival.error is None and arrival.replay_of is None:
            key = (sender_key(arrival.message), arrival.message.control_id)
            self._inflight[key] = (record.id, digest, record.ack, plan.committed)
            plan.keys.append(key)
            if self._bloom is not None:
                self._bloom.add(_bloom_key(key))
        return record, record.ack, arrival.error is None

    def _record(self, arrival: Arrival, digest: str) -> MessageRecord:
        message = arrival.message
        msg_id = new_message_id(arrival.received_at)
        code, ack = self._ack_for(arrival, msg_id)
        if message is not None:
            sender, control_id = sender_key(message), message.control_id
            message_type = f"{message.message_type}^{message.trigger_event}"
        else:
            sender, control_id, message_type = raw_header(arrival.payload)
        return MessageRecord(
            id=msg_id,
            received_at=arrival.received_at,
            source=arrival.source,
            protocol="hl7v2",
            peer=arrival.peer,
            sender=sender,
            control_id=control_id,
            message_type=message_type,
            sha256=digest,
            size=arrival.frame_size if arrival.frame_size is not None else len(arrival.payload),
            status="received" if arrival.error is None else "rejected",
            patient_key=message.patient_key() if message else None,
            ack_code=code,
            ack=ack,
            error=str(arrival.error) if arrival.error else None,
            replay_of=arrival.replay_of,
        )

    def _ack_for(self, arrival: Arrival, msg_id: str) -> tuple[str, bytes | None]:
        message = arrival.message
        error = arrival.error
        mode = ack_mode(message) if message is not None else "original"
        if error is None:
            code = "AA" if mode == "original" else ENHANCED_OK
            if mode in ("NE", "ER"):
                return code, None
        else:
            reject = isinstance(error, ParseError) and error.reject
            if mode == "original":
                code = "AR" if reject else "AE"
            else:
                code = "CR" if reject else "CE"
            if mode == "NE":
                return code, None
        parse_error = error if isinstance(error, ParseError) else (
            ParseError(str(error), segment="MSH", field=10, code="205") if error else None)
        ack = build_ack(message, code, control_id=msg_id,
                        timestamp=hl7_timestamp(arrival.received_at), error=parse_error,
                        receiving=self._receiving, raw_fallback=arrival.payload[:4096])
        return code, ack

    async def _commit_and_publish(
        self,
        ops: list[Op],
        accepted: list[tuple[Arrival, MessageRecord]],
        jobs: dict[str, list[OutboundMessage]],
    ) -> None:
        outbound = [
            ingress_message(a.payload, r.id, source=r.source, protocol=r.protocol,
                            patient_key=r.patient_key)
            for a, r in accepted
        ]
        broker = transactional(self._broker)
        if broker is not None and (outbound or jobs):
            queued = {INGRESS: outbound, **jobs} if outbound else jobs
            prepared = [broker.prepare(queue, items) for queue, items in queued.items()]
            await self._db.committer.run(*ops, *[op for p in prepared for op in p[0]],
                                         urgent=True)
            for _, published in prepared:
                published()
            return
        if ops:
            await self._db.committer.run(*ops, urgent=True)
        if outbound:
            try:
                await self._broker.publish(INGRESS, outbound)
            except Exception as exc:
                # Stored but not queued: mark rejected so the sender's retry is taken as new.
                await self._db.committer.run(*[
                    op for _, r in accepted for op in (
                        self._journal.status(r.id, "rejected"),
                        self._journal.event(r.id, "rejected",
                                            detail=f"broker publish failed: {exc}"),
                    )
                ])
                raise StorageError(f"broker publish failed: {exc}") from exc

    def _answer_storage_failure(self, arrival: Arrival, exc: Exception) -> None:
        if arrival.future.done():
            return
        error = ParseError(
            f"the hub could not store the message, send it again ({type(exc).__name__})",
            code="207", reject=True,
        )
        self._metrics.storage_failures.inc()
        code = "AR" if arrival.message is None or ack_mode(arrival.message) == "original" else "CR"
        ack = build_ack(arrival.message, code, control_id=new_message_id(),
                        timestamp=hl7_timestamp(time.time()), error=error,
                        receiving=self._receiving, raw_fallback=arrival.payload[:4096])
        arrival.future.set_result(ack)


__all__ = ["INGRESS", "Intake", "SourceResolver", "StorageError"]
