"""ITI-67 / ITI-66 search parameters -> SQL conditions, and who may see what.

Parameters (IHE MHD 2.3.2.67 ITI-67 "Find Document References", 3.67.4.1.2):
``patient`` or ``patient.identifier`` (one is required), ``status``,
``category``, ``type``, ``format``, ``facility``, ``setting``,
``security-label`` (tokens, comma = or; ``system|code`` or ``code``, the code
is compared), ``date`` (``DocumentReference.date``: when the repository filed
the document), ``creation`` (``attachment.creation``: the CDA
effectiveTime), ``period`` (``context.period``: the service event),
``author.family`` (starts with, case-insensitive, as FHIR string search),
``related`` (a DocumentReference that this one replaces or is replaced by;
the XDS referenceIdList is not kept), ``_count`` and ``_offset`` (paging).

Without ``status``, entered-in-error documents are left out: a deleted
document disappears from searches unless asked for by status.

Visibility (CI-SIS MetaDMPMSS flags, enforced on every read, search and
retrieve). Whom the reader acts for comes from its credential
(:func:`hub.repository.mhd.access_of`), never from a header it sets:

============================  =====================================================
reader                        does not see
============================  =====================================================
``professional`` (default)    MASQUE_PS documents and confidentiality ``V``, unless
                              the request carries ``X-Hub-Break-Glass: <reason>``
``patient``                   INVISIBLE_PATIENT documents
``legal-representative``      INVISIBLE_REP_LEGAUX and CONNEXION_SECRETE documents
``admin``                     nothing hidden (the ``admin`` role, asking for it)
============================  =====================================================

A patient or legal representative (and any principal bound to patients)
reads only the documents of its own patients (:attr:`Access.patients`).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, not_, or_

from hub.db.tables import documents
from hub.patients import Identifier
from hub.repository.model import ENTERED_IN_ERROR, STATUSES, VISIBILITY_CODES

MAX_COUNT = 500
DEFAULT_COUNT = 50
_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?"
                   r"(?:\.\d+)?(Z|[+-]\d{2}:\d{2})?)?)?)?$")


class SearchError(ValueError):
    """A search parameter is wrong; ``parameter`` names it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


class Reader(StrEnum):
    """Whom the caller acts for (from its credential)."""

    PROFESSIONAL = "professional"
    PATIENT = "patient"
    LEGAL_REPRESENTATIVE = "legal-representative"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Access:
    """The reader, whether a professional broke the glass, and the patients it is bound to.

    ``patients`` None: any patient; a tuple: only those (identifiers as
    ``(system, value)``; empty: none).
    """

    reader: Reader = Reader.PROFESSIONAL
    break_glass: bool = False
    patients: tuple[Identifier, ...] | None = None


@dataclass(frozen=True, slots=True)
class Range:
    """A half-open epoch range [low, high) from one FHIR date parameter."""

    prefix: str
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class Criteria:
    """One ITI-67 search."""

    patient: Identifier
    status: tuple[str, ...] = ()
    tokens: tuple[tuple[str, tuple[str, ...]], ...] = ()
    date: tuple[Range, ...] = ()
    creation: tuple[Range, ...] = ()
    period: tuple[Range, ...] = ()
    author_family: str | None = None
    related: str | None = None
    count: int = DEFAULT_COUNT
    offset: int = 0


@dataclass(frozen=True, slots=True)
class SubmissionCriteria:
    """One ITI-66 search."""

    patient: Identifier
    count: int = DEFAULT_COUNT
    offset: int = 0


TOKEN_COLUMNS = {
    "category": documents.c.class_code,
    "type": documents.c.type_code,
    "format": documents.c.format_code,
    "facility": documents.c.facility_code,
    "setting": documents.c.setting_code,
}


def parse_identifier(raw: str, parameter: str = "patient.identifier") -> Identifier:
    """``system|value`` (a bare OID system becomes ``urn:oid:``)."""
    system, bar, value = raw.partition("|")
    if not bar or not system or not value:
        raise SearchError(parameter, f"{raw!r} is not system|value")
    if re.fullmatch(r"\d+(\.\d+)+", system):
        system = f"urn:oid:{system}"
    return system, value


_FHIR_ID = re.compile(r"[A-Za-z0-9.\-]{1,64}")
_OID_ID = re.compile(r"(\d+(?:\.\d+)+)-(.+)")


def patient_id(identifier: Identifier) -> str:
    """The ``<authority OID>-<value>`` form of an identifier (FHIR id rules), as
    :func:`parse_patient` still accepts it."""
    system, value = identifier
    oid = system.removeprefix("urn:oid:")
    candidate = f"{oid}-{value}"
    if _FHIR_ID.fullmatch(candidate) and system.startswith("urn:oid:"):
        return candidate
    raise SearchError("patient", f"identifier {system}|{value} has no Patient id form")


def parse_patient(raw: str, regional_system: str | None = None) -> Identifier:
    """The identifier a ``patient`` reference (ITI-67 3.67.4.1.2.1) stands for.

    ``Patient/<id>``, ``<base>/Patient/<id>`` or ``<id>``, where ``<id>`` is
    the Patient id that PDQm and PIXm answer (a regional identity, when
    ``regional_system`` says the identity service runs), or
    ``<authority OID>-<identifier>`` (:func:`patient_id`).
    """
    ref = raw.rsplit("/", 1)[-1] if raw.startswith(("Patient/", "http")) else raw
    by_oid = _OID_ID.fullmatch(ref)
    if by_oid is not None:
        return f"urn:oid:{by_oid.group(1)}", by_oid.group(2)
    if regional_system is not None and _FHIR_ID.fullmatch(ref):
        return regional_system, ref
    expected = "Patient/<id> (the Patient id of PDQm) or " if regional_system else ""
    raise SearchError("patient", f"{raw!r} is not {expected}"
                      "Patient/<authority OID>-<identifier>")


def _instant(match: re.Match[str]) -> tuple[float, float]:
    year, month, day, hour, minute, second, zone = match.groups()
    if month is None:
        low = datetime(int(year), 1, 1)
        high = datetime(int(year) + 1, 1, 1)
    elif day is None:
        low = datetime(int(year), int(month), 1)
        high = datetime(int(year) + int(month) // 12, int(month) % 12 + 1, 1)
    else:
        base = calendar.timegm((int(year), int(month), int(day), int(hour or 0),
                                int(minute or 0), int(second or 0), 0, 0, 0))
        if zone and zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            base -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
        width = 86400 if hour is None else (60 if second is None else 1)
        return float(base), float(base + width)
    return float(calendar.timegm(low.timetuple())), float(calendar.timegm(high.timetuple()))


def parse_date(raw: str, parameter: str) -> Range:
    """A FHIR date search value (``ge2025-03-01``, ``2025-03``, ``lt2025-03-01T10:00:00Z``)."""
    prefix = raw[:2] if raw[:2] in _PREFIXES else "eq"
    value = raw[2:] if raw[:2] in _PREFIXES else raw
    match = _DATE.match(value)
    if match is None:
        raise SearchError(parameter, f"{raw!r} is not a FHIR date (YYYY[-MM[-DD[Thh:mm[:ss]Z]]])")
    if prefix not in ("eq", "lt", "le", "gt", "ge"):
        raise SearchError(parameter, f"prefix {prefix!r} is not supported (eq, lt, le, gt, ge)")
    low, high = _instant(match)
    return Range(prefix, low, high)


def parse_tokens(raw: str) -> tuple[str, ...]:
    """Codes of a comma-separated token list (the ``system|`` part is dropped)."""
    return tuple(part.rsplit("|", 1)[-1] for part in raw.split(",") if part.rsplit("|", 1)[-1])


def parse_count(raw: str | None, parameter: str = "_count") -> int:
    """``_count`` within 1..:data:`MAX_COUNT` (FHIR: the server may lower it)."""
    if raw is None:
        return DEFAULT_COUNT
    if not raw.isdigit() or int(raw) < 1:
        raise SearchError(parameter, f"{raw!r} is not a positive integer")
    return min(int(raw), MAX_COUNT)


def parse_offset(raw: str | None) -> int:
    """``_offset``: where the page starts."""
    if raw is None:
        return 0
    if not raw.isdigit():
        raise SearchError("_offset", f"{raw!r} is not a non-negative integer")
    return int(raw)


def _range_condition(column: Any, r: Range) -> Any:
    """Whether the instant in ``column`` falls in the range the prefix asks for."""
    return {
        "eq": and_(column >= r.low, column < r.high),
        "lt": column < r.low,
        "le": column < r.high,
        "gt": column >= r.high,
        "ge": column >= r.low,
    }[r.prefix]


def _period_condition(r: Range) -> Any:
    """The service period [start, stop] against the range (FHIR period semantics)."""
    start = documents.c.service_start_at
    stop = documents.c.service_stop_at
    if r.prefix in ("lt", "le"):
        return start < (r.low if r.prefix == "lt" else r.high)
    if r.prefix in ("gt", "ge"):
        return or_(stop >= (r.high if r.prefix == "gt" else r.low),
                   and_(stop.is_(None), start >= r.low))
    return and_(start < r.high, or_(stop >= r.low, and_(stop.is_(None), start >= r.low)))


def visibility(access: Access) -> list[Any]:
    """The conditions that hide what the reader may not see (module docstring)."""
    d = documents.c
    if access.reader is Reader.ADMIN:
        return []
    if access.reader is Reader.PATIENT:
        return [not_(d.invisible_patient)]
    if access.reader is Reader.LEGAL_REPRESENTATIVE:
        return [not_(d.invisible_rep_legaux), not_(d.connexion_secrete)]
    if access.break_glass:
        return []
    return [not_(d.masque_ps), d.confidentiality != "V"]


def _security_condition(codes: tuple[str, ...]) -> Any:
    d = documents.c
    flags = {code: d[column] for column, code in VISIBILITY_CODES.items()}
    return or_(*[flags[c].is_(True) if c in flags else d.confidentiality == c for c in codes])


def conditions(criteria: Criteria, access: Access) -> list[Any]:
    """The WHERE conditions of an ITI-67 search, visibility included."""
    d = documents.c
    found: list[Any] = visibility(access)
    if criteria.status:
        found.append(d.status.in_(criteria.status))
    else:
        found.append(d.status != ENTERED_IN_ERROR)
    for name, codes in criteria.tokens:
        if name == "security-label":
            found.append(_security_condition(codes))
        else:
            found.append(TOKEN_COLUMNS[name].in_(codes))
    found += [_range_condition(d.filed_at, r) for r in criteria.date]
    found += [_range_condition(d.creation_at, r) for r in criteria.creation]
    found += [_period_condition(r) for r in criteria.period]
    if criteria.author_family:
        found.append(d.author_families.like(f"%|{criteria.author_family.upper()}%"))
    if criteria.related:
        found.append(or_(d.replaces == criteria.related, d.replaced_by == criteria.related))
    return found


def parse_statuses(raw: str) -> tuple[str, ...]:
    """``status`` values, each one of :data:`~hub.repository.model.STATUSES`."""
    values = parse_tokens(raw)
    for value in values:
        if value not in STATUSES:
            raise SearchError("status", f"{value!r} is not one of {', '.join(STATUSES)}")
    return values
