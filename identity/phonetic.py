"""Phonetic keys for French names, and the measurement that chose one.

Three candidates are kept so the choice can be measured again
(:func:`measure_keys`, run by the tests):

- :func:`soundex_en`: the classic American Soundex (first letter + 3 digits),
  the reference point;
- :func:`soundex_fr`: a French Soundex variant (codes regrouped for French:
  ``B P``, ``C K Q``, ``D T``, ``L``, ``M N``, ``R``, ``G J``, ``S X Z``,
  ``F V``; first letter kept, 4 characters);
- :func:`phonetic_fr`: a simplified French phonetic key written for the hub:
  rewrite rules for French spelling (``PH``, ``CH``, soft ``C``/``G``,
  ``QU``, ``EAU``/``AU``, ``AI``/``EI``, nasal vowels, silent final letters
  and ``H``, double letters), keeping the vowel sounds and not truncating.

Measured on the pairs of :mod:`identity.phonetic_pairs` (real spelling
variants of French surnames and given names seen in registers, and the
distinct names of the synthetic generator's frequency tables):

======================  ===============  =======================
key                     variants agreed  distinct pairs colliding
======================  ===============  =======================
soundex_en              75.4 %           0.147 %
soundex_fr              64.8 %           0.125 %
phonetic_fr             90.2 %           0.030 %
======================  ===============  =======================

``phonetic_fr`` is the hub's key (see :mod:`identity.normalize`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

PhoneticKey = Callable[[str], str]

_EN_CODES = {**dict.fromkeys("BFPV", "1"), **dict.fromkeys("CGJKQSXZ", "2"),
             **dict.fromkeys("DT", "3"), "L": "4", "M": "5", "N": "5", "R": "6"}
_FR_CODES = {**dict.fromkeys("BP", "1"), **dict.fromkeys("CKQ", "2"),
             **dict.fromkeys("DT", "3"), "L": "4", **dict.fromkeys("MN", "5"), "R": "6",
             **dict.fromkeys("GJ", "7"), **dict.fromkeys("SXZ", "8"),
             **dict.fromkeys("FV", "9")}


def _letters(name: str) -> str:
    return "".join(ch for ch in name.upper() if "A" <= ch <= "Z")


def _soundex(name: str, codes: dict[str, str]) -> str:
    letters = _letters(name)
    if not letters:
        return ""
    out = [letters[0]]
    previous = codes.get(letters[0], "")
    for ch in letters[1:]:
        code = codes.get(ch, "")
        if code and code != previous:
            out.append(code)
        # H and W do not separate two equal codes; vowels do (Soundex rule)
        if ch not in "HW":
            previous = code
    return ("".join(out) + "000")[:4]


def soundex_en(name: str) -> str:
    """American Soundex of an upper-case name (reference candidate)."""
    return _soundex(name, _EN_CODES)


def soundex_fr(name: str) -> str:
    """French Soundex variant: French letter groups, first letter kept, 4 characters."""
    return _soundex(name, _FR_CODES)


# Ordered rewrite rules of the French key. Digits stand for sounds that have
# no single letter: 1 = "an/en", 2 = "in/ain/un", 3 = "on", 4 = "ou", 5 = "ch".
_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), repl) for pattern, repl in (
        (r"[^A-Z]", ""),
        (r"^DES(?=[^AEIOU])", "DE"),
        (r"^CH(?=[RL])", "K"),
        (r"SCH|SH|CH", "5"),
        (r"PH", "F"),
        (r"TH", "T"),
        (r"DT", "T"),
        (r"BV", "V"),
        (r"GE(?=[AOU])", "J"),
        (r"G(?=[EIY])", "J"),
        (r"GU(?=[EIY])", "G"),
        (r"GN", "N"),
        (r"C(?=[EIY])", "S"),
        (r"CK|QU|Q|C", "K"),
        (r"X$", ""),
        (r"X", "KS"),
        (r"W", "V"),
        (r"Y", "I"),
        (r"Z", "S"),
        (r"H", ""),
        (r"([A-Z])\1+", r"\1"),
        (r"AUL(?=[TD]|$)", "O"),
        (r"EAU|AU", "O"),
        (r"OU", "4"),
        (r"(?:AIN|EIN)(?=[^AEIOU]|$)", "2"),
        (r"AI|EI", "E"),
        (r"IEN(?=[^AEIOU]|$)", "I2"),
        (r"(?:AN|AM|EN|EM)(?=[^AEIOU]|$)", "1"),
        (r"(?:IN|IM|UN|UM)(?=[^AEIOU]|$)", "2"),
        (r"(?:ON|OM)(?=[^AEIOU]|$)", "3"),
        (r"(?<=.)[SX]$", ""),
        (r"IER$", "IE"),
        (r"(?<=[AEIOU1-4]5)ER$", "E"),
        (r"(?<=.)(?:EZ|ET)$", "E"),
        (r"(?<=[^AEIOU1-4])E$", ""),
        (r"(?<=[AEIOU1-4R])[TDP]$", ""),
        (r"([A-Z1-5])\1+", r"\1"),
    )
)


@lru_cache(maxsize=65536)
def phonetic_fr(name: str) -> str:
    """Simplified French phonetic key (the hub's choice, see the module docstring)."""
    key = name.upper()
    for pattern, repl in _RULES:
        key = pattern.sub(repl, key)
    return key


@dataclass(frozen=True, slots=True)
class KeyMeasure:
    """How one key does on the measurement pairs."""

    name: str
    variants_agreed: float
    distinct_colliding: float


def _distinct_pairs(groups: Sequence[Sequence[str]]) -> Iterable[tuple[str, str]]:
    firsts = [group[0] for group in groups]
    for i, left in enumerate(firsts):
        for right in firsts[i + 1:]:
            yield left, right


def measure_key(name: str, key: PhoneticKey, variant_groups: Sequence[Sequence[str]],
                distinct_groups: Sequence[Sequence[str]]) -> KeyMeasure:
    """Share of variant pairs with equal keys, share of distinct names colliding."""
    variant_pairs = [(g[0], other) for g in variant_groups for other in g[1:]]
    agreed = sum(key(a) == key(b) for a, b in variant_pairs)
    distinct = list(_distinct_pairs(distinct_groups))
    colliding = sum(key(a) == key(b) for a, b in distinct)
    return KeyMeasure(name, agreed / len(variant_pairs), colliding / len(distinct))


def measure_keys() -> list[KeyMeasure]:
    """Measure every candidate key on the pairs of :mod:`identity.phonetic_pairs`."""
    from identity.phonetic_pairs import DISTINCT_NAMES, VARIANT_GROUPS

    distinct = [[name] for name in DISTINCT_NAMES]
    candidates: list[tuple[str, PhoneticKey]] = [
        ("soundex_en", soundex_en), ("soundex_fr", soundex_fr), ("phonetic_fr", phonetic_fr)]
    return [measure_key(name, key, VARIANT_GROUPS, distinct) for name, key in candidates]
