"""PDQm (IHE ITI-78) search criteria as FHIR R4 search defines them, without I/O.

- string parameters (``family``, ``given``): FHIR R4 3.1.1.5.11 (search,
  ``string``): a field matches when it equals or starts with the value, both
  compared case- and accent-insensitively; here both are also compared
  without spaces, hyphens and apostrophes (:func:`identity.normalize.name_forms`).
  ``family`` is tried on every family name (birth name, used name, with and
  without particles), ``given`` on every given name (the birth list and the
  used given name). A comma separates values of which one must match (OR).
- ``birthdate``: FHIR R4 3.1.1.5.2 (search, ``date``) with the prefixes
  ``eq ne gt lt ge le sa eb ap`` and a precision of year, month or day: the
  value is the range it covers (``1984`` is the whole year) and a birth date,
  one day, is compared with that range.

Name search rows (:func:`search_keys`) sit beside the blocking keys in the
store, so a prefix is one index range on ``identity_blocks``.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from identity.model import LocalRecord
from identity.normalize import name_forms, normalize_given_names

FAMILY, GIVEN = "t:f:", "t:g:"
"""Prefixes of the name search rows (family names, given names)."""
KEY_LENGTH = 120
"""Longest name kept in a search row (``identity_blocks.block`` holds 128)."""
DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_DATE = re.compile(r"^(?P<prefix>[a-z]{2})?(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2}))?)?$")


def family_names(record: LocalRecord) -> set[str]:
    """Every family name of a record in search form (birth and used, with and
    without particles)."""
    n = record.normalized
    return {v[:KEY_LENGTH] for v in (n.birth_name.compact, n.birth_name.core,
                                     n.used_name.compact, n.used_name.core) if v}


def given_names(record: LocalRecord) -> set[str]:
    """Every given name of a record in search form (birth list and used given name)."""
    used = normalize_given_names((record.traits.used_given_name,)
                                 if record.traits.used_given_name else ()).items
    return {v[:KEY_LENGTH] for v in (*record.normalized.given.items, *used) if v}


def search_keys(record: LocalRecord) -> list[str]:
    """The name search rows of a record (stored with its blocking keys)."""
    return sorted({FAMILY + v for v in family_names(record)}
                  | {GIVEN + v for v in given_names(record)})


def family_prefix(value: str) -> str:
    """A ``family`` value in search form (``"de la Font"`` -> ``DELAFONT``)."""
    return name_forms(value).compact[:KEY_LENGTH]


def given_prefix(value: str) -> str:
    """A ``given`` value in search form (``"Jean-Pi"`` -> ``JEANPI``)."""
    return normalize_given_names((value,)).first[:KEY_LENGTH]


def starts_any(prefixes: Iterable[str], names: Iterable[str]) -> bool:
    """FHIR string search: one of the names starts with one of the prefixes."""
    wanted = tuple(prefixes)
    return any(name.startswith(wanted) for name in names)


@dataclass(frozen=True, slots=True)
class DateCriterion:
    """A ``birthdate`` value: its prefix and the days it covers."""

    prefix: str
    low: date
    high: date

    @property
    def exact_day(self) -> str | None:
        """``YYYYMMDD`` when the criterion is one day with ``eq`` (a blocking key)."""
        if self.prefix == "eq" and self.low == self.high:
            return self.low.strftime("%Y%m%d")
        return None

    def matches(self, birth_date: str | None, today: date | None = None) -> bool:
        """FHIR R4 3.1.1.5.2: the birth date (one day, ``YYYYMMDD``) against the range."""
        day = _day(birth_date)
        if day is None:
            return self.prefix == "ne"
        if self.prefix == "ap":
            return self._approximately(day, today or date.today())
        return {
            "eq": self.low <= day <= self.high, "ne": not self.low <= day <= self.high,
            "gt": day > self.high, "sa": day > self.high,
            "lt": day < self.low, "eb": day < self.low,
            "ge": day >= self.low, "le": day <= self.high,
        }[self.prefix]

    def _approximately(self, day: date, today: date) -> bool:
        # FHIR R4 3.1.1.5.2 suggests 10 % of the gap between now and the value.
        margin = timedelta(days=max(1, abs((today - self.low).days) // 10))
        return self.low - margin <= day <= self.high + margin


def _day(raw: str | None) -> date | None:
    if not raw or len(raw) != 8 or not raw.isdigit():
        return None
    try:
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        return None


def parse_birthdate(value: str) -> DateCriterion:
    """A ``birthdate`` search value (``[prefix]YYYY[-MM[-DD]]``), ValueError naming it."""
    found = _DATE.match(value.strip())
    if not found:
        raise ValueError(f"birthdate is {value!r}, expected [prefix]YYYY[-MM[-DD]] with a "
                         f"prefix among {', '.join(DATE_PREFIXES)}")
    prefix = found["prefix"] or "eq"
    if prefix not in DATE_PREFIXES:
        raise ValueError(f"birthdate prefix is {prefix!r} in {value!r}, expected one of "
                         f"{', '.join(DATE_PREFIXES)}")
    year, month, day = int(found["y"]), found["m"], found["d"]
    try:
        if day is not None:
            low = high = date(year, int(month), int(day))
        elif month is not None:
            low = date(year, int(month), 1)
            high = date(year, int(month), monthrange(year, int(month))[1])
        else:
            low, high = date(year, 1, 1), date(year, 12, 31)
    except ValueError as exc:
        raise ValueError(f"birthdate {value!r} is not a calendar date: {exc}") from exc
    return DateCriterion(prefix, low, high)
