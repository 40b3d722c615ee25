"""French identity normalisation and the phonetic key."""

from __future__ import annotations

import pytest

from identity.model import Traits, normalize_traits
from identity.normalize import (
    name_forms,
    normalize_birth_date,
    normalize_given_names,
    normalize_text,
    phonetic_key,
)
from identity.phonetic import measure_keys


@pytest.mark.parametrize(("raw", "expected"), [
    ("Hélène", "HELENE"), ("  le   Goff ", "LE GOFF"), ("Lefèbvre-Dupont", "LEFEBVRE DUPONT"),
    ("Œuvrard", "OEUVRARD"), ("O'Neil", "ONEIL"), ("d’Artagnan", "D ARTAGNAN"),
    ("François", "FRANCOIS"), ("N'Diaye", "NDIAYE"), ("MULLER (née)", "MULLER NEE"),
])
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_particles_give_forms_with_and_without() -> None:
    forms = name_forms("de La Fontaine")
    assert (forms.full, forms.compact, forms.core) == ("DE LA FONTAINE", "DELAFONTAINE",
                                                       "FONTAINE")
    assert name_forms("D'ARTAGNAN").core == "ARTAGNAN"
    assert name_forms("Dartagnan").compact == name_forms("D'Artagnan").compact
    assert name_forms("LE").core == "LE"  # a name made of a particle keeps it


def test_compound_given_name_is_one_item() -> None:
    given = normalize_given_names("Jean-Pierre Marie")
    assert given.items == ("JEANPIERRE", "MARIE")
    assert given.first == "JEANPIERRE"
    assert given.first_word == "JEAN"
    assert normalize_given_names(["Jean Pierre", "Marie"]).first == "JEANPIERRE"
    assert normalize_given_names("JEAN-PIERRE,MARIE").items == ("JEANPIERRE", "MARIE")


def test_birth_and_used_names_are_kept_apart() -> None:
    n = normalize_traits(Traits(birth_name="Dupont", used_name="Martin-Dupont",
                                given_names=("Émilie",)))
    assert n.birth_name.compact == "DUPONT"
    assert n.used_name.compact == "MARTINDUPONT"
    assert n.given.first == "EMILIE"


def test_birth_date_forms() -> None:
    assert normalize_birth_date("1980-03-14") == "19800314"
    assert normalize_birth_date("198003141230") == "19800314"
    assert normalize_birth_date("1980") is None


@pytest.mark.parametrize(("a", "b"), [
    ("GAUTHIER", "GAULTIER"), ("RENAUD", "RENAULT"), ("CHRISTOPHE", "CRISTOPHE"),
    ("PHILIPPE", "FILIPPE"), ("DUPONT", "DUPOND"), ("MOREAU", "MOREAUX"),
])
def test_phonetic_key_joins_french_variants(a: str, b: str) -> None:
    assert phonetic_key(a) == phonetic_key(b)


@pytest.mark.parametrize(("a", "b"), [("MARTIN", "MARTINEZ"), ("BERNARD", "BERTRAND"),
                                      ("SIMON", "SIMONET")])
def test_phonetic_key_keeps_distinct_names_apart(a: str, b: str) -> None:
    assert phonetic_key(a) != phonetic_key(b)


def test_chosen_key_wins_the_measurement() -> None:
    measures = {m.name: m for m in measure_keys()}
    chosen = measures["phonetic_fr"]
    for other in ("soundex_en", "soundex_fr"):
        assert chosen.variants_agreed > measures[other].variants_agreed
        assert chosen.distinct_colliding < measures[other].distinct_colliding
    # the figures written in identity.normalize's docstring
    assert round(chosen.variants_agreed, 3) == 0.902
    assert round(measures["soundex_fr"].variants_agreed, 3) == 0.648
