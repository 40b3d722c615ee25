"""Validated identities (RNIV VALI or QUAL) that differ on strict traits.

Strict traits checked on an identity document are not typing errors: between
two validated identities, any differing strict trait stops the automatic link
(review at most), whatever the score. Unverified records (PROV, RECUP) keep
the probabilistic reading of the same differences.
"""

from __future__ import annotations

from typing import Any

import pytest

from identity.ins import NIA_OID, NIR_OID, Ins
from identity.matching.decide import Candidate, Scorer
from identity.matching.defaults import default_model, default_scorer
from identity.matching.vetoes import Veto
from identity.model import LocalRecord, Outcome, Sex, Status, Traits, make_record
from tests.identity.conftest import INS_A, INS_B, nir, person

CLAIRE: dict[str, Any] = {
    "birth_name": "MARTIN", "given_names": ("MATHILDE",), "birth_date": "19840512",
    "sex": Sex.FEMALE, "birthplace": "63113", "postcode": None,
}
"""The traits of the issue's pair, without postcode, as the ADT feed sends them."""
OTHER_GIVEN = {"given_names": ("MATHILDA",)}
"""A first given name only one letter away (Jaro-Winkler 0.95: level 3)."""
OTHER_DATE = {"birth_date": "19841205"}
"""The birth date with day and month swapped (level 3)."""


class _OneStored:
    """Name frequencies of a store holding a single record (the issue's hub)."""

    def frequency(self, field: str, value: str) -> float | None:
        return 1.0


def _record(ipp: str, status: Status, ins: Ins | None = None, **changes: Any) -> LocalRecord:
    return make_record("1.2.250.1.999.1", ipp, Traits(**{**CLAIRE, **changes}),
                       status=status, ins=ins)


def _decide(a: LocalRecord, b: LocalRecord, scorer: Scorer | None = None) -> tuple[Outcome,
                                                                                   float]:
    decision = (scorer or default_scorer()).decide(a, [Candidate(b, "R1")])
    assert decision.pairs
    return decision.outcome, decision.pairs[0].score


def test_the_issue_pair_scores_above_auto_but_goes_to_review() -> None:
    # Two validated identities, other first given name and other birth date:
    # 26.6 bits with the term frequency of a one-record store.
    scorer = Scorer(default_model(), frequencies=_OneStored())
    a = _record("1", Status.VALI)
    b = _record("2", Status.VALI, **OTHER_GIVEN, **OTHER_DATE)
    outcome, score = _decide(a, b, scorer)
    assert score == pytest.approx(26.6, abs=0.05)
    assert score >= scorer.thresholds.auto
    assert outcome is Outcome.REVIEW
    assert Veto.VALIDATED_TRAITS_DIFFER in scorer.score(a, Candidate(b, "R1")).vetoes


@pytest.mark.parametrize("changes", [
    OTHER_GIVEN, OTHER_DATE, {"birth_name": "MARTINS"}, {"birthplace": "63114"},
    {**OTHER_GIVEN, **OTHER_DATE}, {**OTHER_DATE, "birthplace": "63114"},
], ids=["given", "date", "birth-name", "birthplace", "given+date", "date+birthplace"])
@pytest.mark.parametrize(("left", "right"), [
    (Status.VALI, Status.VALI), (Status.QUAL, Status.VALI), (Status.VALI, Status.QUAL),
])
def test_validated_identities_differing_on_strict_traits_are_never_linked(
    changes: dict[str, Any], left: Status, right: Status,
) -> None:
    a = _record("1", left, Ins(INS_A, NIR_OID) if left is Status.QUAL else None)
    b = _record("2", right, Ins(INS_B, NIR_OID) if right is Status.QUAL else None, **changes)
    outcome, _ = _decide(a, b)
    assert outcome is not Outcome.LINK


def test_two_validated_identities_with_equal_strict_traits_link() -> None:
    a = _record("1", Status.VALI)
    b = _record("2", Status.VALI, postcode="63000")
    assert _decide(a, b)[0] is Outcome.LINK


def test_a_trait_missing_on_one_side_is_no_difference() -> None:
    a = _record("1", Status.VALI)
    b = _record("2", Status.VALI, birthplace=None, sex=Sex.UNKNOWN, postcode="63000")
    assert _decide(a, b)[0] is Outcome.LINK


def test_spelling_variants_of_validated_traits_are_no_difference() -> None:
    a = _record("1", Status.VALI, given_names=("Jean-Pierre",), sex=Sex.MALE)
    b = _record("2", Status.VALI, given_names=("JEAN PIERRE", "PAUL"), sex=Sex.MALE)
    assert Veto.VALIDATED_TRAITS_DIFFER not in default_scorer().score(
        a, Candidate(b, "R1")).vetoes


@pytest.mark.parametrize("status", [Status.PROV, Status.RECUP])
def test_an_unverified_side_keeps_the_probabilistic_reading(status: Status) -> None:
    # The same two differences on an unverified record are typing errors to the model.
    a = _record("1", Status.VALI)
    b = _record("2", status, **OTHER_GIVEN, **OTHER_DATE)
    outcome, score = _decide(a, b)
    assert score >= default_scorer().thresholds.auto
    assert outcome is Outcome.LINK


def test_qualified_nia_and_nir_with_other_traits_go_to_review() -> None:
    # Different registers: no deterministic verdict, the traits decide.
    a = _record("1", Status.QUAL, Ins(nir("2840563113099"), NIA_OID))
    b = _record("2", Status.QUAL, Ins(INS_B, NIR_OID), **OTHER_DATE)
    assert _decide(a, b)[0] is Outcome.REVIEW


def test_same_qualified_ins_with_other_traits_stays_a_collision() -> None:
    a = person(ipp="1", status=Status.QUAL, ins=INS_A)
    b = person(ipp="2", status=Status.QUAL, ins=INS_A, birth_date="19801403")
    assert default_scorer().decide(a, [Candidate(b, "R1")]).outcome is Outcome.COLLISION
