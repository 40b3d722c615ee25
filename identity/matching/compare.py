"""Comparison vectors: each field of two records reduced to an agreement level.

Levels are small integers, higher meaning closer agreement; ``None`` means
the field is missing on one side, which weighs nothing (neither for nor
against), so data sets without sex or birthplace are handled alike.
String similarity is Jaro-Winkler (rapidfuzz), suited to short names with
typing errors; codes (dates, postcodes, identifiers) are compared digit by
digit, because their errors are substitutions and swaps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from rapidfuzz.distance import JaroWinkler, Levenshtein

from identity.model import Normalized, Sex

Level = int | None
Comparator = Callable[[Normalized, Normalized], Level]

NAME_HIGH: Final = 0.94
NAME_LOW: Final = 0.88


def _jw(a: str, b: str) -> float:
    return float(JaroWinkler.normalized_similarity(a, b))


def _hamming(a: str, b: str) -> int:
    if len(a) != len(b):
        return max(len(a), len(b))
    return sum(x != y for x, y in zip(a, b, strict=True))


def birth_name(a: Normalized, b: Normalized) -> Level:
    """4 equal, 3 equal but for particles or JW >= .94, 2 close or same phonetic key,
    1 a birth name equals the other's used name (married name recorded as birth name),
    0 different."""
    x, y = a.birth_name, b.birth_name
    if not x.compact or not y.compact:
        return None
    if x.compact == y.compact:
        return 4
    jw = _jw(x.compact, y.compact)
    if x.core == y.core or jw >= NAME_HIGH:
        return 3
    if jw >= NAME_LOW or a.birth_name_phonetic == b.birth_name_phonetic:
        return 2
    if (a.used_name.compact and a.used_name.core in y.variants) or (
            b.used_name.compact and b.used_name.core in x.variants):
        return 1
    return 0


def given_name(a: Normalized, b: Normalized) -> Level:
    """4 same first given name, 3 JW >= .94, 2 close or same phonetic key,
    1 one's first given name is in the other's birth list or is its first word
    (JEAN and JEAN-PIERRE), 0 different."""
    x, y = a.given.first, b.given.first
    if not x or not y:
        return None
    if x == y:
        return 4
    jw = _jw(x, y)
    if jw >= NAME_HIGH:
        return 3
    if jw >= NAME_LOW or a.given_phonetic == b.given_phonetic:
        return 2
    if x in b.given.items or y in a.given.items or a.given.first_word == b.given.first_word:
        return 1
    return 0


def birth_date(a: Normalized, b: Normalized) -> Level:
    """4 equal, 3 day and month swapped, 2 one digit wrong or two adjacent digits
    swapped, 1 two digits wrong, 0 else."""
    x, y = a.birth_date, b.birth_date
    if not x or not y:
        return None
    if x == y:
        return 4
    if x[:4] == y[:4] and x[4:6] == y[6:8] and x[6:8] == y[4:6]:
        return 3
    distance = _hamming(x, y)
    if distance == 1 or _adjacent_swap(x, y):
        return 2
    return 1 if distance == 2 else 0


def _adjacent_swap(x: str, y: str) -> bool:
    diffs = [i for i, (p, q) in enumerate(zip(x, y, strict=False)) if p != q]
    return (len(diffs) == 2 and diffs[1] == diffs[0] + 1
            and x[diffs[0]] == y[diffs[1]] and x[diffs[1]] == y[diffs[0]])


def sex(a: Normalized, b: Normalized) -> Level:
    """1 same, 0 different; unknown or other on either side is missing."""
    if a.sex not in (Sex.MALE, Sex.FEMALE) or b.sex not in (Sex.MALE, Sex.FEMALE):
        return None
    return int(a.sex == b.sex)


def birthplace(a: Normalized, b: Normalized) -> Level:
    """1 same INSEE code, 0 different."""
    if not a.birthplace or not b.birthplace:
        return None
    return int(a.birthplace == b.birthplace)


def postcode(a: Normalized, b: Normalized) -> Level:
    """2 equal, 1 one character wrong, 0 else."""
    if not a.postcode or not b.postcode:
        return None
    if a.postcode == b.postcode:
        return 2
    return 1 if _hamming(a.postcode, b.postcode) == 1 else 0


def city(a: Normalized, b: Normalized) -> Level:
    """2 JW >= .95, 1 JW >= .85, 0 else."""
    if not a.city or not b.city:
        return None
    jw = _jw(a.city, b.city)
    return 2 if jw >= 0.95 else 1 if jw >= 0.85 else 0


def address(a: Normalized, b: Normalized) -> Level:
    """3 equal, 2 JW >= .92, 1 JW >= .80, 0 else."""
    if not a.address or not b.address:
        return None
    if a.address == b.address:
        return 3
    jw = _jw(a.address, b.address)
    return 2 if jw >= 0.92 else 1 if jw >= 0.80 else 0


def national_id(a: Normalized, b: Normalized) -> Level:
    """2 equal, 1 one edit apart, 0 else (an unverified identifier: evidence, not proof)."""
    if not a.national_id or not b.national_id:
        return None
    if a.national_id == b.national_id:
        return 2
    return 1 if Levenshtein.distance(a.national_id, b.national_id, score_cutoff=1) <= 1 else 0


COMPARATORS: Final[tuple[tuple[str, Comparator, int], ...]] = (
    ("birth_name", birth_name, 5),
    ("given_name", given_name, 5),
    ("birth_date", birth_date, 5),
    ("sex", sex, 2),
    ("birthplace", birthplace, 2),
    ("postcode", postcode, 3),
    ("city", city, 3),
    ("address", address, 4),
    ("national_id", national_id, 3),
)
"""(field, comparator, number of levels), in vector order."""

FIELDS: Final[tuple[str, ...]] = tuple(name for name, _, _ in COMPARATORS)
LEVEL_COUNTS: Final[tuple[int, ...]] = tuple(count for _, _, count in COMPARATORS)


def compare(a: Normalized, b: Normalized) -> tuple[Level, ...]:
    """The comparison vector of two records, in :data:`FIELDS` order."""
    return tuple(comparator(a, b) for _, comparator, _ in COMPARATORS)
