"""The decision: one incoming record against its candidates.

Per regional identity, the incoming record is compared with each of its
records. It is linked automatically to an identity only when

- it scores at or above the *auto* threshold against at least one record of
  that identity (or matches one by qualified INS + strict traits), and
- no veto applies against *any* record of that identity, and
- no other identity also qualifies (an ambiguity goes to review).

So a link never follows a chain (A ~ B, B ~ C, therefore A ~ C) that the
scores of the incoming record itself do not justify. A qualified-INS
collision is flagged and never linked. Scores between *review* and *auto*
open a review; below *review* the record starts a new identity.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from identity.matching.compare import COMPARATORS, FIELDS, Level
from identity.matching.deterministic import InsVerdict, ins_verdict
from identity.matching.vetoes import HARD_VETOES, PairLevels, vetoes
from identity.matching.weights import Model, tf_adjustment
from identity.model import Decision, FieldScore, LocalRecord, Outcome, PairResult

EXACT = 4
TF_FIELDS = {"birth_name": 0, "given_name": 1}
_FIELD = {name: i for i, name in enumerate(FIELDS)}


class TermFrequencies(Protocol):
    """Relative frequency of a name in the stored population (None: unknown)."""

    def frequency(self, field: str, value: str) -> float | None:
        """Frequency of ``value`` for ``field`` (``birth_name`` or ``given_name``)."""
        ...


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Score bands in bits: ``>= auto`` link, ``>= review`` review, else new."""

    auto: float = 22.0
    review: float = 10.0

    def __post_init__(self) -> None:
        if self.review > self.auto:
            raise ValueError(f"review threshold {self.review} is above auto {self.auto}")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stored record and the regional identity it is linked to."""

    record: LocalRecord
    identity_id: str


class Scorer:
    """Scores pairs with a Fellegi-Sunter model and decides with thresholds."""

    def __init__(self, model: Model, thresholds: Thresholds | None = None,
                 frequencies: TermFrequencies | None = None) -> None:
        self.model = model
        self.thresholds = thresholds or Thresholds()
        self.frequencies = frequencies
        table = model.weight_table()
        self._weights = tuple(table[name] for name in FIELDS)

    def _tf(self, incoming: LocalRecord, field: str, level: Level) -> float:
        if level != EXACT or self.frequencies is None:
            return 0.0
        n = incoming.normalized
        value = n.birth_name.compact if field == "birth_name" else n.given.first
        return tf_adjustment(self.model, field, EXACT, self.frequencies.frequency(field, value))

    def field_scores(self, incoming: LocalRecord, stored: LocalRecord) -> tuple[FieldScore, ...]:
        """Level and weight of every field (weight 0 when missing)."""
        a, b = incoming.normalized, stored.normalized
        scores = []
        for (name, comparator, _), weights in zip(COMPARATORS, self._weights, strict=True):
            level = comparator(a, b)
            weight = 0.0 if level is None else weights[level]
            if name in TF_FIELDS:
                weight += self._tf(incoming, name, level)
            scores.append(FieldScore(name, level, weight))
        return tuple(scores)

    def score(self, incoming: LocalRecord, candidate: Candidate) -> PairResult:
        """Compare the incoming record with one candidate: tiers, vetoes, score."""
        stored = candidate.record
        fields = self.field_scores(incoming, stored)
        found = vetoes(incoming, stored, PairLevels(
            given=fields[_FIELD["given_name"]].level, sex=fields[_FIELD["sex"]].level,
            name=fields[_FIELD["birth_name"]].level,
            birth_date=fields[_FIELD["birth_date"]].level))
        total = sum(f.weight for f in fields)
        verdict = ins_verdict(incoming, stored)
        rule = verdict.value if verdict is not None else "probabilistic"
        return PairResult(stored.key, candidate.identity_id, total, fields,
                          tuple(v.value for v in found), rule,
                          collision=verdict is InsVerdict.COLLISION)

    def decide(self, incoming: LocalRecord, candidates: Sequence[Candidate]) -> Decision:
        """Decide for ``incoming`` given its candidates (see the module docstring)."""
        pairs = sorted((self.score(incoming, c) for c in candidates if c.record.key
                        != incoming.key), key=lambda p: -p.score)
        return _decide(pairs, self.thresholds)


def _by_identity(pairs: Sequence[PairResult]) -> dict[str, list[PairResult]]:
    grouped: dict[str, list[PairResult]] = defaultdict(list)
    for pair in pairs:
        grouped[pair.identity_id].append(pair)
    return grouped


def _identity_band(group: Sequence[PairResult], t: Thresholds) -> tuple[str, float, str]:
    """(band, best score, rule) of one identity: auto, review, or none."""
    best = max(group, key=lambda p: p.score)
    all_vetoes = {v for p in group for v in p.vetoes}
    if all_vetoes & {v.value for v in HARD_VETOES}:
        return "none", best.score, "veto"
    certain = [p for p in group if p.rule == InsVerdict.MATCH.value]
    if certain:
        return ("review" if all_vetoes else "auto"), best.score, InsVerdict.MATCH.value
    if best.score >= t.auto and not all_vetoes:
        return "auto", best.score, "probabilistic"
    if best.score >= t.review:
        return "review", best.score, "probabilistic"
    return "none", best.score, "probabilistic"


def _decide(pairs: Sequence[PairResult], t: Thresholds) -> Decision:
    collided = sorted({p.identity_id for p in pairs if p.collision})
    if collided:
        return Decision(Outcome.COLLISION, None, None, InsVerdict.COLLISION.value,
                        tuple(pairs), tuple(collided))
    bands = {identity: _identity_band(group, t)
             for identity, group in _by_identity(pairs).items()}
    auto = [(score, identity, rule) for identity, (band, score, rule) in bands.items()
            if band == "auto"]
    review = [identity for identity, (band, _, _) in bands.items() if band == "review"]
    if len(auto) == 1:
        # other identities in the review band are reported: a possible duplicate
        # regional identity for a person to look at, not a reason to hold the link
        score, identity, rule = auto[0]
        return Decision(Outcome.LINK, identity, score, rule, tuple(pairs), tuple(sorted(review)))
    if auto or review:
        ids = tuple(sorted({identity for _, identity, _ in auto} | set(review)))
        best = max(bands[i][1] for i in ids)
        return Decision(Outcome.REVIEW, None, best, "ambiguous" if len(auto) > 1 else
                        "probabilistic", tuple(pairs), ids)
    best_score = pairs[0].score if pairs else None
    return Decision(Outcome.NEW, None, best_score, "no-candidate-above-review", tuple(pairs))


def decide(incoming: LocalRecord, candidates: Sequence[Candidate],
           scorer: Scorer | None = None) -> Decision:
    """Decide for ``incoming``: LINK, REVIEW, NEW or COLLISION (default model if none)."""
    from identity.matching.defaults import default_scorer

    return (scorer or default_scorer()).decide(incoming, candidates)
