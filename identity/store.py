"""The SRRI's storage on the hub's database (SQLite or PostgreSQL, same code).

Reads go through :meth:`hub.db.engine.Database.fetch`; writes are committer
operations (:class:`hub.db.committer.Write`) that the service commits in one
transaction per identity event. The group committer runs a batch's inserts
before its updates and deletes, so every write here is order-independent:
records are inserted or updated (the service knows which), blocking rows are
inserted-or-ignored and only the keys a record lost are deleted, name counts
are upserted increments.

Candidates come from ``identity_blocks`` (primary key ``(block,
record_key)``): one statement counts the record's few blocks on that index,
skips a block larger than ``max_block`` (a key shared by a crowd, as in the
in-memory index) and joins the members of the others to their records. The
same statement returns the incoming record as stored and the records kept
apart from it; with the name counts, that is all a decision reads
(:meth:`IdentityStore.context`, run by :mod:`identity.sql_reads`). Records
are read with their stored normalised traits (:mod:`identity.codec`), never
normalised again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    ARRAY,
    CompoundSelect,
    Delete,
    Insert,
    Select,
    String,
    Update,
    and_,
    any_,
    bindparam,
    case,
    delete,
    func,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from hub.db.committer import Op, Write
from hub.db.engine import Database
from hub.db.tables import (
    identity_blocks,
    identity_identities,
    identity_log,
    identity_names,
    identity_records,
    identity_reviews,
)
from identity.codec import normalized_from_json, normalized_json, traits_from_json, traits_json
from identity.ins import Ins
from identity.matching.blocking import blocking_keys, is_weak
from identity.matching.decide import Candidate
from identity.model import Attribute, LocalRecord, RecordKey, Status
from identity.search import search_keys
from identity.sql_reads import Reader

MAX_BLOCK = 5000
TOTAL = ("records", "active")
"""The ``identity_names`` row counting active records (term-frequency denominator)."""

r = identity_records.c


def record_key(key: RecordKey) -> str:
    """The stored form of (authority, IPP)."""
    return f"{key[0]}|{key[1]}"


def split_key(stored: str) -> RecordKey:
    """(authority, IPP) from its stored form."""
    authority, _, ipp = stored.partition("|")
    return authority, ipp


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A local record with its current link."""

    record: LocalRecord
    identity_id: str
    provenance: str
    score: float | None
    rule: str
    active: bool
    merged_into: str | None

    @property
    def candidate(self) -> Candidate:
        """The record as a matching candidate."""
        return Candidate(self.record, self.identity_id)


RECORD_COLUMNS = (r.authority, r.ipp, r.identity_id, r.provenance, r.score, r.rule, r.status,
                  r.attributes, r.ins_system, r.ins_value, r.traits, r.normalized, r.active,
                  r.merged_into)
"""The columns a :class:`StoredRecord` is read from, in :func:`_row_to_stored` order."""


def _row_to_stored(row: Sequence[Any]) -> StoredRecord:
    """A stored record from a row of :data:`RECORD_COLUMNS` (SQLAlchemy or asyncpg)."""
    (authority, ipp, identity_id, provenance, score, rule, status, attributes, ins_system,
     ins_value, traits, normalized, active, merged_into) = row
    ins = Ins(ins_value, ins_system) if ins_value and ins_system else None
    record = LocalRecord(authority, ipp, traits_from_json(traits),
                         normalized_from_json(normalized), Status(status),
                         frozenset(Attribute(a) for a in attributes.split(",") if a), ins)
    return StoredRecord(record, identity_id, provenance, score, rule, bool(active), merged_into)


def stored_blocks(stored: StoredRecord) -> list[str]:
    """The blocking rows a stored record has: its blocking and name search keys
    (:func:`identity.search.search_keys`) while active, none once inactive (what
    :meth:`IdentityStore.save` needs as ``old_blocks`` when it changes)."""
    if not stored.active:
        return []
    return blocking_keys(stored.record) + search_keys(stored.record)


def _starting_with(column: Any, prefix: str, dialect: str) -> Any:
    """``column`` starts with ``prefix`` on the primary key index: a byte range on SQLite
    (binary collation), ``LIKE 'prefix%'`` on PostgreSQL, right under any collation
    (indexed when the column's collation is C)."""
    if dialect == "postgresql":
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return column.like(escaped + "%", escape="\\")
    return and_(column >= prefix, column < prefix[:-1] + chr(ord(prefix[-1]) + 1))


@dataclass(frozen=True)
class _Statements:
    insert_record: Insert
    update_record: Update
    insert_block: Insert
    delete_block: Delete
    insert_identity: Insert
    insert_log: Insert
    bump_name: Insert
    seed_total: Insert
    insert_review: Insert
    decide_review: Update


def _ignore(dialect: str, table: Any) -> Insert:
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing()  # type: ignore[no-any-return]


def _bump(dialect: str) -> Insert:
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(identity_names)
    return stmt.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=["field", "value"],
        set_={"count": identity_names.c.count + stmt.excluded.count},
    )


@cache
def _statements(dialect: str) -> _Statements:
    return _Statements(
        insert_record=identity_records.insert(),
        update_record=update(identity_records).where(r.key == bindparam("b_key")).values(
            identity_id=bindparam("identity_id"), provenance=bindparam("provenance"),
            score=bindparam("score"), rule=bindparam("rule"), status=bindparam("status"),
            attributes=bindparam("attributes"), ins_system=bindparam("ins_system"),
            ins_value=bindparam("ins_value"), qualified=bindparam("qualified"),
            traits=bindparam("traits"), normalized=bindparam("normalized"),
            active=bindparam("active"),
            merged_into=bindparam("merged_into"), updated_at=bindparam("updated_at")),
        insert_block=_ignore(dialect, identity_blocks),
        delete_block=delete(identity_blocks).where(and_(
            identity_blocks.c.block == bindparam("b_block"),
            identity_blocks.c.record_key == bindparam("b_record"))),
        insert_identity=identity_identities.insert(),
        insert_log=identity_log.insert(),
        bump_name=_bump(dialect),
        seed_total=_ignore(dialect, identity_names),
        insert_review=identity_reviews.insert(),
        decide_review=update(identity_reviews).where(
            identity_reviews.c.id == bindparam("b_id")).values(
            status=bindparam("status"), decided_at=bindparam("decided_at"),
            decided_by=bindparam("decided_by"), reason=bindparam("reason")),
    )


_OWN, _CANDIDATE, _APART = 0, 1, 2
"""The kinds of rows of :attr:`_Reads.records`."""


@dataclass(frozen=True, slots=True)
class Context:
    """What deciding an incoming record reads (:meth:`IdentityStore.context`)."""

    existing: StoredRecord | None
    """The record as stored (active or merged away), None when never seen."""
    candidates: list[StoredRecord]
    """Active records sharing a blocking key with it (itself excluded)."""
    kept_apart: set[str]
    """Identities of the records a person decided to keep apart from it."""
    counts: dict[str, int]
    """Active records with its birth name and first given name (term frequencies)."""
    total: int
    """Active records."""


@dataclass(frozen=True)
class _Reads:
    records: CompoundSelect[Any]
    names: Select[Any]


def _one_of(column: Any, name: str, dialect: str) -> Any:
    """``column`` equal to one of a list parameter: ``= ANY($n)`` on PostgreSQL keeps one
    prepared statement whatever the list's length; SQLite expands ``IN (...)``."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(String)))
    return column.in_(bindparam(name, expanding=True))


def _candidate_keys(dialect: str) -> Select[Any]:
    """Keys of the records sharing a usable block (at most ``max_block`` rows, counted on
    the primary key index) with the incoming record, kept when they share a strong key
    or two keys at least (:func:`identity.matching.blocking.keep_candidate`)."""
    b = identity_blocks.c
    usable = (select(b.block).where(_one_of(b.block, "blocks", dialect)).group_by(b.block)
              .having(func.count() <= bindparam("max_block")))
    strong = case((_one_of(b.block, "strong", dialect), 1), else_=0)
    return (select(b.record_key).where(b.block.in_(usable)).group_by(b.record_key)
            .having(or_(func.count() >= 2, func.max(strong) == 1)))


def _apart_keys() -> Select[Any]:
    """Keys of the records a person decided to keep apart from the incoming one."""
    v = identity_reviews.c
    mine = bindparam("mine", type_=String)
    return select(case((v.record_key == mine, v.other_key), else_=v.record_key)).where(
        v.status == "separated", or_(v.record_key == mine, v.other_key == mine))


@cache
def _reads(dialect: str) -> _Reads:
    """The statements of :meth:`IdentityStore.context`: the records one (the record
    itself, its candidates, the records kept apart from it, each row tagged with its
    kind) and the name counts one."""
    mine = bindparam("mine", type_=String)
    columns = RECORD_COLUMNS

    def kind(tag: int) -> Any:
        return literal_column(str(tag)).label("kind")

    records = union_all(
        select(kind(_OWN), *columns).where(r.key == mine),
        select(kind(_CANDIDATE), *columns).where(
            r.key.in_(_candidate_keys(dialect)), r.active.is_(True), r.key != mine),
        select(kind(_APART), *columns).where(r.key.in_(_apart_keys())),
    )
    n = identity_names.c
    names = select(n.field, n.value, n.count).where(or_(
        and_(n.field == "birth_name", n.value == bindparam("birth_name")),
        and_(n.field == "given_name", n.value == bindparam("given_name")),
        and_(n.field == TOTAL[0], n.value == TOTAL[1])))
    return _Reads(records, names)


class IdentityStore:
    """Reads and write operations of the SRRI tables."""

    def __init__(self, db: Database, *, max_block: int = MAX_BLOCK) -> None:
        self.db = db
        self.max_block = max_block
        self._st = _statements(db.dialect)
        self._reads = _reads(db.dialect)
        self._reader = Reader(db)

    # -- reads ----------------------------------------------------------------

    async def get(self, key: RecordKey) -> StoredRecord | None:
        """The stored record (active or merged away), None when never seen."""
        rows = await self.db.fetch(select(*RECORD_COLUMNS).where(r.key == record_key(key)))
        return _row_to_stored(rows[0]) if rows else None

    async def get_many(self, keys: Iterable[str]) -> list[StoredRecord]:
        """Stored records by their stored keys."""
        wanted = sorted(set(keys))
        if not wanted:
            return []
        rows = await self.db.fetch(select(*RECORD_COLUMNS).where(r.key.in_(wanted)))
        return [_row_to_stored(row) for row in rows]

    async def context(self, record: LocalRecord) -> Context:
        """Everything deciding ``record`` reads, in two statements on one connection:
        the record as stored, its candidates, the identities kept apart from it
        and the name counts of its term-frequency weights (see :func:`_reads`)."""
        blocks = blocking_keys(record)
        n = record.normalized
        names = {"birth_name": n.birth_name.compact[:128], "given_name": n.given.first[:128]}
        records, counted = await self._reader.fetch_all([
            (self._reads.records, {
                "mine": record_key(record.key), "blocks": blocks,
                "strong": [k for k in blocks if not is_weak(k)], "max_block": self.max_block}),
            (self._reads.names, names)])
        found = {(row[0], row[1]): int(row[2]) for row in counted}
        total = found.get(TOTAL)
        return Context(
            existing=next((_row_to_stored(row[1:]) for row in records if row[0] == _OWN), None),
            candidates=[_row_to_stored(row[1:]) for row in records if row[0] == _CANDIDATE],
            kept_apart={row[3] for row in records if row[0] == _APART},
            counts={f: found.get((f, v), 0) for f, v in names.items() if v},
            total=await self._seed_total() if total is None else total)

    async def candidates(self, record: LocalRecord) -> list[StoredRecord]:
        """Active records sharing a blocking key with ``record`` (itself excluded)."""
        return (await self.context(record)).candidates

    async def block_members(self, blocks: Sequence[str]) -> set[str]:
        """Record keys of the given blocks, skipping blocks above ``max_block``."""
        if not blocks:
            return set()
        b = identity_blocks.c
        usable = (select(b.block).where(b.block.in_(list(blocks))).group_by(b.block)
                  .having(func.count() <= self.max_block))
        rows = await self.db.fetch(select(b.record_key).where(b.block.in_(usable)).distinct())
        return {row[0] for row in rows}

    async def prefix_members(self, prefixes: Sequence[str], limit: int) -> set[str] | None:
        """Record keys having a search row that starts with one of ``prefixes``
        (:mod:`identity.search`), None when there are more than ``limit``."""
        b = identity_blocks.c
        wanted = or_(*(_starting_with(b.block, p, self.db.dialect) for p in prefixes))
        rows = await self.db.fetch(select(b.record_key).where(wanted).distinct()
                                   .limit(limit + 1))
        found = {row[0] for row in rows}
        return None if len(found) > limit else found

    async def knows_authority(self, authority: str) -> bool:
        """Some record was ever received from this assigning authority (a range on the
        ``<authority>|<IPP>`` primary key)."""
        rows = await self.db.fetch(select(r.key).where(
            _starting_with(r.key, f"{authority}|", self.db.dialect)).limit(1))
        return bool(rows)

    async def members(self, identity_id: str) -> list[StoredRecord]:
        """Every record linked to a regional identity (merged-away ones included)."""
        rows = await self.db.fetch(select(*RECORD_COLUMNS).where(r.identity_id == identity_id))
        return [_row_to_stored(row) for row in rows]

    async def by_ins(self, value: str) -> list[StoredRecord]:
        """Records carrying this INS value."""
        rows = await self.db.fetch(select(*RECORD_COLUMNS).where(r.ins_value == value))
        return [_row_to_stored(row) for row in rows]

    async def _seed_total(self) -> int:
        """Count the active records and store the counter (once per database)."""
        rows = await self.db.fetch(select(func.count()).select_from(identity_records)
                                   .where(r.active.is_(True)))
        total = int(rows[0][0])
        await self.commit([Write(self._st.seed_total, {
            "field": TOTAL[0], "value": TOTAL[1], "count": total})])
        return total

    async def reviews(self, status: str | None = "open", limit: int = 100) -> list[Any]:
        """Review rows, oldest first."""
        v = identity_reviews.c
        stmt = select(identity_reviews).order_by(v.opened_at).limit(limit)
        if status:
            stmt = stmt.where(v.status == status)
        return await self.db.fetch(stmt)

    async def review(self, review_id: str) -> Any | None:
        """One review row."""
        rows = await self.db.fetch(select(identity_reviews)
                                   .where(identity_reviews.c.id == review_id))
        return rows[0] if rows else None

    async def open_reviews_of(self, key: RecordKey) -> list[Any]:
        """Open reviews involving a record."""
        v = identity_reviews.c
        mine = record_key(key)
        return await self.db.fetch(select(identity_reviews).where(and_(
            v.status == "open", (v.record_key == mine) | (v.other_key == mine))))

    async def log(self, *, record: RecordKey | None = None,
                  identity_id: str | None = None, limit: int = 200) -> list[Any]:
        """Log entries of a record or an identity, oldest first."""
        stmt = select(identity_log).order_by(identity_log.c.id).limit(limit)
        if record is not None:
            stmt = stmt.where(identity_log.c.record_key == record_key(record))
        if identity_id is not None:
            stmt = stmt.where(identity_log.c.identity_id == identity_id)
        return await self.db.fetch(stmt)

    # -- writes (operations to commit together) --------------------------------

    def save(self, stored: StoredRecord, *, new: bool, old_blocks: Sequence[str] = (),
             ) -> list[Op]:
        """Insert or update a record, its blocking rows and name counts."""
        rec = stored.record
        row = {
            "identity_id": stored.identity_id, "provenance": stored.provenance,
            "score": stored.score, "rule": stored.rule, "status": rec.status.value,
            "attributes": ",".join(sorted(a.value for a in rec.attributes)),
            "ins_system": rec.ins.oid if rec.ins else None,
            "ins_value": rec.ins.value if rec.ins else None,
            "qualified": rec.qualified, "traits": traits_json(rec.traits),
            "normalized": normalized_json(rec.normalized),
            "active": stored.active, "merged_into": stored.merged_into,
            "updated_at": time.time(),
        }
        key = record_key(rec.key)
        ops: list[Op] = []
        if new:
            ops.append(Write(self._st.insert_record, {
                "key": key, "authority": rec.authority, "ipp": rec.ipp, **row}))
        else:
            ops.append(Write(self._st.update_record, {"b_key": key, **row}))
        blocks = stored_blocks(stored)
        ops += [Write(self._st.insert_block, {"block": b, "record_key": key})
                for b in blocks if b not in old_blocks]
        ops += [Write(self._st.delete_block, {"b_block": b, "b_record": key})
                for b in old_blocks if b not in blocks]
        return ops

    @staticmethod
    def name_writes(record: LocalRecord, delta: int) -> list[dict[str, Any]]:
        """Parameters of the name count changes of a record (bulk loads use them too),
        and of the active records counter: every place a record becomes active or
        inactive counts its names, so the counter follows ``count(*) WHERE active``."""
        n = record.normalized
        pairs = (("birth_name", n.birth_name.compact), ("given_name", n.given.first), TOTAL)
        return [{"field": f, "value": v[:128], "count": delta} for f, v in pairs if v]

    def names(self, record: LocalRecord, delta: int) -> list[Op]:
        """Name count changes for term-frequency weights."""
        return [Write(self._st.bump_name, params)
                for params in self.name_writes(record, delta)]

    def new_identity(self, identity_id: str) -> Op:
        """Create a regional identity."""
        return Write(self._st.insert_identity, {"id": identity_id, "created_at": time.time()})

    def event(self, kind: str, record: RecordKey | None, identity_id: str | None,
              detail: str = "", message_id: str | None = None) -> Op:
        """Append to the identity log."""
        return Write(self._st.insert_log, {
            "at": time.time(), "kind": kind,
            "record_key": record_key(record) if record else None,
            "identity_id": identity_id, "detail": detail, "message_id": message_id})

    def open_review(self, review_id: str, kind: str, record: RecordKey, other: RecordKey,
                    score: float | None, explanation: Any) -> Op:
        """Queue a pair for a person to decide."""
        return Write(self._st.insert_review, {
            "id": review_id, "kind": kind, "record_key": record_key(record),
            "other_key": record_key(other), "score": score,
            "explanation": json.dumps(explanation, ensure_ascii=False),
            "status": "open", "opened_at": time.time(), "decided_at": None,
            "decided_by": None, "reason": None})

    def close_review(self, review_id: str, status: str, by: str | None,
                     reason: str | None) -> Op:
        """Record a review decision (``linked``, ``separated``, or ``superseded``)."""
        return Write(self._st.decide_review, {
            "b_id": review_id, "status": status, "decided_at": time.time(),
            "decided_by": by, "reason": reason})

    async def commit(self, ops: Sequence[Op]) -> None:
        """Commit the operations of one identity event atomically."""
        if ops:
            await self.db.committer.run(*ops)
