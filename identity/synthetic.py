"""A seeded generator of French patient identities across establishments.

Each generated *person* has true traits; each establishment (authority) that
saw them holds a *record* with the variation real registers show: accents and
case, hyphenated and compound given names written in different ways,
particles dropped, used (married) name versus birth name and the married
name typed as birth name, day/month swaps, typing errors in names and dates,
a second given name used as the first, missing birthplace or sex. The
population has twins (same birth date, birthplace, family name and address),
homonyms (same names, other birth date), and an INS for part of the people,
carried by qualified records with the traits of the national register.
A few deliberate INS collisions give one person's INS to another.

Names and birthplaces come from :mod:`identity.tables` with their weights;
the long tail of rare surnames is built from French roots and endings.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from identity.ins import NIR_OID, Ins, ins_key
from identity.model import LocalRecord, RecordKey, Sex, Status, Traits, make_record
from identity.tables import (
    COMMUNES,
    DEPARTMENTS,
    FEMALE_GIVEN,
    MALE_GIVEN,
    SURNAME_ENDINGS,
    SURNAME_ROOTS,
    SURNAMES,
)

ACCENTED = {"E": "ÉÈÊ", "A": "À", "I": "Ï", "O": "Ô", "C": "Ç", "U": "Ü"}


@dataclass(frozen=True, slots=True)
class Person:
    """True traits of one generated person."""

    id: int
    sex: Sex
    birth_name: str
    given_names: tuple[str, ...]
    birth_date: str
    birthplace: str
    postcode: str
    used_name: str | None = None
    ins: str | None = None


@dataclass(frozen=True, slots=True)
class SyntheticRecord:
    """A generated local record and the person it belongs to (the ground truth)."""

    record: LocalRecord
    person: int


@dataclass(slots=True)
class Dataset:
    """Records in arrival order, with the injected collisions to find."""

    records: list[SyntheticRecord]
    persons: int
    authorities: int
    collisions: list[tuple[int, RecordKey]] = field(default_factory=list)
    """(person whose INS was given away, record that received it)."""


class _Picker:
    """Weighted choice from a (value, weight) table, precomputed once."""

    def __init__(self, table: tuple[tuple[str, int], ...]) -> None:
        self.values = [value for value, _ in table]
        self.weights = [weight for _, weight in table]

    def __call__(self, rng: random.Random) -> str:
        return rng.choices(self.values, self.weights)[0]


_SURNAME = _Picker(SURNAMES)
_MALE = _Picker(MALE_GIVEN)
_FEMALE = _Picker(FEMALE_GIVEN)
_COMMUNE = _Picker(COMMUNES)


def _surname(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return _SURNAME(rng)
    middle = rng.choice(SURNAME_ROOTS).lower() if rng.random() < 0.7 else ""
    return rng.choice(SURNAME_ROOTS) + middle.upper() + rng.choice(SURNAME_ENDINGS)


def _given_names(rng: random.Random, sex: Sex) -> tuple[str, ...]:
    pick = _MALE if sex is Sex.MALE else _FEMALE
    count = 1 + (rng.random() < 0.45) + (rng.random() < 0.15)
    names: list[str] = []
    while len(names) < count:
        name = pick(rng)
        if name not in names:
            names.append(name)
    return tuple(names)


def _birth_date(rng: random.Random) -> str:
    year = rng.randint(1925, 2023)
    return f"{year}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"


def _birthplace(rng: random.Random) -> str:
    if rng.random() < 0.55:
        return _COMMUNE(rng)
    return f"{rng.choice(DEPARTMENTS)}{rng.randint(1, 600):03d}"


def _nir(rng: random.Random, sex: Sex, birth_date: str, birthplace: str) -> str:
    body = (f"{1 if sex is Sex.MALE else 2}{birth_date[2:4]}{birth_date[4:6]}"
            f"{birthplace}{rng.randint(1, 999):03d}")
    return f"{body}{ins_key(body):02d}"


def _postcode(rng: random.Random, birthplace: str) -> str:
    department = birthplace[:2] if birthplace[:2] not in ("2A", "2B") else "20"
    return f"{department}{rng.randint(0, 999):03d}"


def _person(rng: random.Random, pid: int, ins_share: float) -> Person:
    sex = rng.choice((Sex.MALE, Sex.FEMALE))
    birth_date, birthplace = _birth_date(rng), _birthplace(rng)
    married = sex is Sex.FEMALE and birth_date[:4] < "2000" and rng.random() < 0.6
    return Person(
        id=pid, sex=sex, birth_name=_surname(rng), given_names=_given_names(rng, sex),
        birth_date=birth_date, birthplace=birthplace,
        postcode=_postcode(rng, birthplace),
        used_name=_surname(rng) if married else None,
        ins=_nir(rng, sex, birth_date, birthplace) if rng.random() < ins_share else None,
    )


def _twin(rng: random.Random, person: Person, pid: int) -> Person:
    sex = rng.choice((Sex.MALE, Sex.FEMALE))
    given = _given_names(rng, sex)
    while given[0] == person.given_names[0]:
        given = _given_names(rng, sex)
    ins = _nir(rng, sex, person.birth_date, person.birthplace) if person.ins else None
    return replace(person, id=pid, sex=sex, given_names=given, ins=ins,
                   used_name=person.used_name if sex is Sex.FEMALE else None)


def _homonym(rng: random.Random, person: Person, pid: int) -> Person:
    other = _person(rng, pid, 0.35 if person.ins else 0.0)
    return replace(other, sex=person.sex, birth_name=person.birth_name,
                   given_names=person.given_names[:1] + other.given_names[1:])


def _population(rng: random.Random, size: int, ins_share: float) -> list[Person]:
    people: list[Person] = []
    while len(people) < size:
        person = _person(rng, len(people), ins_share)
        people.append(person)
        roll = rng.random()
        if roll < 0.015 and len(people) < size:
            people.append(_twin(rng, person, len(people)))
        elif roll < 0.03 and len(people) < size:
            people.append(_homonym(rng, person, len(people)))
    return people


# -- records ------------------------------------------------------------------

def _typo(rng: random.Random, text: str) -> str:
    if len(text) < 3:
        return text
    i = rng.randrange(1, len(text) - 1)
    kind = rng.randrange(4)
    letter = rng.choice("ABCDEFGHIJKLMNOPRSTUVEAIEO")
    if kind == 0:
        return text[:i] + letter + text[i + 1:]
    if kind == 1:
        return text[:i] + text[i + 1:]
    if kind == 2:
        return text[:i] + letter + text[i:]
    return text[:i - 1] + text[i] + text[i - 1] + text[i + 1:]


def _styled(rng: random.Random, name: str) -> str:
    """The same name as another register writes it: case, accents, hyphens, particles."""
    roll = rng.random()
    if roll < 0.25:
        name = "".join(rng.choice(ACCENTED[ch]) if ch in ACCENTED and rng.random() < 0.15
                       else ch for ch in name)
    if rng.random() < 0.3:
        name = name.title()
    if "-" in name and rng.random() < 0.3:
        name = name.replace("-", " " if rng.random() < 0.5 else "")
    if " " in name and rng.random() < 0.2:
        name = name.split(" ", 1)[1] if name.split(" ")[0].upper() in ("DE", "LE", "DU") else name
    return name


def _date_error(rng: random.Random, date: str) -> str:
    if rng.random() < 0.5 and int(date[6:8]) <= 12:
        return date[:4] + date[6:8] + date[4:6]
    i = rng.choice((2, 3, 5, 6, 7))
    return date[:i] + str((int(date[i]) + rng.randint(1, 8)) % 10) + date[i + 1:]


def _traits(rng: random.Random, p: Person) -> Traits:
    """Unverified traits of one register: with its errors."""
    birth_name = p.birth_name
    if p.used_name and rng.random() < 0.04:
        birth_name = p.used_name  # the married name typed as birth name
    elif rng.random() < 0.06:
        birth_name = _typo(rng, birth_name)
    given = list(p.given_names)
    if len(given) > 1 and rng.random() < 0.03:
        given = given[1:]  # the usual given name recorded as the first one
    elif rng.random() < 0.05:
        given[0] = _typo(rng, given[0])
    if rng.random() < 0.5:
        given = given[:1]  # many registers keep only the first given name
    return Traits(
        birth_name=_styled(rng, birth_name),
        given_names=tuple(_styled(rng, g) for g in given),
        used_name=_styled(rng, p.used_name) if p.used_name and rng.random() < 0.8 else None,
        birth_date=_date_error(rng, p.birth_date) if rng.random() < 0.03 else p.birth_date,
        sex=Sex.UNKNOWN if rng.random() < 0.01 else p.sex,
        birthplace=None if rng.random() < 0.12 else p.birthplace,
        postcode=_moved(rng, p),
    )


def _moved(rng: random.Random, p: Person) -> str | None:
    """Postcode as this register has it: missing, the person's, or an older address."""
    roll = rng.random()
    if roll < 0.3:
        return None
    return _postcode(rng, p.birthplace) if roll < 0.4 else p.postcode


def _qualified_traits(p: Person) -> Traits:
    """Traits of a qualified record: those of the national register, exact."""
    return Traits(birth_name=p.birth_name, given_names=p.given_names, used_name=p.used_name,
                  birth_date=p.birth_date, sex=p.sex, birthplace=p.birthplace,
                  postcode=p.postcode)


def _record(rng: random.Random, p: Person, authority: str, ipp: str) -> LocalRecord:
    if p.ins and rng.random() < 0.6:
        return make_record(authority, ipp, _qualified_traits(p), status=Status.QUAL,
                           ins=Ins(p.ins, NIR_OID))
    status = rng.choice((Status.PROV, Status.PROV, Status.VALI, Status.RECUP))
    return make_record(authority, ipp, _traits(rng, p), status=status)


def _record_count(rng: random.Random) -> int:
    roll = rng.random()
    return 1 if roll < 0.45 else 2 if roll < 0.75 else 3 if roll < 0.92 else 4


def generate(persons: int = 100_000, authorities: int = 12, seed: int = 20240501,
             collisions: int = 25, ins_share: float = 0.35) -> Dataset:
    """Generate ``persons`` people and their records at ``authorities`` establishments."""
    rng = random.Random(seed)
    names = [f"1.2.250.1.999.{n + 1}" for n in range(authorities)]
    out: list[SyntheticRecord] = []
    for person in _population(rng, persons, ins_share):
        for authority in rng.sample(names, min(_record_count(rng), authorities)):
            ipp = f"{rng.randrange(10**8):08d}"
            out.append(SyntheticRecord(_record(rng, person, authority, ipp), person.id))
    rng.shuffle(out)
    dataset = Dataset(out, persons, authorities)
    _inject_collisions(rng, dataset, collisions)
    return dataset


def _inject_collisions(rng: random.Random, dataset: Dataset, count: int) -> None:
    """Give the INS of a qualified record's person to a qualified record of another."""
    qualified = [i for i, s in enumerate(dataset.records) if s.record.qualified]
    by_person: dict[int, list[int]] = {}
    for i in qualified:
        by_person.setdefault(dataset.records[i].person, []).append(i)
    owners = list(by_person)
    rng.shuffle(owners)
    for giver, receiver in zip(owners[:count], owners[count:2 * count], strict=False):
        source = dataset.records[by_person[giver][0]].record
        target_index = by_person[receiver][0]
        target = dataset.records[target_index]
        changed = replace(target.record, ins=source.ins)
        dataset.records[target_index] = SyntheticRecord(changed, target.person)
        dataset.collisions.append((giver, changed.key))
