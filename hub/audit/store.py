"""The audit trail's storage: append-only rows in a hash chain, one writer at a time.

Writes are serialised so the chain never forks: an asyncio lock within the
process and, on PostgreSQL, a transaction-level advisory lock, so that
several hub processes sharing one database append to the same chain. The
head (last sequence and hash) is read inside the locked transaction. A
failure to store raises :class:`~hub.audit.errors.AuditUnavailable`: the
caller refuses the access it was recording.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import desc, insert, select, text

from hub.audit.errors import AuditUnavailable
from hub.audit.record import GENESIS, AuditRecord, StoredRecord, chain_break, chain_hash
from hub.db.engine import Database
from hub.db.tables import audit_patients, audit_records

ADVISORY_KEY = 0x6875_6261_7564  # "hubaud": the chain's PostgreSQL advisory lock
PAGE = 1000


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of a search: a patient (``system|value``), a principal, a time range."""

    patient: str | None = None
    principal: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 100
    offset: int = 0


class AuditTrail:
    """Appends records to, reads and verifies the chain of one database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = asyncio.Lock()

    async def record(self, record: AuditRecord) -> int:
        """Append ``record``; its sequence number. AuditUnavailable when it is not stored."""
        try:
            async with self._lock, self.db.engine.begin() as conn:
                if self.db.dialect == "postgresql":
                    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                                       {"k": ADVISORY_KEY})
                head = (await conn.execute(select(audit_records.c.seq, audit_records.c.hash)
                                           .order_by(desc(audit_records.c.seq)).limit(1))).first()
                seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
                content = record.content()
                await conn.execute(insert(audit_records).values(
                    seq=seq, recorded_at=record.recorded_at, principal_id=record.principal_id,
                    action=record.action, outcome=record.outcome,
                    content=json.dumps(content, sort_keys=True, ensure_ascii=False),
                    prev_hash=prev, hash=chain_hash(prev, seq, content)))
                if record.patients:
                    await conn.execute(insert(audit_patients), [
                        {"patient": p, "seq": seq} for p in dict.fromkeys(record.patients)])
        except Exception as exc:
            raise AuditUnavailable(f"audit record not stored: {type(exc).__name__}") from exc
        return seq

    async def stored(self, after: int = 0) -> AsyncIterator[StoredRecord]:
        """Every record after sequence ``after``, in chain order."""
        while True:
            rows = await self.db.fetch(select(audit_records).where(audit_records.c.seq > after)
                                       .order_by(audit_records.c.seq).limit(PAGE))
            for row in rows:
                yield _stored(row)
            if len(rows) < PAGE:
                return
            after = rows[-1].seq

    async def verify(self) -> tuple[int, tuple[int, str] | None]:
        """How many records were checked, and the first break (sequence, why) or None."""
        checked, previous = 0, None
        async for record in self.stored():
            found = chain_break([record], previous)
            if found is not None:
                return checked, found
            checked, previous = checked + 1, record
        return checked, None

    async def search(self, query: AuditQuery) -> tuple[int, list[StoredRecord]]:
        """Records matching ``query``, newest first, and how many match in all."""
        statement = select(audit_records)
        if query.patient:
            statement = statement.join(audit_patients, audit_patients.c.seq
                                       == audit_records.c.seq).where(
                audit_patients.c.patient == query.patient)
        if query.principal:
            statement = statement.where(audit_records.c.principal_id == query.principal)
        if query.since is not None:
            statement = statement.where(audit_records.c.recorded_at >= query.since)
        if query.until is not None:
            statement = statement.where(audit_records.c.recorded_at < query.until)
        rows = await self.db.fetch(statement.order_by(desc(audit_records.c.seq)))
        page = rows[query.offset:query.offset + query.limit]
        return len(rows), [_stored(r) for r in page]

    async def get(self, seq: int) -> StoredRecord | None:
        """One record by its sequence number."""
        rows = await self.db.fetch(select(audit_records).where(audit_records.c.seq == seq))
        return _stored(rows[0]) if rows else None


def _stored(row: Any) -> StoredRecord:
    return StoredRecord(row.seq, json.loads(row.content), row.prev_hash, row.hash)


def patients_of(records: Sequence[StoredRecord]) -> list[str]:
    """Every patient named by ``records``, once, in order."""
    return list(dict.fromkeys(p for r in records for p in r.content.get("patients", ())))
