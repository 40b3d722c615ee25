"""Vetoes: pairs that must never be linked automatically, whatever their score.

Each veto is a rule of identity vigilance for a known trap:

- ``twins``: same birth date, birthplace and family name, different given
  names: the classic twin pair, which scores very high on everything else;
- ``ins-conflict``: both records qualified with different INS: two people;
- ``fictitious`` / ``doubtful``: a record marked FICT or DOUT (RNIV
  attributes) is not reliable enough to be linked without a person;
- ``sex-and-given-name``: sex and given name both disagree (a given name
  that is only similar, CHRISTIAN and CHRISTINE, counts as disagreeing when
  the sexes differ: they are a brother and a sister);
- ``given-and-birth-name``: the given name differs and the birth names agree
  only through a used (married) name: relatives by marriage;
- ``validated-traits-differ``: both identities are validated (RNIV VALI or
  QUAL: strict traits checked on an identity document) and at least one
  strict trait known on both sides differs (birth name, first birth given
  name, birth date, sex, INSEE birthplace). Checked traits are not typing
  errors, so the near-agreement levels the weights reward (a day/month swap,
  a one-letter given name) are real differences here: either two people or a
  validation error, which identity vigilance resolves, not the score. One
  differing trait is enough, as in the INS tier where one differing strict
  trait makes a collision.

Hard vetoes rule a pair out (the record becomes or stays a separate
identity); soft vetoes only stop the automatic link: the pair may still be
reviewed, which is what identity vigilance wants for possible twins (a
person confirms them as homonyms, HOMA, or finds a wrong given name).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from identity.matching.compare import Level
from identity.matching.deterministic import known_strict_differences
from identity.model import Attribute, LocalRecord, Sex, Status


class Veto(StrEnum):
    """Why a pair must not be linked automatically."""

    TWINS = "twins"
    INS_CONFLICT = "ins-conflict"
    FICTITIOUS = "fictitious"
    DOUBTFUL = "doubtful"
    SEX_AND_GIVEN_NAME = "sex-and-given-name"
    GIVEN_AND_BIRTH_NAME = "given-and-birth-name"
    VALIDATED_TRAITS_DIFFER = "validated-traits-differ"


HARD_VETOES = frozenset({Veto.INS_CONFLICT, Veto.SEX_AND_GIVEN_NAME})
SOFT_VETOES = frozenset({Veto.TWINS, Veto.FICTITIOUS, Veto.DOUBTFUL,
                         Veto.GIVEN_AND_BIRTH_NAME, Veto.VALIDATED_TRAITS_DIFFER})

VALIDATED = frozenset({Status.VALI, Status.QUAL})
"""RNIV statuses whose strict traits were checked on an identity document."""
VALIDATED_DIFFERENCES_ALLOWED = 0
"""Strict traits two validated identities may differ on and still be linked
automatically: none (two or more would be two people for any reading of RNIV;
one is an identity-vigilance case as well, see ``validated-traits-differ``)."""

GIVEN_DISAGREES = 0
"""Given-name level that counts as "different given names" (see compare.given_name)."""
TWIN_GIVEN_AT_MOST = 1
"""Twins often share a second given name: a first given name found only in the
other's list (level 1) still counts as different for the twins veto."""
SAME_GIVEN = 4
"""Given-name level of the same given name (see compare.given_name)."""
USED_ONLY = 1
"""Birth-name level of an agreement through a used name only."""
CLOSE = 2
"""Level from which a birth name or birth date counts as the same (a typing error)."""


@dataclass(frozen=True, slots=True)
class PairLevels:
    """The comparison levels the vetoes look at."""

    given: Level
    sex: Level
    name: Level = None
    birth_date: Level = None


def _twins(a: LocalRecord, b: LocalRecord, levels: PairLevels) -> bool:
    x, y = a.normalized, b.normalized
    if levels.given is None or levels.given > TWIN_GIVEN_AT_MOST:
        return False
    if levels.birth_date is None or levels.birth_date < CLOSE:
        return False
    if levels.name is None or levels.name < CLOSE:
        return False
    if x.birthplace and y.birthplace:
        return x.birthplace == y.birthplace
    # Birthplace unknown on a side: twins cannot be ruled out while the sexes
    # do not differ and one is known (a French record nearly always has it).
    # With neither sex nor birthplace, as in data sets that lack both, the
    # pair is left to the weights: holding it would send every record whose
    # given name was mistyped beyond recognition to review.
    known = {s for s in (x.sex, y.sex) if s in (Sex.MALE, Sex.FEMALE)}
    return len(known) == 1


def _ins_conflict(a: LocalRecord, b: LocalRecord) -> bool:
    """Two qualified INS of the same register (NIR/NIR or NIA/NIA) that differ."""
    return (a.qualified and b.qualified and a.ins is not None and b.ins is not None
            and a.ins.kind == b.ins.kind and a.ins.value != b.ins.value)


def validated_traits_differ(a: LocalRecord, b: LocalRecord) -> bool:
    """Both records validated (VALI or QUAL) and more strict traits differ than
    :data:`VALIDATED_DIFFERENCES_ALLOWED` (RNIV: strict traits of a validated
    identity come from an identity document)."""
    if a.status not in VALIDATED or b.status not in VALIDATED:
        return False
    differing = known_strict_differences(a.normalized, b.normalized)
    return len(differing) > VALIDATED_DIFFERENCES_ALLOWED


def _has(a: LocalRecord, b: LocalRecord, attribute: Attribute) -> bool:
    return attribute in a.attributes or attribute in b.attributes


def vetoes(a: LocalRecord, b: LocalRecord, levels: PairLevels) -> tuple[Veto, ...]:
    """Every veto that applies to the pair, given its comparison levels."""
    found = []
    if _twins(a, b, levels):
        found.append(Veto.TWINS)
    if _ins_conflict(a, b):
        found.append(Veto.INS_CONFLICT)
    if _has(a, b, Attribute.FICT):
        found.append(Veto.FICTITIOUS)
    if _has(a, b, Attribute.DOUT):
        found.append(Veto.DOUBTFUL)
    if levels.sex == 0 and levels.given is not None and levels.given < SAME_GIVEN:
        found.append(Veto.SEX_AND_GIVEN_NAME)
    if levels.given == GIVEN_DISAGREES and levels.name == USED_ONLY:
        found.append(Veto.GIVEN_AND_BIRTH_NAME)
    if validated_traits_differ(a, b):
        found.append(Veto.VALIDATED_TRAITS_DIFFER)
    return tuple(found)
