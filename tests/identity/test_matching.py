"""Vetoes, the deterministic INS tier, the bands and the no-chaining rule."""

from __future__ import annotations

import pytest

from identity.matching.decide import Candidate, Scorer, Thresholds, decide
from identity.matching.defaults import default_model, default_scorer
from identity.matching.vetoes import Veto
from identity.model import Attribute, LocalRecord, Outcome, Sex, Status
from tests.identity.conftest import INS_A, INS_B, person


def _vetoes(a: LocalRecord, b: LocalRecord) -> tuple[str, ...]:
    return default_scorer().score(a, Candidate(b, "R1")).vetoes


def _decide(incoming: LocalRecord, *stored: tuple[LocalRecord, str]) -> Outcome:
    return decide(incoming, [Candidate(r, i) for r, i in stored]).outcome


# -- vetoes: one test each ----------------------------------------------------

def test_twins_veto_same_birth_date_place_and_name_other_given_name() -> None:
    a = person(ipp="1")
    twin = person(ipp="2", given_names=("LUCAS",))
    assert Veto.TWINS in _vetoes(a, twin)
    assert _decide(a, (twin, "R1")) is not Outcome.LINK


def test_twins_veto_needs_the_same_birthplace() -> None:
    a = person(ipp="1")
    other = person(ipp="2", given_names=("LUCAS",), birthplace="69381")
    assert Veto.TWINS not in _vetoes(a, other)


def test_ins_conflict_veto_and_never_linked() -> None:
    a = person(ipp="1", status=Status.QUAL, ins=INS_A)
    b = person(ipp="2", status=Status.QUAL, ins=INS_B)
    assert Veto.INS_CONFLICT in _vetoes(a, b)
    assert _decide(a, (b, "R1")) is Outcome.NEW


def test_fictitious_veto() -> None:
    a = person(ipp="1")
    b = person(ipp="2", attributes=frozenset({Attribute.FICT}))
    assert Veto.FICTITIOUS in _vetoes(a, b)
    assert _decide(a, (b, "R1")) is Outcome.REVIEW


def test_doubtful_veto() -> None:
    a = person(ipp="1", attributes=frozenset({Attribute.DOUT}))
    b = person(ipp="2")
    assert Veto.DOUBTFUL in _vetoes(a, b)
    assert _decide(a, (b, "R1")) is Outcome.REVIEW


def test_sex_and_given_name_veto() -> None:
    a = person(ipp="1", birthplace=None)
    b = person(ipp="2", birthplace=None, sex=Sex.FEMALE, given_names=("SOPHIE",))
    assert Veto.SEX_AND_GIVEN_NAME in _vetoes(a, b)
    assert _decide(a, (b, "R1")) is Outcome.NEW


def test_no_veto_on_a_plain_duplicate() -> None:
    assert _vetoes(person(ipp="1"), person(ipp="2", given_names=("Jean Pierre",))) == ()


# -- deterministic tier -------------------------------------------------------

def test_same_qualified_ins_and_strict_traits_links() -> None:
    a = person(ipp="1", status=Status.QUAL, ins=INS_A, postcode=None)
    b = person(ipp="2", status=Status.QUAL, ins=INS_A, postcode="13001")
    decision = decide(a, [Candidate(b, "R1")])
    assert decision.outcome is Outcome.LINK
    assert decision.identity_id == "R1"
    assert decision.rule == "ins-strict-traits"


def test_same_ins_different_strict_traits_is_a_collision() -> None:
    a = person(ipp="1", status=Status.QUAL, ins=INS_A)
    b = person(ipp="2", status=Status.QUAL, ins=INS_A, birth_date="19800315")
    decision = decide(a, [Candidate(b, "R1")])
    assert decision.outcome is Outcome.COLLISION
    assert decision.identity_id is None
    assert decision.review_identities == ("R1",)


def test_collision_is_flagged_even_beside_an_auto_match() -> None:
    a = person(ipp="1", status=Status.QUAL, ins=INS_A)
    same = person(ipp="2")
    clash = person(ipp="3", status=Status.QUAL, ins=INS_A, birth_name="DURAND")
    assert _decide(a, (same, "R1"), (clash, "R2")) is Outcome.COLLISION


def test_ins_of_an_unqualified_record_is_not_trusted() -> None:
    a = person(ipp="1", status=Status.QUAL, ins=INS_A)
    b = person(ipp="2", status=Status.RECUP, ins=INS_A, birth_name="DURAND",
               given_names=("LUC",), birth_date="19700101", postcode=None)
    assert _decide(a, (b, "R1")) is Outcome.NEW


def test_two_different_qualified_ins_never_link_even_with_equal_traits() -> None:
    a = person(ipp="1", status=Status.QUAL, ins=INS_A)
    b = person(ipp="2", status=Status.QUAL, ins=INS_B)
    decision = decide(a, [Candidate(b, "R1")])
    assert decision.outcome is Outcome.NEW
    assert decision.pairs[0].score > default_scorer().thresholds.auto


# -- bands --------------------------------------------------------------------

@pytest.fixture
def pair() -> tuple[LocalRecord, LocalRecord, float]:
    a = person(ipp="1")
    b = person(ipp="2", birth_name="MARTAIN", postcode=None)
    return a, b, default_scorer().score(a, Candidate(b, "R1")).score


@pytest.mark.parametrize(("auto", "review", "expected"), [
    (-1.0, -10.0, Outcome.LINK), (1.0, -1.0, Outcome.REVIEW), (10.0, 1.0, Outcome.NEW),
], ids=["auto", "review", "new"])
def test_bands(pair: tuple[LocalRecord, LocalRecord, float], auto: float, review: float,
               expected: Outcome) -> None:
    a, b, score = pair
    scorer = Scorer(default_model(), Thresholds(auto=score + auto, review=score + review))
    assert scorer.decide(a, [Candidate(b, "R1")]).outcome is expected


def test_thresholds_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="above auto"):
        Thresholds(auto=5, review=10)


def test_default_bands_on_clear_cases() -> None:
    a = person(ipp="1")
    assert _decide(a, (person(ipp="2", given_names=("Jean Pierre",)), "R1")) is Outcome.LINK
    stranger = person(ipp="3", birth_name="LEROY", given_names=("CLAIRE",), sex=Sex.FEMALE,
                      birth_date="19550101", birthplace="33063", postcode="33000")
    assert _decide(a, (stranger, "R2")) is Outcome.NEW
    assert _decide(a) is Outcome.NEW


# -- no transitive chaining ---------------------------------------------------

def test_links_only_to_the_identity_it_scores_auto_against() -> None:
    incoming = person(ipp="1")
    strong = person(ipp="2")
    # r_weak resembles `strong` but not the incoming record enough for a link
    weak = person(ipp="3", birth_name="MARTINEAU", birth_date="19810314", postcode=None,
                  birthplace=None)
    decision = decide(incoming, [Candidate(strong, "R2"), Candidate(weak, "R1")])
    assert decision.outcome is Outcome.LINK
    assert decision.identity_id == "R2"
    # R1 is only reported for a person to look at, never linked through R2
    assert decision.review_identities == ("R1",)


def test_a_veto_against_any_record_of_the_identity_blocks_the_link() -> None:
    incoming = person(ipp="1")
    same = person(ipp="2")
    twin_in_same_identity = person(ipp="3", given_names=("LUCAS",))
    decision = decide(incoming, [Candidate(same, "R1"), Candidate(twin_in_same_identity, "R1")])
    assert decision.outcome is Outcome.REVIEW
    assert decision.identity_id is None


def test_two_identities_at_auto_go_to_review_not_both() -> None:
    incoming = person(ipp="1")
    decision = decide(incoming, [Candidate(person(ipp="2"), "R1"),
                                 Candidate(person(ipp="3"), "R2")])
    assert decision.outcome is Outcome.REVIEW
    assert decision.review_identities == ("R1", "R2")


def test_brother_and_sister_with_similar_given_names_are_vetoed() -> None:
    a = person(ipp="1", given_names=("CHRISTIAN",), birthplace=None)
    b = person(ipp="2", given_names=("CHRISTINE",), sex=Sex.FEMALE, birthplace=None)
    assert Veto.SEX_AND_GIVEN_NAME in _vetoes(a, b)


def test_given_and_birth_name_veto_for_relatives_by_marriage() -> None:
    a = person(ipp="1", birth_name="DUPONT", used_name="MARTIN", given_names=("CLAIRE",),
               sex=Sex.FEMALE)
    b = person(ipp="2", given_names=("SOPHIE",), sex=Sex.FEMALE, birth_date="19800315")
    assert Veto.GIVEN_AND_BIRTH_NAME in _vetoes(a, b)
    assert _decide(a, (b, "R1")) is not Outcome.LINK


def test_a_nia_and_a_nir_of_the_same_traits_are_no_conflict() -> None:
    """A NIA is replaced by the NIR once known: two establishments may hold one each."""
    from dataclasses import replace

    from identity.ins import NIA_OID, Ins

    a = person(ipp="1", status=Status.QUAL, ins=INS_A)
    b = replace(person(ipp="2", status=Status.QUAL), ins=Ins(INS_B, NIA_OID))
    assert Veto.INS_CONFLICT not in _vetoes(a, b)
    decision = decide(a, [Candidate(b, "R1")])
    assert decision.outcome is Outcome.LINK, decision
    assert decision.rule == "probabilistic"
