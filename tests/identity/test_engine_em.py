"""EM convergence, the in-memory index, bulk linking and the event log."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from identity.engine import InMemoryIndex, Linker, estimate_model
from identity.matching.blocking import blocking_keys
from identity.matching.compare import FIELDS, LEVEL_COUNTS
from identity.matching.decide import Scorer, Thresholds
from identity.matching.defaults import default_model
from identity.matching.weights import estimate_em
from identity.model import EventKind, EventLog, Outcome
from identity.synthetic import generate
from tests.identity.conftest import person


def _draw(rng: np.random.Generator, probs: list[np.ndarray], n: int) -> np.ndarray:
    return np.stack([rng.choice(len(p), size=n, p=p) for p in probs], axis=1)


def test_em_recovers_known_m_and_u() -> None:
    rng = np.random.default_rng(7)
    m = [np.linspace(0.05, 1.0, n) ** 4 for n in LEVEL_COUNTS]
    u = [np.linspace(1.0, 0.05, n) ** 4 for n in LEVEL_COUNTS]
    m, u = [x / x.sum() for x in m], [x / x.sum() for x in u]
    matrix = np.concatenate([_draw(rng, m, 3000), _draw(rng, u, 7000)]).astype(np.int8)
    model = estimate_em(matrix)
    assert model.iterations < 200  # converged before the cap
    assert model.match_proportion == pytest.approx(0.3, abs=0.02)
    for j, name in enumerate(FIELDS):
        assert np.allclose(model.fields[name].m, m[j], atol=0.03), name
        assert np.allclose(model.fields[name].u, u[j], atol=0.03), name


def test_em_on_a_small_generated_population() -> None:
    records = [s.record for s in generate(persons=1500, seed=3, collisions=2).records]
    index = InMemoryIndex()
    for n, record in enumerate(records):
        index.add(record, f"S{n}")
    model = estimate_model(records, index, records, sample_pairs=20_000)
    weights = model.weight_table()
    assert 0 < model.match_proportion < 1
    assert weights["birth_date"][4] > 8 and weights["birth_date"][0] < -3
    assert weights["birth_name"][4] > 6 and weights["given_name"][0] < 0
    for name in FIELDS:  # weights never decrease with the agreement level
        assert list(weights[name]) == sorted(weights[name])


def test_blocking_keys_include_the_swap_key_shared_by_swapped_dates() -> None:
    a, b = person(ipp="1"), person(ipp="2", birth_date="19801403")
    shared = set(blocking_keys(a)) & set(blocking_keys(b))
    assert "w:19800314" in shared


def test_index_finds_candidates_and_counts_names() -> None:
    index = InMemoryIndex()
    index.add(person(ipp="1"), "R1")
    index.add(person(ipp="2", birth_name="DURAND", given_names=("LUC",),
                     birth_date="19700101", birthplace="33063", postcode="33000"), "R2")
    found = index.candidates(person(ipp="3", birth_date="19800315"))
    assert [c.identity_id for c in found] == ["R1"]
    assert index.frequency("birth_name", "MARTIN") == pytest.approx(2 / 3)
    index.remove(("1.2.250.1.999.1", "1"))
    assert index.candidates(person(ipp="3")) == []


def test_bulk_linking_groups_records_of_one_person() -> None:
    index = InMemoryIndex()
    linker = Linker(Scorer(default_model(), Thresholds()), index)
    first = linker.link(person("A", "1"))
    second = linker.link(person("B", "7", given_names=("Jean Pierre",)))
    other = linker.link(person("B", "8", birth_name="LEROY", given_names=("ANNE",),
                               birth_date="19620505", birthplace="59350"))
    assert second.decision.outcome is Outcome.LINK
    assert second.identity_id == first.identity_id
    assert other.identity_id != first.identity_id
    assert len(index) == 3


def test_event_log_is_append_only() -> None:
    log = EventLog()
    now = datetime(2024, 5, 1, tzinfo=UTC)
    first = log.append(now, EventKind.RECORD_CREATED, ("A", "1"), None)
    second = log.append(now, EventKind.LINKED, ("A", "1"), "R1", "auto 31.2")
    assert [e.seq for e in log] == [1, 2]
    assert list(log) == [first, second]
    with pytest.raises(AttributeError):
        first.seq = 5  # type: ignore[misc]
    assert not hasattr(log, "remove")
