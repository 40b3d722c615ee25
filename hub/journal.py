"""The journal: one record per message, one event per stage, one row per delivery.

Write methods return committer operations so that callers can commit a
journal change together with whatever else belongs to the same step (the
blob, the broker publish of the embedded broker). Read methods serve the API
and the CLI.

Message statuses: ``received`` (stored, waiting for the pipeline), ``rejected``
(bad input, answered AE/AR), ``routed`` (delivery jobs issued), ``filtered``,
``unrouted``, ``delivered`` (every delivery done), ``parked`` (a delivery gave
up; see its reason).
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select

from hub.db.committer import Op, Write
from hub.db.engine import Database
from hub.db.statements import statements
from hub.db.tables import deliveries, events, messages

STATUSES = ("received", "rejected", "routed", "filtered", "unrouted", "delivered", "parked")


_PROCESS_TAG = secrets.randbits(16)
_SEQUENCE = itertools.count(secrets.randbits(20))


def new_message_id(now: float | None = None) -> str:
    """A 20-character, time-ordered, unique id (fits MSH-10 of HL7 v2.5).

    Milliseconds (11 hex), a per-process random tag (4 hex) and a sequence
    (5 hex): unique across processes sharing a database without a syscall per id.
    """
    ms = int((now or time.time()) * 1000)
    return f"{ms:011x}{_PROCESS_TAG:04x}{next(_SEQUENCE) & 0xFFFFF:05x}"


def routed_status(outcome: str) -> str:
    """The message status after a routing decision (``deliver``, ``filter``, ``unrouted``)."""
    return {"deliver": "routed", "filter": "filtered"}.get(outcome, "unrouted")


def delivery_key(message_id: str, destination: str) -> str:
    """The idempotency key of one message to one destination."""
    return f"{message_id}:{destination}"


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """Everything the intake knows about a message when it stores it."""

    id: str
    received_at: float
    source: str
    protocol: str
    peer: str
    sender: str
    control_id: str
    message_type: str
    sha256: str
    size: int
    status: str
    patient_key: str | None
    ack_code: str
    ack: bytes | None
    error: str | None = None
    replay_of: str | None = None


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """Journal search criteria; every field optional."""

    since: float | None = None
    until: float | None = None
    source: str | None = None
    status: str | None = None
    control_id: str | None = None
    patient: str | None = None
    limit: int = 100
    before_id: str | None = None


class Journal:
    """Builds journal writes and answers journal queries."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._st = statements(db.dialect)

    # -- writes -------------------------------------------------------------

    def record(self, rec: MessageRecord, *, status: str | None = None) -> Op:
        """Insert the message row (``status`` overrides the record's, e.g. once routed)."""
        row = {
            "id": rec.id, "received_at": rec.received_at, "source": rec.source,
            "protocol": rec.protocol, "peer": rec.peer, "sender": rec.sender,
            "control_id": rec.control_id, "message_type": rec.message_type,
            "sha256": rec.sha256, "size": rec.size, "status": status or rec.status,
            "patient_key": rec.patient_key, "ack_code": rec.ack_code, "ack": rec.ack,
            "error": rec.error, "replay_of": rec.replay_of, "updated_at": rec.received_at,
        }
        return Write(self._st.insert_message, row)

    def event(
        self,
        message_id: str,
        stage: str,
        *,
        destination: str | None = None,
        detail: str | None = None,
        duration_ms: float | None = None,
        at: float | None = None,
    ) -> Op:
        """Append one event to a message's history."""
        row = {
            "message_id": message_id, "at": at or time.time(), "stage": stage,
            "destination": destination, "detail": detail, "duration_ms": duration_ms,
        }
        return Write(self._st.insert_event, row)

    def status(self, message_id: str, status: str) -> Op:
        """Set a message's status."""
        params = {"b_id": message_id, "b_status": status, "b_at": time.time()}
        return Write(self._st.update_message_status, params)

    def deliveries_planned(self, message_id: str, destinations: Iterable[str]) -> list[Op]:
        """One pending delivery row per destination (ignored when it exists: replays)."""
        now = time.time()
        return [
            Write(self._st.insert_delivery, {
                "key": delivery_key(message_id, d), "message_id": message_id,
                "destination": d, "status": "pending", "attempts": 0,
                "last_error": None, "response": None, "updated_at": now,
            })
            for d in destinations
        ]

    def routing(
        self, message_id: str, outcome: str, destinations: Sequence[str], detail: str,
        *, set_status: bool = True,
    ) -> list[Op]:
        """The routing decision: pending deliveries, the message status and its event.

        ``outcome`` is ``deliver``, ``filter`` or ``unrouted``; ``detail`` says
        which routes matched and where they send, or why nothing is sent.
        ``set_status=False`` when the message row is inserted with
        :func:`routed_status` in the same transaction.
        """
        status = routed_status(outcome)
        ops = self.deliveries_planned(message_id, destinations) if outcome == "deliver" else []
        if set_status:
            ops.append(self.status(message_id, status))
        ops.append(self.event(message_id, status, detail=detail))
        return ops

    def delivery_outcome(
        self, key: str, status: str, attempts: int, *, error: str | None, response: str | None
    ) -> Op:
        """Record where a delivery stands."""
        params = {
            "b_key": key, "b_status": status, "b_attempts": attempts,
            "b_error": error, "b_response": response, "b_at": time.time(),
        }
        return Write(self._st.update_delivery, params)

    def settle_message(self, message_id: str) -> Op:
        """Recompute the message status from its deliveries (same transaction)."""
        return Write(self._st.settle_message, {"b_id": message_id, "b_at": time.time()})

    # -- reads --------------------------------------------------------------

    async def find_by_control_ids(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[str, str, bytes | None]]:
        """Accepted messages already stored for (sender, control id): id, hash, ACK."""
        if not keys:
            return {}
        stmt = select(
            messages.c.sender, messages.c.control_id, messages.c.id,
            messages.c.sha256, messages.c.ack,
        ).where(
            # control_id leads the index; a row-value IN is not indexed by SQLite.
            messages.c.control_id.in_(list({control_id for _, control_id in keys})),
            messages.c.status != "rejected",
            messages.c.replay_of.is_(None),
        )
        wanted = set(keys)
        rows = await self.db.fetch(stmt)
        return {
            (r.sender, r.control_id): (r.id, r.sha256, r.ack)
            for r in rows
            if (r.sender, r.control_id) in wanted
        }

    async def message_status(self, message_id: str) -> str | None:
        """The status of one message (None when unknown)."""
        rows = await self.db.fetch(select(messages.c.status).where(messages.c.id == message_id))
        return str(rows[0][0]) if rows else None

    async def waiting_for_pipeline(self, after_id: str = "", limit: int = 1000) -> list[Any]:
        """Accepted messages not yet routed (id, sha256, source, patient_key), by id."""
        stmt = (
            select(messages.c.id, messages.c.sha256, messages.c.source, messages.c.protocol,
                   messages.c.patient_key)
            .where(messages.c.status == "received", messages.c.id > after_id)
            .order_by(messages.c.id)
            .limit(limit)
        )
        return await self.db.fetch(stmt)

    async def pending_deliveries(self, after_key: str = "", limit: int = 1000) -> list[Any]:
        """Deliveries not done nor parked, with what is needed to publish them again."""
        d, m = deliveries.c, messages.c
        stmt = (
            select(d.key, d.message_id, d.destination, m.sha256, m.source, m.patient_key,
                   m.control_id)
            .join(messages, m.id == d.message_id)
            .where(d.status == "pending", d.key > after_key)
            .order_by(d.key)
            .limit(limit)
        )
        return await self.db.fetch(stmt)

    async def all_control_ids(self) -> list[tuple[str, str]]:
        """Every (sender, control id) of accepted original messages."""
        stmt = select(messages.c.sender, messages.c.control_id).where(
            messages.c.status != "rejected", messages.c.replay_of.is_(None))
        return [(r.sender, r.control_id) for r in await self.db.fetch(stmt)]

    async def search(self, f: SearchFilter) -> list[dict[str, Any]]:
        """Messages matching ``f``, newest first."""
        m = messages.c
        conds: list[Any] = []
        if f.since is not None:
            conds.append(m.received_at >= f.since)
        if f.until is not None:
            conds.append(m.received_at < f.until)
        for column, value in ((m.source, f.source), (m.status, f.status),
                              (m.control_id, f.control_id)):
            if value:
                conds.append(column == value)
        if f.patient:
            # "IPP" finds "IPP@<any authority>": a range, so exact and case-sensitive
            # on both dialects ("A" follows "@").
            conds.append(or_(
                m.patient_key == f.patient,
                and_(m.patient_key >= f"{f.patient}@", m.patient_key < f"{f.patient}A"),
            ))
        if f.before_id:
            conds.append(m.id < f.before_id)
        stmt = (
            select(*[c for c in messages.c if c.name not in ("ack",)])
            .where(*conds)
            .order_by(m.id.desc())
            .limit(max(1, min(f.limit, 1000)))
        )
        async with self.db.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().fetchall()
        return [dict(r) for r in rows]

    async def get(self, message_id: str) -> dict[str, Any] | None:
        """One message with its events and deliveries, or None."""
        async with self.db.connect() as conn:
            row = (
                await conn.execute(select(messages).where(messages.c.id == message_id))
            ).mappings().first()
            if row is None:
                return None
            evs = (
                await conn.execute(
                    select(events).where(events.c.message_id == message_id).order_by(events.c.id)
                )
            ).mappings().fetchall()
            dels = (
                await conn.execute(
                    select(deliveries).where(deliveries.c.message_id == message_id)
                )
            ).mappings().fetchall()
        result = dict(row)
        ack = result.pop("ack")
        result["ack"] = bytes(ack).decode("utf-8", "replace") if ack else None
        result["events"] = [dict(e) for e in evs]
        result["deliveries"] = [dict(d) for d in dels]
        return result

    async def delivery_status(self, key: str) -> str | None:
        """Status of one delivery (idempotency check on redelivery)."""
        rows = await self.db.fetch(select(deliveries.c.status).where(deliveries.c.key == key))
        return str(rows[0][0]) if rows else None

    async def count_by_status(self) -> dict[str, int]:
        """How many messages per status."""
        status = messages.c.status
        async with self.db.connect() as conn:
            rows = (await conn.execute(select(status, func.count()).group_by(status))).fetchall()
        return {r[0]: r[1] for r in rows}
