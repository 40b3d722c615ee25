"""Readers for the HL7 v2.5 data types of the French profiles (CX, HD, XPN, XAD, XCN, XON, XTN, TS).

Each reader takes one raw (still escaped) repetition, splits it with the
message's delimiters and unescapes the components it returns (HL7 v2.5 2.7).
The French constraints on these types are those of "IHE France Constraints on
HL7 data types for ITI" (Appendix N, N.1 CX, N.3 HD, N.6 XAD, XPN-7 name types).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from hub.errors import MappingError
from hub.hl7.er7 import Encoding, Message
from hub.hl7.paths import unescape

__all__ = [
    "CX",
    "HD",
    "XAD",
    "XCN",
    "XON",
    "XPN",
    "XTN",
    "Reader",
    "fhir_date",
    "fhir_datetime",
    "is_oid",
]

_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
_TS = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d{1,4})?([+-]\d{4})?")
_PARIS = ZoneInfo("Europe/Paris")
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
HL7_NULL = '""'
"""HL7 v2.5 2.5.3: a field sent as two double quotes means 'delete the value'."""


def is_oid(value: str) -> bool:
    """True when ``value`` is a dotted ISO OID such as ``1.2.250.1.213.1.4.8``."""
    return _OID.fullmatch(value) is not None


class Reader:
    """Splits and unescapes one message's fields; bound to its delimiters and charset."""

    __slots__ = ("charset", "encoding")

    def __init__(self, message: Message) -> None:
        self.encoding: Encoding = message.encoding
        self.charset = message.charset

    def repetitions(self, raw: str) -> list[str]:
        """Non-empty repetitions of a raw field."""
        return [rep for rep in raw.split(self.encoding.repetition) if rep]

    def components(self, raw: str, count: int) -> list[str]:
        """The first ``count`` raw components (padded with ``""``), still escaped."""
        parts = raw.split(self.encoding.component, count)[:count]
        return parts + [""] * (count - len(parts))

    def subcomponents(self, raw: str, count: int) -> list[str]:
        """The first ``count`` unescaped subcomponents of a raw component."""
        separator = self.encoding.subcomponent
        parts = raw.split(separator, count)[:count] if separator else [raw]
        parts = [self.text(part) for part in parts]
        return parts + [""] * (count - len(parts))

    def text(self, raw: str) -> str:
        """Unescape one raw value (HL7 v2.5 2.7) and strip surrounding blanks."""
        return unescape(raw, self.encoding, self.charset).strip()

    def first_component(self, raw: str) -> str:
        """Unescaped first component of the first repetition."""
        return self.text(
            raw.split(self.encoding.repetition, 1)[0].split(self.encoding.component, 1)[0]
        )


@dataclass(frozen=True, slots=True)
class HD:
    """Hierarchic designator (HD): namespace id, universal id, universal id type."""

    namespace: str = ""
    universal_id: str = ""
    universal_id_type: str = ""

    @classmethod
    def read(cls, reader: Reader, raw: str) -> HD:
        """Read an HD carried as subcomponents (CX-4, XCN-9, XON-6)."""
        namespace, universal, kind = reader.subcomponents(raw, 3)
        return cls(namespace, universal, kind)

    @property
    def oid(self) -> str | None:
        """The universal id when it is an ISO OID (HD-3 ``ISO``, or an OID-shaped HD-2)."""
        if self.universal_id and is_oid(self.universal_id):
            return self.universal_id
        return None

    @property
    def key(self) -> str:
        """A stable name for the authority: the OID, else the universal id, else the namespace."""
        return self.universal_id or self.namespace


@dataclass(frozen=True, slots=True)
class CX:
    """Extended composite id (CX-1 value, CX-4 authority, CX-5 type, CX-7/8 dates)."""

    value: str
    authority: HD
    type_code: str = ""
    effective: str = ""
    expiration: str = ""

    @classmethod
    def read(cls, reader: Reader, raw: str) -> CX:
        """Read one CX repetition."""
        parts = reader.components(raw, 8)
        return cls(
            value=reader.text(parts[0]),
            authority=HD.read(reader, parts[3]),
            type_code=reader.text(parts[4]),
            effective=reader.text(parts[6]),
            expiration=reader.text(parts[7]),
        )

    @property
    def is_null(self) -> bool:
        """CX-1 sent as ``""``: the identifier is to be deleted (HL7 v2.5 2.5.3)."""
        return self.value == HL7_NULL


@dataclass(frozen=True, slots=True)
class XPN:
    """Extended person name: family (XPN-1), given (XPN-2), further given (XPN-3), type (XPN-7)."""

    family: str
    given: str
    further_given: str
    prefix: str
    type_code: str

    @classmethod
    def read(cls, reader: Reader, raw: str) -> XPN:
        """Read one XPN repetition; XPN-1.1 is the surname when XPN-1 has subcomponents."""
        parts = reader.components(raw, 7)
        family = reader.subcomponents(parts[0], 1)[0]
        return cls(
            family=family,
            given=reader.text(parts[1]),
            further_given=reader.text(parts[2]),
            prefix=reader.text(parts[4]),
            type_code=reader.text(parts[6]),
        )


@dataclass(frozen=True, slots=True)
class XAD:
    """Extended address: street, other, city, state, zip, country, type (XAD-7), county (XAD-9)."""

    street: str
    other: str
    city: str
    state: str
    postal_code: str
    country: str
    type_code: str
    county: str

    @classmethod
    def read(cls, reader: Reader, raw: str) -> XAD:
        """Read one XAD repetition (street is XAD-1.1)."""
        parts = reader.components(raw, 9)
        return cls(
            street=reader.subcomponents(parts[0], 1)[0],
            other=reader.text(parts[1]),
            city=reader.text(parts[2]),
            state=reader.text(parts[3]),
            postal_code=reader.text(parts[4]),
            country=reader.text(parts[5]),
            type_code=reader.text(parts[6]),
            county=reader.text(parts[8]),
        )


@dataclass(frozen=True, slots=True)
class XCN:
    """Person id and name: id (XCN-1), names (XCN-2/3), authority (XCN-9), type (XCN-13)."""

    id: str
    family: str
    given: str
    authority: HD
    type_code: str

    @classmethod
    def read(cls, reader: Reader, raw: str) -> XCN:
        """Read one XCN repetition."""
        parts = reader.components(raw, 13)
        return cls(
            id=reader.text(parts[0]),
            family=reader.subcomponents(parts[1], 1)[0],
            given=reader.text(parts[2]),
            authority=HD.read(reader, parts[8]),
            type_code=reader.text(parts[12]),
        )

    @property
    def display(self) -> str:
        """``Given FAMILY`` for display, blank parts left out."""
        return " ".join(part for part in (self.given, self.family) if part)


@dataclass(frozen=True, slots=True)
class XON:
    """Extended organization: name (XON-1), authority (XON-6), type (XON-7), id (XON-10)."""

    name: str
    authority: HD
    type_code: str
    id: str

    @classmethod
    def read(cls, reader: Reader, raw: str) -> XON:
        """Read one XON repetition."""
        parts = reader.components(raw, 10)
        return cls(
            name=reader.text(parts[0]),
            authority=HD.read(reader, parts[5]),
            type_code=reader.text(parts[6]),
            id=reader.text(parts[9]),
        )


@dataclass(frozen=True, slots=True)
class XTN:
    """Extended telecom: use (XTN-2), equipment (XTN-3), e-mail (XTN-4), number (XTN-12)."""

    use: str
    equipment: str
    address: str
    number: str

    @classmethod
    def read(cls, reader: Reader, raw: str) -> XTN:
        """Read one XTN repetition."""
        parts = reader.components(raw, 12)
        return cls(
            use=reader.text(parts[1]),
            equipment=reader.text(parts[2]),
            address=reader.text(parts[3]),
            number=reader.text(parts[11]) or reader.text(parts[0]),
        )


def _ts_parts(value: str, location: str) -> tuple[str, ...]:
    """Split a TS/DT (HL7 v2.5 2.A.75) into its groups; MappingError when malformed."""
    match = _TS.fullmatch(value)
    if match is None:
        raise MappingError(
            f"{value!r} is not an HL7 date/time (YYYY[MM[DD[HH[MM[SS]]]]][+/-ZZZZ])",
            location=location,
        )
    year, month, day, hour, minute, second, zone = (group or "" for group in match.groups())
    if month and not 1 <= int(month) <= 12:
        raise MappingError(f"{value!r} has month {month}, expected 01-12", location=location)
    if day and not 1 <= int(day) <= _DAYS[int(month) - 1]:
        raise MappingError(
            f"{value!r} has day {day}, not a day of month {month}", location=location
        )
    if (hour and int(hour) > 23) or (minute and int(minute) > 59) or (second and int(second) > 59):
        raise MappingError(f"{value!r} has a time of day out of range", location=location)
    if int(year) == 0 or (zone and (int(zone[1:3]) > 14 or int(zone[3:]) > 59)):
        raise MappingError(f"{value!r} has a year or UTC offset out of range", location=location)
    return year, month, day, hour, minute, second, zone


def fhir_date(value: str, location: str) -> str | None:
    """HL7 TS/DT to a FHIR ``date`` (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``); None when empty."""
    if not value:
        return None
    year, month, day, *_ = _ts_parts(value, location)
    return "-".join(part for part in (year, month, day) if part)


def fhir_datetime(value: str, location: str) -> str | None:
    """HL7 TS to a FHIR ``dateTime``; None when empty.

    FHIR requires an offset once a time is given. HL7 v2.5 2.A.75 lets a TS
    without offset be the sender's local time, which for the French profiles
    is Europe/Paris: the offset in force at that instant (winter or summer
    time) is added. A TS without a day stays a partial date.
    """
    if not value:
        return None
    year, month, day, hour, minute, second, zone = _ts_parts(value, location)
    date = "-".join(part for part in (year, month, day) if part)
    if not (hour and day):
        return date
    clock = f"{hour}:{minute or '00'}:{second or '00'}"
    if zone:
        return f"{date}T{clock}{zone[:3]}:{zone[3:]}"
    moment = datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute or 0),
        int(second or 0),
        tzinfo=_PARIS,
    )
    return moment.isoformat()
