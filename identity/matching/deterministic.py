"""The deterministic tier: qualified INS plus the five strict traits.

An INS is trusted only when both records are qualified (RNIV status QUAL:
PID-32 ``VALI`` with the INS in PID-3 typed ``INS``). Then:

- same INS and the five strict traits equal (birth name, first birth given
  name, birth date, sex, INSEE birthplace): a certain link;
- same INS, strict traits differ: a collision (one INS for two people, or a
  wrong qualification) for a person to review, never linked;
- different INS: two people (the ``ins-conflict`` veto).

Anything else (one side not qualified) goes to the probabilistic tier.
"""

from __future__ import annotations

from enum import StrEnum

from identity.model import LocalRecord, Normalized, Sex


class InsVerdict(StrEnum):
    """Result of the deterministic tier for a pair."""

    MATCH = "ins-strict-traits"
    COLLISION = "ins-collision"
    DIFFERENT = "ins-different"


def strict_traits(n: Normalized) -> tuple[str, str, str | None, str, str | None]:
    """The five strict traits in canonical form."""
    return (n.birth_name.compact, n.given.first, n.birth_date, n.sex.value, n.birthplace)


def differing_strict_traits(a: Normalized, b: Normalized) -> tuple[str, ...]:
    """Names of the strict traits that differ (for the collision's explanation)."""
    names = ("birth_name", "first_given_name", "birth_date", "sex", "birthplace")
    return tuple(name for name, x, y in zip(names, strict_traits(a), strict_traits(b),
                                            strict=True) if x != y)


def known_strict_differences(a: Normalized, b: Normalized) -> tuple[str, ...]:
    """Names of the strict traits known on both sides that differ.

    A trait missing on one side (no birthplace, sex unknown) is no difference:
    it is unknown, and the other traits decide.
    """
    names = ("birth_name", "first_given_name", "birth_date", "sex", "birthplace")
    unknown = ("", None, Sex.UNKNOWN.value, Sex.OTHER.value)
    return tuple(name for name, x, y in zip(names, strict_traits(a), strict_traits(b),
                                            strict=True)
                 if x not in unknown and y not in unknown and x != y)


def ins_verdict(a: LocalRecord, b: LocalRecord) -> InsVerdict | None:
    """The deterministic verdict, or None when the pair needs the probabilistic tier."""
    if not (a.qualified and b.qualified) or a.ins is None or b.ins is None:
        return None
    if a.ins.kind != b.ins.kind:
        # A NIA is the temporary matricule of a person whose NIR is not known yet:
        # an establishment holding the NIA and another (or a later A47) holding the
        # NIR is no conflict; the traits decide, in the probabilistic tier.
        return None
    if a.ins.value != b.ins.value:
        return InsVerdict.DIFFERENT
    if differing_strict_traits(a.normalized, b.normalized):
        return InsVerdict.COLLISION
    return InsVerdict.MATCH
