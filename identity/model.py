"""The identity model: local records, decisions, events.

A *local record* is what one establishment (assigning authority, OID or
FINESS) knows of a patient under its IPP. A *regional identity* is the SRRI's
person; *links* attach local records to it, each with its provenance
(automatic or manual), score, rule and time (stored by :mod:`identity.store`).
Nothing is merged destructively: a merge is new links, an unmerge is links
ended, and every change is an :class:`IdentityEvent` appended to a log that
can be replayed.

All classes are frozen: an update makes a new value, which is what an
append-only log needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from identity.ins import Ins
from identity.normalize import (
    GivenNames,
    NameForms,
    name_forms,
    normalize_birth_date,
    normalize_code,
    normalize_given_names,
    normalize_text,
    phonetic_key,
)


class Status(StrEnum):
    """RNIV identity status of a local record.

    PROV provisional, RECUP recovered (INS fetched, traits not verified on an
    identity document), VALI validated (document checked, no INS), QUAL
    qualified (validated and INS fetched and checked). In PAM France, PID-32
    ``VALI`` with an INS in PID-3 is the qualified status.
    """

    PROV = "PROV"
    RECUP = "RECUP"
    VALI = "VALI"
    QUAL = "QUAL"


class Attribute(StrEnum):
    """RNIV identity attributes (HL7 table 0445 as PAM France restricts it)."""

    DOUT = "DOUT"  # doubtful identity
    FICT = "FICT"  # fictitious identity (anonymous care, tests)
    HOMA = "HOMA"  # confirmed homonym
    HOMD = "HOMD"  # homonym detected


class Sex(StrEnum):
    """Administrative sex (HL7 table 0001 as PAM France uses it)."""

    MALE = "M"
    FEMALE = "F"
    OTHER = "O"
    UNKNOWN = "U"


@dataclass(frozen=True, slots=True)
class Traits:
    """Identity traits as the source sent them (raw, for display and audit)."""

    birth_name: str | None = None
    given_names: tuple[str, ...] = ()
    """Birth list of given names, the first birth given name first."""
    used_name: str | None = None
    used_given_name: str | None = None
    birth_date: str | None = None
    """``YYYYMMDD`` (or HL7 TS); None when unknown."""
    sex: Sex = Sex.UNKNOWN
    birthplace: str | None = None
    """INSEE code of the birth commune (``99xxx``: country, born abroad)."""
    address: str | None = None
    postcode: str | None = None
    city: str | None = None
    national_id: str | None = None
    """An identifier the source did not verify (billing NIR, social security no.)."""


@dataclass(frozen=True, slots=True)
class Normalized:
    """Traits in canonical form, with the keys matching needs, computed once."""

    birth_name: NameForms
    used_name: NameForms
    given: GivenNames
    birth_name_phonetic: str
    given_phonetic: str
    birth_date: str | None
    sex: Sex
    birthplace: str | None
    address: str
    postcode: str | None
    city: str
    national_id: str | None


def normalize_traits(traits: Traits) -> Normalized:
    """Compute the canonical form of ``traits`` (see :mod:`identity.normalize`)."""
    birth = name_forms(traits.birth_name)
    given = normalize_given_names(traits.given_names)
    return Normalized(
        birth_name=birth,
        used_name=name_forms(traits.used_name),
        given=given,
        birth_name_phonetic=phonetic_key(birth.core),
        given_phonetic=phonetic_key(given.first),
        birth_date=normalize_birth_date(traits.birth_date),
        sex=traits.sex,
        birthplace=normalize_code(traits.birthplace),
        address=normalize_text(traits.address or ""),
        postcode=normalize_code(traits.postcode),
        city=normalize_text(traits.city or ""),
        national_id=normalize_code(traits.national_id),
    )


RecordKey = tuple[str, str]
"""(assigning authority, IPP): the identity of a local record."""


@dataclass(frozen=True, slots=True)
class LocalRecord:
    """One establishment's record of a patient (authority + IPP)."""

    authority: str
    ipp: str
    traits: Traits
    normalized: Normalized
    status: Status = Status.PROV
    attributes: frozenset[Attribute] = frozenset()
    ins: Ins | None = None
    """The INS as received; used for linking only when :attr:`qualified`."""

    @property
    def key(self) -> RecordKey:
        """(authority, IPP)."""
        return (self.authority, self.ipp)

    @property
    def qualified(self) -> bool:
        """Qualified identity with an INS: the only case the INS is trusted."""
        return self.status is Status.QUAL and self.ins is not None


def make_record(authority: str, ipp: str, traits: Traits, *, status: Status = Status.PROV,
                attributes: frozenset[Attribute] = frozenset(),
                ins: Ins | None = None) -> LocalRecord:
    """Build a :class:`LocalRecord`, normalising its traits."""
    return LocalRecord(authority, ipp, traits, normalize_traits(traits), status,
                       attributes, ins)


class Outcome(StrEnum):
    """What the matcher decided for an incoming record."""

    LINK = "link"  # attach to an existing regional identity
    REVIEW = "review"  # new identity for now, pairs queued for a person to decide
    NEW = "new"  # new regional identity
    COLLISION = "collision"  # same qualified INS, different strict traits: never linked


@dataclass(frozen=True, slots=True)
class FieldScore:
    """One field of a comparison: agreement level and its weight (explains a score)."""

    field: str
    level: int | None
    weight: float


@dataclass(frozen=True, slots=True)
class PairResult:
    """The incoming record compared with one stored record."""

    candidate: RecordKey
    identity_id: str
    score: float
    fields: tuple[FieldScore, ...] = ()
    vetoes: tuple[str, ...] = ()
    rule: str = "probabilistic"
    collision: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    """The matcher's answer for one incoming record, with its reasons."""

    outcome: Outcome
    identity_id: str | None
    """The identity linked to (LINK only)."""
    score: float | None
    rule: str
    pairs: tuple[PairResult, ...] = ()
    """Every compared candidate (the best first): what review shows."""
    review_identities: tuple[str, ...] = ()
    """Identities a reviewer should look at (REVIEW and COLLISION)."""


class EventKind(StrEnum):
    """Kinds of identity events (the log is what the storage layer persists)."""

    RECORD_CREATED = "record-created"
    RECORD_UPDATED = "record-updated"
    IDENTITY_CREATED = "identity-created"
    LINKED = "linked"
    UNLINKED = "unlinked"
    REVIEW_OPENED = "review-opened"
    COLLISION = "collision"
    REVIEW_DECIDED = "review-decided"


@dataclass(frozen=True, slots=True)
class IdentityEvent:
    """One entry of the append-only identity log."""

    seq: int
    at: datetime
    kind: EventKind
    record: RecordKey | None
    identity_id: str | None
    detail: str = ""


@dataclass(slots=True)
class EventLog:
    """Append-only in-memory log; entries can be read, never changed or removed."""

    _events: list[IdentityEvent] = field(default_factory=list)

    def append(self, at: datetime, kind: EventKind, record: RecordKey | None,
               identity_id: str | None, detail: str = "") -> IdentityEvent:
        """Add an event with the next sequence number and return it."""
        event = IdentityEvent(len(self._events) + 1, at, kind, record, identity_id, detail)
        self._events.append(event)
        return event

    def __iter__(self) -> Iterator[IdentityEvent]:
        return iter(tuple(self._events))

    def __len__(self) -> int:
        return len(self._events)
