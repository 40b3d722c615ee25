"""The SRRI's speed on PostgreSQL: ``hub bench identity --dataset synthetic-fr
--store postgresql --database-url URL [--size N] [--probes K]``.

Two figures of issue 4: one incoming identity decided and committed with about
1,000,000 records stored (p95 target 20 ms), and identities linked per second.

1. :func:`identity.synthetic.generate` makes ``N`` persons (default 532,000,
   which gives about 1,000,000 local records over 12 authorities). The last
   ``K`` records in arrival order (plus a few warm-up ones) are held out.
2. The others are bulk-loaded with ``COPY`` (asyncpg
   ``copy_records_to_table``) into ``identity_records``, ``identity_blocks``,
   ``identity_identities`` and ``identity_names``, linked by the generator's
   ground truth (one regional identity per person): running the matcher over
   a million records first would measure the matcher, not the store, and
   the stored links only need to be plausible for the probes to find
   realistic candidates. The rows are what :class:`identity.store.IdentityStore`
   writes, blocking keys and name counts included.
3. The held-out records are applied one at a time through
   :meth:`identity.service.IdentityService.apply` as ADT identity events: the
   timed path is the real one (INS checks, SQL candidate lookup, decision,
   one committed transaction). Latency percentiles, the rate, and the
   candidates each lookup returned are reported.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import func, select

from hub.db.engine import Database
from hub.db.tables import identity_records
from identity.codec import normalized_json, traits_json
from identity.matching.blocking import blocking_keys
from identity.matching.decide import Scorer, Thresholds
from identity.matching.defaults import default_model
from identity.model import LocalRecord
from identity.service import AUTO, IdentityService
from identity.store import Context, IdentityStore, record_key
from identity.synthetic import SyntheticRecord, generate
from mappings.hl7v2.identity_event import (
    IdentityEvent,
    IdentityEventKind,
    IdentityStatus,
    IdentityTraits,
    Ins,
    PatientIdentifier,
)

DEFAULT_PERSONS = 532_000
"""About 1,000,000 records: the generator gives 1.88 records per person on average."""
DEFAULT_PROBES = 1_000
WARMUP = 20
CHUNK = 50_000
RECORD_COLUMNS = ("key", "authority", "ipp", "identity_id", "provenance", "score", "rule",
                  "status", "attributes", "ins_system", "ins_value", "qualified", "traits",
                  "normalized", "active", "merged_into", "updated_at")


def hub_url(url: str) -> str:
    """The ``postgresql+asyncpg://`` URL the hub's database layer opens."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        raise ValueError(f"--database-url must be a PostgreSQL URL, not {parts.scheme!r}")
    return urlunsplit(("postgresql+asyncpg", *parts[1:]))


# -- bulk load ------------------------------------------------------------------


@dataclass(slots=True)
class _Rows:
    """Rows of one chunk of records, in the tables' column order."""

    records: list[tuple[Any, ...]] = field(default_factory=list)
    blocks: list[tuple[str, str]] = field(default_factory=list)


def _record_row(record: LocalRecord, identity_id: str, now: float) -> tuple[Any, ...]:
    ins = record.ins
    return (record_key(record.key), record.authority, record.ipp, identity_id, AUTO, None,
            "bulk-load", record.status.value,
            ",".join(sorted(a.value for a in record.attributes)),
            ins.oid if ins else None, ins.value if ins else None, record.qualified,
            traits_json(record.traits), normalized_json(record.normalized), True, None, now)


def _rows(chunk: Sequence[SyntheticRecord], now: float) -> _Rows:
    rows = _Rows()
    for synthetic in chunk:
        record = synthetic.record
        key = record_key(record.key)
        rows.records.append(_record_row(record, identity_of(synthetic.person), now))
        rows.blocks.extend((block, key) for block in blocking_keys(record))
    return rows


def identity_of(person: int) -> str:
    """The regional identity id given to a generated person at load time."""
    return f"P{person:08d}"


def _name_rows(records: Iterable[SyntheticRecord]) -> list[tuple[str, str, int]]:
    """``identity_names`` rows: what :meth:`IdentityStore.names` would have counted."""
    counts: Counter[tuple[str, str]] = Counter()
    for synthetic in records:
        for write in IdentityStore.name_writes(synthetic.record, +1):
            counts[(write["field"], write["value"])] += 1
    return [(f, v, n) for (f, v), n in counts.items()]


def _chunks(items: Sequence[SyntheticRecord], size: int) -> Iterator[Sequence[SyntheticRecord]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


async def bulk_load(db: Database, records: Sequence[SyntheticRecord]) -> float:
    """COPY ``records`` into the SRRI tables; the seconds it took (VACUUM ANALYZE
    included: the visibility map lets block counts be index-only scans)."""
    started = time.perf_counter()
    now = time.time()
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection  # asyncpg, outside any transaction
        for chunk in _chunks(records, CHUNK):
            rows = _rows(chunk, now)
            await driver.copy_records_to_table("identity_records", records=rows.records,
                                               columns=list(RECORD_COLUMNS))
            await driver.copy_records_to_table("identity_blocks", records=rows.blocks,
                                               columns=["block", "record_key"])
        persons = sorted({s.person for s in records})
        await driver.copy_records_to_table(
            "identity_identities", records=[(identity_of(p), now) for p in persons],
            columns=["id", "created_at"])
        await driver.copy_records_to_table("identity_names", records=_name_rows(records),
                                           columns=["field", "value", "count"])
        await driver.execute("VACUUM ANALYZE identity_records, identity_blocks,"
                             " identity_identities, identity_names")
    return time.perf_counter() - started


# -- probes -----------------------------------------------------------------------


class CountingStore(IdentityStore):
    """The store, remembering how many candidates each lookup returned."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.sizes: list[int] = []

    async def context(self, record: LocalRecord) -> Context:
        """As :meth:`IdentityStore.context`, its candidates counted."""
        found = await super().context(record)
        self.sizes.append(len(found.candidates))
        return found


def event_of(record: LocalRecord) -> IdentityEvent:
    """The ADT identity event (A28-like create) a source would send for ``record``."""
    t = record.traits
    ins = Ins(record.ins.value, record.ins.oid, "NIR", record.qualified) if record.ins else None
    ipp = PatientIdentifier(record.ipp, record.authority, "", "", "PI", "ISO")
    return IdentityEvent(
        kind=IdentityEventKind.CREATE, trigger="A28", control_id=f"bench-{record.ipp}",
        recorded_at=None, authority=record.authority, ipp=record.ipp, identifiers=(ipp,),
        traits=IdentityTraits(
            birth_name=t.birth_name, first_given_name=t.given_names[0] if t.given_names
            else None, birth_given_names=t.given_names, used_name=t.used_name,
            birth_date=t.birth_date, sex=t.sex.value, birthplace_insee=t.birthplace),
        ins=ins, status=IdentityStatus(record.status.value), reliability_codes=())


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    rank = max(1, round(share * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


async def _apply_all(service: IdentityService, events: Sequence[IdentityEvent],
                     ) -> tuple[list[float], Counter[str]]:
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    for event in events:
        started = time.perf_counter()
        applied = await service.apply(event)
        latencies.append(time.perf_counter() - started)
        outcomes[applied.outcome] += 1
    return latencies, outcomes


async def probe(db: Database, records: Sequence[SyntheticRecord], warmup: int,
                ) -> dict[str, Any]:
    """Apply held-out records one at a time through the service; their figures."""
    store = CountingStore(db)
    service = IdentityService(store, Scorer(default_model(), Thresholds()))
    events = [event_of(s.record) for s in records]
    await _apply_all(service, events[:warmup])
    store.sizes.clear()
    started = time.perf_counter()
    latencies, outcomes = await _apply_all(service, events[warmup:])
    seconds = time.perf_counter() - started
    ms = [1000 * x for x in latencies]
    return {
        "probes": len(ms),
        "p50_ms": round(percentile(ms, 0.50), 2),
        "p95_ms": round(percentile(ms, 0.95), 2),
        "p99_ms": round(percentile(ms, 0.99), 2),
        "max_ms": round(max(ms), 2),
        "identities_per_s": round(len(ms) / seconds, 1),
        "candidates_p50": percentile(store.sizes, 0.50),
        "candidates_p95": percentile(store.sizes, 0.95),
        "candidates_max": max(store.sizes),
        "outcomes": dict(sorted(outcomes.items())),
    }


# -- the benchmark ------------------------------------------------------------------


def unique(records: Sequence[SyntheticRecord]) -> list[SyntheticRecord]:
    """The records without the later ones of an (authority, IPP) already drawn: the
    generator draws IPPs at random, a few repeat at a million records."""
    seen: set[tuple[str, str]] = set()
    out: list[SyntheticRecord] = []
    for synthetic in records:
        if synthetic.record.key not in seen:
            seen.add(synthetic.record.key)
            out.append(synthetic)
    return out


async def _stored(db: Database) -> int:
    rows = await db.fetch(select(func.count()).select_from(identity_records))
    return int(rows[0][0])


async def run_async(database_url: str, persons: int, probes: int) -> dict[str, Any]:
    """Generate, bulk-load, probe; the figures (see the module docstring)."""
    started = time.perf_counter()
    records = unique(generate(persons=persons, collisions=max(2, persons // 4000)).records)
    held = min(probes + WARMUP, len(records) // 2)
    loaded, incoming = records[:-held], records[-held:]
    generated = time.perf_counter() - started
    db = await Database.open(hub_url(database_url))
    try:
        await db.upgrade()
        if await _stored(db):
            raise ValueError("identity_records is not empty: give the bench a fresh database")
        load_s = await bulk_load(db, loaded)
        figures = await probe(db, incoming, held - min(probes, held - 1))
        stored = await _stored(db)
    finally:
        await db.close()
    return {
        "dataset": "synthetic-fr", "store": "postgresql", "persons": persons,
        "records_loaded": len(loaded), "records_stored": stored,
        "load_s": round(load_s, 1), "load_records_per_s": round(len(loaded) / load_s, 1),
        "generation_s": round(generated, 1), **figures,
    }


def run_sql(database_url: str, persons: int | None = None,
            probes: int | None = None) -> dict[str, Any]:
    """The SQL benchmark (synchronous entry point for the CLI)."""
    return asyncio.run(run_async(database_url, persons or DEFAULT_PERSONS,
                                 probes or DEFAULT_PROBES))
