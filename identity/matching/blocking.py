"""Blocking keys: which stored records an incoming record is compared with.

Each key is a short string; a record is stored under all its keys and an
incoming record is compared with every record sharing at least one key. The
keys are symmetric (the same function serves indexing and lookup), so a SQL
store answers ``SELECT record FROM blocking_key WHERE key IN (...)`` on one
indexed column. Several keys are needed because any one trait may be wrong:

``d:``  birth date
``w:``  birth date with day and month in order (catches day/month swaps)
``n:``  phonetic birth (or used) name + birth year
``g:``  first two letters of the first given name + birth year and month + sex
``p:``  INSEE birthplace + birth year
``f:``  phonetic birth name + phonetic first given name (catches a wrong date)
``a:``  postcode + start of the street name (catches wrong names and date)
``b:``  postcode + phonetic birth name (catches a wrong or missing date)
``c:``  start of the city + start of the street name (catches a wrong postcode too)
``i:``  INS (any, qualified or not: a collision must be seen)
``s:``  unverified national identifier

A *weak* key (``p:``, birthplace + year) groups hundreds of people in a big
city at a million records; a record that shares nothing else with the
incoming one (not its date, name, given name, address or identifiers) cannot
score as the same person, so it is not a candidate (:func:`keep_candidate`).
Measured on the SQL store at 1,000,000 records: most of the slowest lookups
were such crowds.
"""

from __future__ import annotations

from identity.model import LocalRecord
from identity.normalize import phonetic_key

WEAK_PREFIXES = ("p:",)


def is_weak(key: str) -> bool:
    """A key that alone does not make a candidate."""
    return key.startswith(WEAK_PREFIXES)


def keep_candidate(shared_keys: int, has_strong_key: bool) -> bool:
    """A stored record is compared when it shares a strong key, or two keys at least."""
    return has_strong_key or shared_keys >= 2


def _date_keys(date: str) -> list[str]:
    month, day = date[4:6], date[6:8]
    low, high = sorted((month, day))
    return [f"d:{date}", f"w:{date[:4]}{low}{high}"]


def blocking_keys(record: LocalRecord) -> list[str]:
    """All the blocking keys of a record (used both to store and to look up)."""
    n = record.normalized
    keys: list[str] = []
    date, year = n.birth_date, (n.birth_date or "")[:4]
    if date:
        keys.extend(_date_keys(date))
    names = {n.birth_name_phonetic}
    if n.used_name.core:
        names.add(phonetic_key(n.used_name.core))
    for name in sorted(filter(None, names)):
        if year:
            keys.append(f"n:{name}:{year}")
    if n.given.first and date:
        keys.append(f"g:{n.given.first[:2]}:{date[:6]}:{n.sex.value}")
    if n.birthplace and year:
        keys.append(f"p:{n.birthplace}:{year}")
    if n.birth_name_phonetic and n.given_phonetic:
        keys.append(f"f:{n.birth_name_phonetic}:{n.given_phonetic}")
    if n.postcode and n.birth_name_phonetic:
        keys.append(f"b:{n.postcode}:{n.birth_name_phonetic}")
    street = _street_word(n.address)
    if n.postcode and street:
        keys.append(f"a:{n.postcode}:{street}")
    if n.city and street:
        keys.append(f"c:{n.city[:4]}:{street}")
    if record.ins is not None:
        keys.append(f"i:{record.ins.value}")
    if n.national_id:
        keys.append(f"s:{n.national_id}")
    return keys



def _street_word(address: str) -> str:
    """First four letters of the first word of the street that is not a number."""
    for word in address.split(" "):
        if len(word) > 2 and word.isalpha():
            return word[:4]
    return ""
