"""Normalisation of French identity traits.

Names are compared on a canonical form: upper case, accents removed (NFKD,
then the combining marks dropped; ``Œ`` -> ``OE``, ``Æ`` -> ``AE``),
hyphens and other punctuation turned into spaces, spaces collapsed. An
apostrophe after ``D`` or ``L`` marks an elided particle (``D'ARTAGNAN`` is
``D ARTAGNAN``); any other apostrophe is dropped inside the word
(``O'NEIL`` -> ``ONEIL``). Particles (``DE``, ``DU``, ``DES``, ``LE``,
``LA``, ``D'``...) are written inconsistently from one register to another,
so a name keeps two forms: with them (``DELAFONTAINE``) and without
(``FONTAINE``).

Given names follow the RNIV: the birth list of given names in order, the
first one being the *first birth given name* used by the strict traits. A
compound given name (``JEAN-PIERRE``) is one given name, never ``JEAN`` plus
``PIERRE``: its canonical form is ``JEANPIERRE``. The birth name (nom de
naissance) and the used name (nom utilisé, e.g. a married name) are kept
apart; comparisons may cross them.

Phonetic key: :func:`identity.phonetic.phonetic_fr`, chosen by measurement
(:func:`identity.phonetic.measure_keys`) on 122 pairs of real spelling
variants of French names and on the 350 distinct names of the generator's
tables (about 61,000 distinct pairs):

===============  ====================  ==========================
key              variant pairs agreed  distinct-name pairs equal
===============  ====================  ==========================
Soundex (US)     75.4 %                0.147 %
French Soundex   64.8 %                0.125 %
phonetic_fr      90.2 %                0.030 %
===============  ====================  ==========================

The French key finds more true variants (``GAUTHIER``/``GAULTIER``,
``RENAUD``/``RENAULT``, ``CHRISTOPHE``/``CRISTOPHE``) and, because it keeps
vowel sounds and does not truncate to 4 characters, splits distinct names
about five times less often: smaller blocks and fewer chance agreements.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from identity.phonetic import phonetic_fr

PARTICLES = frozenset({
    "D", "L", "DE", "DU", "DES", "LE", "LA", "LES", "DEL", "DELA", "DELLA", "DI", "DA",
    "DOS", "VAN", "VON", "DER", "DEN", "TER",
})
_LIGATURES = str.maketrans({"Œ": "OE", "œ": "oe", "Æ": "AE", "æ": "ae", "ß": "ss"})
_APOSTROPHES = re.compile(r"['’`´ʼ]")
_ELISION = re.compile(r"\b([DL])'")
_NOT_LETTER = re.compile(r"[^A-Z ]+")
_SPACES = re.compile(r" +")


def strip_accents(text: str) -> str:
    """Remove diacritics: NFKD decomposition, combining marks dropped."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=131072)
def normalize_text(raw: str) -> str:
    """Canonical form of a name: upper case, no accents, words split by single spaces."""
    text = strip_accents(raw).upper()
    text = _APOSTROPHES.sub("'", text)
    text = _ELISION.sub(r"\1 ", text)  # D'ARTAGNAN: an elided particle, a word of its own
    text = text.replace("'", "")  # O'NEIL: part of the name
    text = _NOT_LETTER.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


@dataclass(frozen=True, slots=True)
class NameForms:
    """The forms of one family name used for comparison and blocking."""

    full: str
    """Words as written, particles kept (``DE LA FONTAINE``)."""
    compact: str
    """No spaces, particles kept (``DELAFONTAINE``)."""
    core: str
    """No spaces, particles dropped (``FONTAINE``); ``compact`` when only particles."""

    @property
    def variants(self) -> frozenset[str]:
        """The forms two names may share to count as equal."""
        return frozenset({self.compact, self.core})


EMPTY_NAME = NameForms("", "", "")


@lru_cache(maxsize=131072)
def name_forms(raw: str | None) -> NameForms:
    """Forms with and without particles of a family name (birth or used name)."""
    if not raw:
        return EMPTY_NAME
    full = normalize_text(raw)
    words = full.split(" ") if full else []
    core_words = [w for w in words if w not in PARTICLES]
    compact = "".join(words)
    return NameForms(full, compact, "".join(core_words) or compact)


def split_given_names(raw: str | Sequence[str] | None) -> tuple[str, ...]:
    """The birth list of given names as separate items, in order.

    A string is split on commas when it has any, else on spaces; hyphens
    stay inside an item because they join a compound given name.
    """
    if not raw:
        return ()
    if isinstance(raw, str):
        items: Iterable[str] = raw.split(",") if "," in raw else raw.split()
    else:
        items = raw
    return tuple(item.strip() for item in items if item and item.strip())


@dataclass(frozen=True, slots=True)
class GivenNames:
    """Normalised birth list of given names."""

    items: tuple[str, ...]
    """Each given name in canonical form, first birth given name first."""
    first_word: str = ""
    """First word of the first given name (``JEAN`` of ``JEAN-PIERRE``)."""

    @property
    def first(self) -> str:
        """First birth given name (a strict trait), ``""`` when unknown."""
        return self.items[0] if self.items else ""


def normalize_given_names(raw: str | Sequence[str] | None) -> GivenNames:
    """Normalise a birth list of given names; compound names stay one item."""
    items = [normalize_text(item) for item in split_given_names(raw)]
    items = [item for item in items if item]
    if not items:
        return GivenNames(())
    return GivenNames(tuple(item.replace(" ", "") for item in items), items[0].split(" ")[0])


def phonetic_key(name: str) -> str:
    """Phonetic key of a canonical name (see the module docstring for the choice)."""
    return phonetic_fr(name) if name else ""


def normalize_birth_date(raw: str | None) -> str | None:
    """``YYYYMMDD`` digits from ``YYYYMMDD``, ``YYYY-MM-DD`` or HL7 ``YYYYMMDDHHMM``."""
    if not raw:
        return None
    digits = "".join(ch for ch in raw if ch.isdigit())
    return digits[:8] if len(digits) >= 8 else None


def normalize_code(raw: str | None) -> str | None:
    """Upper-case code without spaces (INSEE commune, postcode), None when empty."""
    if not raw:
        return None
    code = raw.replace(" ", "").upper()
    return code or None
