"""Reading CDA R2 data types from lxml elements.

Small helpers shared by the header, patient and lab mappers: element lookup
in the HL7 v3 namespace, the II, CD and TS data types (HL7 v3 Data Types R1,
as CDA R2 uses them), and errors that name the element by its path and line.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from lxml import etree

from hub.errors import MappingError

V3 = "urn:hl7-org:v3"
NS = {"v3": V3}
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"

# CI-SIS documents are produced in France: a timestamp given without an
# offset is read as French legal time rather than rejected.
DEFAULT_ZONE: tzinfo = ZoneInfo("Europe/Paris")

Element = etree._Element


def tag(name: str) -> str:
    """Clark notation of a CDA element name (``{urn:hl7-org:v3}name``)."""
    return f"{{{V3}}}{name}"


def local_name(element: Element) -> str:
    """Element name without its namespace."""
    return etree.QName(element).localname


def path_of(element: Element) -> str:
    """XPath-like location of ``element``: ``/ClinicalDocument/component[2]/section``.

    Positions are given only where siblings share the name. Computed on
    errors only.
    """
    steps: list[str] = []
    node: Element | None = element
    while node is not None:
        parent = node.getparent()
        name = local_name(node)
        if parent is not None:
            same = [child for child in parent if child.tag == node.tag]
            if len(same) > 1:
                name = f"{name}[{same.index(node) + 1}]"
        steps.append(name)
        node = parent
    return "/" + "/".join(reversed(steps))


def error_at(element: Element, message: str, child: str | None = None) -> MappingError:
    """A :class:`MappingError` located at ``element`` (and its ``child``), with the line."""
    location = path_of(element) + (f"/{child}" if child else "")
    line = element.sourceline
    suffix = f" (line {line})" if line else ""
    return MappingError(message + suffix, location=location)


@functools.cache
def _clark(path: str) -> tuple[str, ...]:
    # "v3:a/v3:b" -> ("{urn:hl7-org:v3}a", "{urn:hl7-org:v3}b"): child steps
    # walked with iterchildren, much cheaper than ElementPath with a
    # namespace map on every call.
    return tuple(tag(step.removeprefix("v3:")) for step in path.split("/"))


def find(element: Element, path: str) -> Element | None:
    """First match of a ``v3:``-prefixed child path (``v3:a/v3:b``) below ``element``."""
    steps = _clark(path)
    if len(steps) == 1:
        return next(element.iterchildren(steps[0]), None)
    return next(_walk(element, steps), None)


def findall(element: Element, path: str) -> list[Element]:
    """Every match of a ``v3:``-prefixed child path below ``element``, in document order."""
    steps = _clark(path)
    if len(steps) == 1:
        return list(element.iterchildren(steps[0]))
    return list(_walk(element, steps))


def _walk(element: Element, steps: tuple[str, ...]) -> Iterator[Element]:
    for child in element.iterchildren(steps[0]):
        if len(steps) == 1:
            yield child
        else:
            yield from _walk(child, steps[1:])


def text_of(element: Element | None) -> str | None:
    """Stripped text content of ``element`` (children included), ``None`` when blank."""
    if element is None:
        return None
    value = "".join(str(t) for t in element.itertext()).strip()
    return value or None


def template_ids(element: Element) -> list[str]:
    """The ``templateId/@root`` values declared on ``element``, in order."""
    return [root for t in findall(element, "v3:templateId") if (root := t.get("root"))]


@dataclass(frozen=True, slots=True)
class InstanceId:
    """An HL7 v3 II: ``root`` (OID or UUID) and optional ``extension``."""

    root: str
    extension: str | None = None

    @property
    def unique_id(self) -> str:
        """XDS form: ``root^extension``, or ``root`` alone."""
        return f"{self.root}^{self.extension}" if self.extension else self.root


def read_ii(element: Element | None) -> InstanceId | None:
    """The II carried by ``element``; ``None`` when absent or a nullFlavor without root."""
    if element is None:
        return None
    root = (element.get("root") or "").strip()
    if not root:
        return None
    extension = (element.get("extension") or "").strip() or None
    return InstanceId(root, extension)


@dataclass(frozen=True, slots=True)
class Code:
    """A coded value (CD/CE/CS): ``system`` is the OID of the code system."""

    code: str
    system: str | None = None
    display: str | None = None


def read_code(element: Element | None) -> Code | None:
    """The CD carried by ``element``; ``None`` when absent or without ``@code``."""
    if element is None:
        return None
    code = (element.get("code") or "").strip()
    if not code:
        return None
    return Code(code, element.get("codeSystem") or None, element.get("displayName") or None)


@dataclass(frozen=True, slots=True)
class Timestamp:
    """A TS value in the two spellings the hub needs.

    ``xds`` is the XDS DTM form in UTC at the precision given
    (``20210401161000``, ``20210401``); ``fhir`` the FHIR ``dateTime`` form
    with the original offset (``2021-04-01T17:10:00+01:00``); ``instant`` is
    set when the time is known to the second or finer.
    """

    xds: str
    fhir: str
    instant: datetime | None


_TS = re.compile(
    r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,6})?([+-]\d{4})?$", re.ASCII
)


def _zone(offset: str | None) -> tzinfo:
    if offset is None:
        return DEFAULT_ZONE
    sign = -1 if offset[0] == "-" else 1
    minutes = int(offset[1:3]) * 60 + int(offset[3:5])
    return UTC if minutes == 0 else timezone(sign * timedelta(minutes=minutes))


def _date_only(parts: tuple[str | None, ...]) -> Timestamp:
    year, month, day = parts[0], parts[1], parts[2]
    datetime(int(year or 0), int(month or 1), int(day or 1))  # range check
    fhir = "-".join(p for p in (year, month, day) if p)
    return Timestamp("".join(p for p in (year, month, day) if p), fhir, None)


def parse_ts(value: str) -> Timestamp:
    """Parse an HL7 v3 TS literal (``YYYYMMDDHHMMSS.UUUU+ZZZZ``, truncated at any point).

    Raises ``ValueError`` (and nothing else) when the literal is malformed or
    out of range, including a time that leaves the years 1-9999 once in UTC.
    """
    found = _TS.match(value.strip())
    if found is None:
        raise ValueError(f"{value!r} is not an HL7 TS (YYYYMMDDHHMMSS[.S][+ZZZZ])")
    parts = found.groups()
    if parts[3] is None:
        return _date_only(parts)
    fraction = parts[6] or ""
    moment = datetime(
        int(parts[0]), int(parts[1] or 1), int(parts[2] or 1), int(parts[3]),
        int(parts[4] or 0), int(parts[5] or 0),
        int(fraction[1:].ljust(6, "0")) if fraction else 0,
        tzinfo=_zone(parts[7]),
    )
    digits = 8 + 2 * sum(1 for p in parts[3:6] if p)
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        # 00010101000000 in Paris time is in year 0 in UTC: not a representable date.
        raise ValueError("it falls outside the years 0001 to 9999 once converted to UTC") \
            from None
    # strftime("%Y") drops the zero padding of years before 1000 on glibc.
    xds = (f"{utc.year:04d}{utc.month:02d}{utc.day:02d}"
           f"{utc.hour:02d}{utc.minute:02d}{utc.second:02d}")[:digits]
    spec = "microseconds" if fraction else "seconds"
    return Timestamp(xds, moment.isoformat(timespec=spec), moment if parts[5] else None)


def read_ts(element: Element | None) -> Timestamp | None:
    """The TS in ``element/@value``; a malformed one is a located MappingError."""
    if element is None:
        return None
    value = element.get("value")
    if not value:
        return None
    try:
        return parse_ts(value)
    except ValueError as error:
        raise error_at(element, f"@value {value!r} is not a valid timestamp: {error}") from None


def read_decimal(element: Element, attribute: str = "value") -> Decimal | None:
    """A REAL/PQ value kept exact (``1.950`` stays ``1.950``)."""
    raw = element.get(attribute)
    if raw is None or not raw.strip():
        return None
    try:
        number = Decimal(raw.strip())
    except InvalidOperation:
        raise error_at(element, f"@{attribute} {raw!r} is not a decimal number") from None
    if not number.is_finite():
        raise error_at(element, f"@{attribute} {raw!r} is not a finite number")
    return number
