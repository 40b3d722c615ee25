"""In-memory linking engine and the protocol a stored index implements.

:class:`CandidateSource` is what the decision needs from storage: the
candidates of a record (every stored record sharing one of its blocking
keys) and name frequencies. A SQL implementation stores one row per
(blocking key, record) with an index on the key, answers ``candidates`` with
one ``WHERE key IN (...)`` lookup (a handful of keys, each a small block),
and keeps name counts in a table. :class:`InMemoryIndex` is the reference
implementation, used by the tests and the benchmarks.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from identity.matching.blocking import blocking_keys, is_weak, keep_candidate
from identity.matching.compare import Level, compare
from identity.matching.decide import Candidate, Scorer
from identity.matching.weights import Model, estimate_em, vectors_to_matrix
from identity.model import Decision, LocalRecord, Outcome, RecordKey


class CandidateSource(Protocol):
    """Where candidates come from (in memory here, SQL in the storage layer)."""

    def candidates(self, record: LocalRecord) -> list[Candidate]:
        """Stored records sharing at least one blocking key with ``record``."""
        ...

    def frequency(self, field: str, value: str) -> float | None:
        """Relative frequency of a name among stored records (term-frequency weights)."""
        ...


class InMemoryIndex:
    """Records by blocking key, with name counts; implements :class:`CandidateSource`."""

    def __init__(self, max_block: int = 5000) -> None:
        # A block above max_block (a key shared by a huge crowd) is skipped at
        # lookup: it would cost much and discriminate little; other keys remain.
        self.max_block = max_block
        self._stored: dict[RecordKey, Candidate] = {}
        self._keys: dict[RecordKey, list[str]] = {}
        self._blocks: dict[str, list[RecordKey]] = defaultdict(list)
        self._counts: dict[str, Counter[str]] = {"birth_name": Counter(), "given_name": Counter()}

    def __len__(self) -> int:
        return len(self._stored)

    def add(self, record: LocalRecord, identity_id: str) -> None:
        """Store (or replace) a record linked to ``identity_id``."""
        if record.key in self._stored:
            self.remove(record.key)
        keys = blocking_keys(record)
        self._stored[record.key] = Candidate(record, identity_id)
        self._keys[record.key] = keys
        for key in keys:
            self._blocks[key].append(record.key)
        self._count(record, +1)

    def remove(self, key: RecordKey) -> None:
        """Forget a stored record."""
        candidate = self._stored.pop(key)
        for block in self._keys.pop(key):
            self._blocks[block].remove(key)
        self._count(candidate.record, -1)

    def _count(self, record: LocalRecord, delta: int) -> None:
        n = record.normalized
        if n.birth_name.compact:
            self._counts["birth_name"][n.birth_name.compact] += delta
        if n.given.first:
            self._counts["given_name"][n.given.first] += delta

    def get(self, key: RecordKey) -> Candidate | None:
        """The stored record with this key, if any."""
        return self._stored.get(key)

    def candidates(self, record: LocalRecord) -> list[Candidate]:
        """Stored records sharing a blocking key with ``record`` (itself excluded),
        as :func:`identity.matching.blocking.keep_candidate` decides."""
        shared: dict[RecordKey, list[int]] = {}  # key -> [keys shared, strong keys shared]
        for key in blocking_keys(record):
            block = self._blocks.get(key, ())
            if len(block) > self.max_block:
                continue
            strong = 0 if is_weak(key) else 1
            for stored_key in block:
                counts = shared.setdefault(stored_key, [0, 0])
                counts[0] += 1
                counts[1] += strong
        shared.pop(record.key, None)
        return [self._stored[k] for k, (n, strong) in shared.items()
                if keep_candidate(n, strong > 0)]

    def frequency(self, field: str, value: str) -> float | None:
        """Relative frequency of a name among stored records."""
        total = len(self._stored)
        if not total or not value:
            return None
        return (self._counts[field][value] + 1) / (total + 1)


@dataclass(frozen=True, slots=True)
class Linked:
    """What bulk linking did with one record."""

    record: RecordKey
    identity_id: str
    decision: Decision


class Linker:
    """Links records one after the other into an index (bulk loads, benchmarks)."""

    def __init__(self, scorer: Scorer, index: InMemoryIndex,
                 new_identity: Callable[[], str] | None = None) -> None:
        self.scorer = scorer
        self.index = index
        counter = itertools.count(1)
        self._new_identity = new_identity or (lambda: f"R{next(counter)}")

    def link(self, record: LocalRecord, *, store: bool = True) -> Linked:
        """Decide for ``record``; store it under the linked or a new identity."""
        decision = self.scorer.decide(record, self.index.candidates(record))
        if decision.outcome is Outcome.LINK and decision.identity_id is not None:
            identity = decision.identity_id
        else:
            identity = self._new_identity()
        if store:
            self.index.add(record, identity)
        return Linked(record.key, identity, decision)

    def link_all(self, records: Iterable[LocalRecord], *, store: bool = True) -> list[Linked]:
        """Link every record in order."""
        return [self.link(record, store=store) for record in records]


def candidate_vectors(records: Sequence[LocalRecord], source: CandidateSource,
                      limit: int, seed: int = 0) -> list[tuple[Level, ...]]:
    """Comparison vectors of up to ``limit`` candidate pairs of a record sample."""
    sample = list(records)
    random.Random(seed).shuffle(sample)
    vectors: list[tuple[Level, ...]] = []
    for record in sample:
        for candidate in source.candidates(record):
            vectors.append(compare(record.normalized, candidate.record.normalized))
        if len(vectors) >= limit:
            break
    return vectors[:limit]


def random_vectors(left: Sequence[LocalRecord], right: Sequence[LocalRecord], count: int,
                   seed: int = 0) -> list[tuple[Level, ...]]:
    """Comparison vectors of ``count`` random pairs (nearly all non-matches)."""
    rng = random.Random(seed)
    pairs = ((rng.choice(left), rng.choice(right)) for _ in range(count))
    return [compare(a.normalized, b.normalized) for a, b in pairs if a.key != b.key]


def estimate_model(records: Sequence[LocalRecord], source: CandidateSource,
                   population: Sequence[LocalRecord], sample_pairs: int = 50_000,
                   seed: int = 0) -> Model:
    """Fellegi-Sunter weights: m by EM on candidate pairs of a sample of
    ``records``, u from random pairs of ``population``."""
    candidates = vectors_to_matrix(candidate_vectors(records, source, sample_pairs, seed))
    randoms = vectors_to_matrix(random_vectors(records, population, sample_pairs, seed))
    return estimate_em(candidates, random_pairs=randoms)
