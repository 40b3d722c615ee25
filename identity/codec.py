"""Stored forms of a local record's traits: raw (for display and audit) and normalised.

The normalised form is stored beside the raw traits so that a candidate read
from the database is compared as it is: normalising it again (accents,
particles, phonetic keys) cost about 24 µs per candidate, most of a lookup's
CPU at a million records, where a lookup reads about a hundred candidates.
It is a compact JSON array in the field order of :data:`_LAYOUT`.

The stored normalised form is what :func:`identity.model.normalize_traits`
returned when the record was written: a change of the normalisation rules
must come with a migration that recomputes the ``normalized`` column of
``identity_records`` (blocking keys are stored the same way).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from identity.model import Normalized, Sex, Traits
from identity.normalize import GivenNames, NameForms

_LAYOUT = ("birth_name.full", "birth_name.compact", "birth_name.core", "used_name.full",
           "used_name.compact", "used_name.core", "given.items", "given.first_word",
           "birth_name_phonetic", "given_phonetic", "birth_date", "sex", "birthplace",
           "address", "postcode", "city", "national_id")
"""What each position of the stored array holds (documentation; see the functions)."""


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def traits_json(traits: Traits) -> str:
    """Raw traits as stored."""
    data = asdict(traits)
    data["sex"] = traits.sex.value
    return _dumps(data)


def traits_from_json(text: str) -> Traits:
    """Traits back from their stored form."""
    data = json.loads(text)
    data["given_names"] = tuple(data.get("given_names") or ())
    data["sex"] = Sex(data.get("sex") or "U")
    return Traits(**data)


def normalized_json(n: Normalized) -> str:
    """The normalised traits as stored (a JSON array laid out as :data:`_LAYOUT`)."""
    b, u = n.birth_name, n.used_name
    return _dumps([b.full, b.compact, b.core, u.full, u.compact, u.core, list(n.given.items),
                   n.given.first_word, n.birth_name_phonetic, n.given_phonetic, n.birth_date,
                   n.sex.value, n.birthplace, n.address, n.postcode, n.city, n.national_id])


def normalized_from_json(text: str) -> Normalized:
    """The normalised traits back from their stored form, without normalising again."""
    (b_full, b_compact, b_core, u_full, u_compact, u_core, items, first_word, b_phonetic,
     g_phonetic, birth_date, sex, birthplace, address, postcode, city, national_id,
     ) = json.loads(text)
    return Normalized(NameForms(b_full, b_compact, b_core), NameForms(u_full, u_compact, u_core),
                      GivenNames(tuple(items), first_word), b_phonetic, g_phonetic, birth_date,
                      Sex(sex), birthplace, address, postcode, city, national_id)
