"""Strict validation against the HL7 v2 standard, with hl7apy (slow path, per source).

Only for sources configured ``strict``: it costs milliseconds per message.
hl7apy (``VALIDATION_LEVEL.STRICT``, ``find_groups=True``) knows the data
types, the segment definitions and the message structures; this module asks
it segment by segment first, so that errors name the segment and the field,
then checks the whole structure. hl7apy's exceptions carry no location, and
with ``find_groups`` it silently drops segments it cannot place: both are
made up for here.

What is changed before hl7apy sees the message, and why:

* Z segments (PAM France ZBE, ZFA, ZFD, ZFM...) are removed: they are local by
  definition (HL7 v2.5 2.8.2) and hl7apy has no definition for them.
* PRT is removed from messages declaring a version before 2.7: the CI-SIS
  "transmission de documents CDA en HL7v2" profile backports this v2.7
  segment into v2.5 ORU and v2.6 MDM messages.
* MSH-2 is rewritten with exactly four characters: hl7apy refuses three (no
  subcomponent separator) and five (truncation) below v2.7.
* An empty MSH-9.3 is filled from HL7 v2.5 table 0354 (``ADT^A40`` ->
  ``ADT_A39``); hl7apy would look for a structure named ``ADT_A40``.
* MSH-12 components after the first (``2.5^FRA^2.11``, PAM France) are left
  alone: hl7apy reads MSH-12.1 only.
* The data of an OBX-5 of type ED (ED.5) is cut to 64 characters: CI-SIS
  sends whole Base64 CDA documents there, beyond the 65536 characters hl7apy
  allows a TX, while OBX-5's length varies with OBX-2 (HL7 v2.5 7.4.2.5).

Known limits: hl7apy does not check the order of segments inside a group
(MRG before PID in an ADT_A39 patient group passes), and it cannot build a
message whose MSH-9 is a bare ``ACK`` in versions before 2.3.1.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hl7apy import check_version, load_reference
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.exceptions import (
    ChildNotFound,
    ChildNotValid,
    HL7apyException,
    MaxChildLimitReached,
    MaxLengthReached,
    UnsupportedVersion,
)
from hl7apy.parser import parse_field, parse_message, parse_segment
from hl7apy.validation import Validator

from hub.errors import ParseError
from hub.hl7.er7 import Message, Segment, quote_value

__all__ = ["STRUCTURES", "validate_strict"]

STRICT = VALIDATION_LEVEL.STRICT

_EVENTS = {
    "ADT_A01": "A01 A04 A08 A13",
    "ADT_A02": "A02",
    "ADT_A03": "A03",
    "ADT_A05": "A05 A14 A28 A31",
    "ADT_A06": "A06 A07",
    "ADT_A09": "A09 A10 A11 A12",
    "ADT_A15": "A15",
    "ADT_A16": "A16",
    "ADT_A17": "A17",
    "ADT_A20": "A20",
    "ADT_A21": "A21 A22 A23 A25 A26 A27 A29 A32 A33",
    "ADT_A24": "A24",
    "ADT_A30": "A47",
    "ADT_A37": "A37",
    "ADT_A38": "A38",
    "ADT_A39": "A40 A41 A42",
    "ADT_A43": "A43 A44",
    "ADT_A45": "A45",
    "ADT_A50": "A50 A51",
    "ADT_A52": "A52 A53 A55",
    "ADT_A54": "A54",
    "ADT_A60": "A60",
    "ADT_A61": "A61 A62",
    "MDM_T01": "T01 T03 T05 T07 T09 T11",
    "MDM_T02": "T02 T04 T06 T08 T10",
    "ORU_R01": "R01",
}
STRUCTURES: dict[tuple[str, str], str] = {
    (structure[:3], event): structure
    for structure, events in _EVENTS.items()
    for event in events.split()
}
"""HL7 v2.5 table 0354: (MSH-9.1, MSH-9.2) -> message structure, for the flows the hub takes."""

_LOCAL_BEFORE_27 = frozenset({"PRT"})
_SPARE_SUBCOMPONENT = "&#@!$%"
_REQUIRED = re.compile(r"Missing required child \w+\.([A-Z0-9]{3})_(\d+)")
_CHILD = re.compile(r"(?:Missing required child|Child limit exceeded) (\w+)\.(\w+)")


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def _table(name: str, version: str) -> frozenset[str] | None:
    """An HL7 table of ``version`` from hl7apy, None when hl7apy does not have it."""
    try:
        return frozenset(load_reference(name, "Table", version)[1])
    except ChildNotFound:
        return None


def _has_structure(structure: str, version: str) -> bool:
    try:
        load_reference(structure, "Message", version)
    except ChildNotFound:
        return False
    return True


def _header_error(message: Message) -> ParseError | None:
    """MSH-12 must be a version hl7apy knows (203), MSH-9 values must be in tables 0076/0003."""
    version = message.version_id
    try:
        check_version(version)
    except UnsupportedVersion:
        return ParseError(
            f"MSH-12 is {quote_value(version)}: HL7 version not supported by strict validation",
            segment="MSH",
            field=12,
            code="203",
            reject=True,
        )
    kind, event = message.message_type, message.trigger_event
    types, events = _table("HL70076", version), _table("HL70003", version)
    if types is not None and kind not in types:
        return _msh9_error(message, f"message type {quote_value(kind)} is not in HL7 table 0076",
                           "200")
    if events is not None and event not in events:
        return _msh9_error(message,
                           f"trigger event {quote_value(event)} is not in HL7 table 0003", "201")
    if not _has_structure(_structure(message), version):
        structure = quote_value(_structure(message))
        return _msh9_error(message, f"no message structure {structure}", "200")
    return None


def _msh9_error(message: Message, reason: str, code: str) -> ParseError:
    return ParseError(
        f"MSH-9 is {quote_value(message.first('MSH-9'))}: {reason} (HL7 v{message.version_id})",
        segment="MSH",
        field=9,
        code=code,
        reject=True,
    )


def _structure(message: Message) -> str:
    """MSH-9.3, or the table 0354 structure for MSH-9.1/9.2, or ``ACK``/``TYPE_EVENT``."""
    kind, event = message.message_type, message.trigger_event
    if message.message_structure:
        return message.message_structure
    if kind == "ACK":
        return "ACK"
    return STRUCTURES.get((kind, event), f"{kind}_{event}")


def _encoding_chars(message: Message) -> dict[str, str]:
    encoding = message.encoding
    subcomponent = encoding.subcomponent or next(
        char for char in _SPARE_SUBCOMPONENT if char not in message.text
    )
    return {
        "FIELD": encoding.field,
        "COMPONENT": encoding.component,
        "REPETITION": encoding.repetition,
        "ESCAPE": encoding.escape,
        "SUBCOMPONENT": subcomponent,
        "SEGMENT": "\r",
        "GROUP": "\r",
    }


def _msh_text(message: Message, chars: dict[str, str]) -> str:
    """MSH with four encoding characters and MSH-9.3 filled from v2.3.1 on (module docstring)."""
    fields = list(message.segments[0].fields)
    fields += [""] * (10 - len(fields))
    fields[2] = chars["COMPONENT"] + chars["REPETITION"] + chars["ESCAPE"] + chars["SUBCOMPONENT"]
    if _version_tuple(message.version_id) >= (2, 3, 1):
        c = chars["COMPONENT"]
        fields[9] = f"{message.message_type}{c}{message.trigger_event}{c}{_structure(message)}"
    return "MSH" + chars["FIELD"] + chars["FIELD"].join(fields[2:])


def _shrunk_ed(segment: Segment, chars: dict[str, str]) -> str:
    """OBX with an ED value whose data (ED.5) is cut to 64 characters (see the module docstring)."""
    fields = segment.text.split(chars["FIELD"])
    components = fields[5].split(chars["COMPONENT"])
    if len(components) > 4:
        components[4] = components[4][:64]
    fields[5] = chars["COMPONENT"].join(components)
    return chars["FIELD"].join(fields)


@dataclass(frozen=True, slots=True)
class _Item:
    """A segment as hl7apy will see it, with its 1-based position in the message."""

    position: int
    segment: Segment
    text: str

    @property
    def place(self) -> str:
        return f"segment {self.position} ({self.segment.id})"


def _items(message: Message, chars: dict[str, str]) -> list[_Item]:
    """The segments hl7apy should see, prepared as the module docstring says."""
    before_27 = _version_tuple(message.version_id) < (2, 7)
    items = []
    for position, segment in enumerate(message.segments, 1):
        if segment.id.startswith("Z") or (before_27 and segment.id in _LOCAL_BEFORE_27):
            continue
        text = segment.text
        if position == 1:
            text = _msh_text(message, chars)
        elif segment.id == "OBX" and segment.field(2) == "ED":
            text = _shrunk_ed(segment, chars)
        items.append(_Item(position, segment, text))
    return items


def _code(exc: Exception, *, structure: bool = False) -> str:
    """Table 0357 code for an hl7apy exception (a missing segment is 100, a missing field 101)."""
    if isinstance(exc, MaxChildLimitReached | ChildNotValid):
        return "100"
    if isinstance(exc, UnsupportedVersion):
        return "203"
    if str(exc).startswith(("Missing required child", "Child limit exceeded")):
        return "100" if structure else "101"
    return "102"


def _short(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:60] + "...")


def _describe(exc: Exception) -> str:
    """hl7apy's message, without the whole offending value it sometimes embeds."""
    if isinstance(exc, MaxLengthReached):
        return f"{len(str(exc.value))} characters, more than the {exc.limit} allowed"
    text = str(exc)
    return text if len(text) <= 200 else text[:200] + "..."


def _field_error(item: _Item, version: str, chars: dict[str, str], exc: Exception) -> ParseError:
    """Find the field hl7apy refused by parsing the fields one repetition at a time."""
    sid = item.segment.id
    values = item.text.split(chars["FIELD"])
    if sid == "MSH":
        values.insert(1, chars["FIELD"])
    for number, raw in enumerate(values[1:], 1):
        if sid == "MSH" and number <= 2:
            continue
        for repetition in filter(None, raw.split(chars["REPETITION"])):
            try:
                parse_field(
                    repetition,
                    name=f"{sid}_{number}",
                    version=version,
                    encoding_chars=chars,
                    validation_level=STRICT,
                )
            except (HL7apyException, ValueError) as field_exc:
                return ParseError(
                    f"{item.place}: {sid}-{number} is {_short(repetition)}: {_describe(field_exc)}",
                    segment=sid,
                    field=number,
                    code=_code(field_exc),
                )
    return ParseError(f"{item.place}: {_describe(exc)}", segment=sid, code=_code(exc))


def _validation_error(item: _Item, parsed: Any) -> ParseError | None:
    """Validator.validate on each field first (to locate it), then on the segment."""
    sid = item.segment.id
    for field in parsed.children:
        try:
            Validator.validate(field)
        except (HL7apyException, ValueError) as exc:
            number = int(field.name.rsplit("_", 1)[1])
            return ParseError(
                f"{item.place}: {sid}-{number} is {_short(field.to_er7())}: {_describe(exc)}",
                segment=sid,
                field=number,
                code=_code(exc),
            )
    try:
        Validator.validate(parsed)
    except (HL7apyException, ValueError) as exc:
        required = _REQUIRED.search(str(exc))
        missing = int(required.group(2)) if required else None
        return ParseError(f"{item.place}: {exc}", segment=sid, field=missing, code=_code(exc))
    return None


def _segment_error(item: _Item, version: str, chars: dict[str, str]) -> ParseError | None:
    """Errors of one segment: unknown id (100), bad field (102), missing field (101)."""
    try:
        load_reference(item.segment.id, "Segment", version)
    except ChildNotFound:
        return ParseError(
            f"{item.place} is not defined in HL7 v{version}", segment=item.segment.id, code="100"
        )
    try:
        parsed = parse_segment(
            item.text, version=version, encoding_chars=chars, validation_level=STRICT
        )
    except (HL7apyException, ValueError) as exc:
        return _field_error(item, version, chars, exc)
    return _validation_error(item, parsed)


def _flatten(element: Any) -> Iterator[str]:
    for child in element.children:
        if child.classname == "Segment":
            yield child.name
        else:
            yield from _flatten(child)


def _placement_error(items: list[_Item], parsed: Any, structure: str) -> ParseError | None:
    """hl7apy drops segments it cannot place in the structure: report the first one."""
    placed = _flatten(parsed)
    pending = next(placed, None)
    for item in items:
        if item.segment.id == pending:
            pending = next(placed, None)
            continue
        return ParseError(
            f"{item.place} is out of place for structure {structure}",
            segment=item.segment.id,
            code="100",
        )
    return None


def _structure_error(message: Message, items: list[_Item]) -> ParseError | None:
    """Cardinality and order of segments and groups (HL7 v2.5 2.12 abstract message syntax)."""
    structure = _structure(message)
    try:
        parsed = parse_message(
            "\r".join(item.text for item in items), validation_level=STRICT, find_groups=True
        )
        Validator.validate(parsed)
    except (HL7apyException, ValueError) as exc:
        child = _CHILD.search(str(exc))
        segment = child.group(2) if child and len(child.group(2)) == 3 else None
        if isinstance(exc, MaxChildLimitReached):
            segment = exc.child.name
        return ParseError(f"{structure}: {exc}", segment=segment, code=_code(exc, structure=True))
    return _placement_error(items, parsed, structure)


def validate_strict(message: Message) -> list[ParseError]:
    """Check ``message`` against the HL7 standard of its MSH-12 version, with hl7apy.

    Returns the errors found (empty when valid): the header problem if any,
    else one per faulty segment, else the first structural problem. Never
    raises for bad input: an unexpected hl7apy failure becomes code 207.
    """
    try:
        return _validate(message)
    except Exception as exc:  # hl7apy is not hardened against odd input
        return [ParseError(f"strict validation failed: {type(exc).__name__}: {exc}", code="207")]


def _validate(message: Message) -> list[ParseError]:
    header = _header_error(message)
    if header is not None:
        return [header]
    version = message.version_id
    chars = _encoding_chars(message)
    items = _items(message, chars)
    errors = [error for item in items if (error := _segment_error(item, version, chars))]
    if errors:
        return errors
    structural = _structure_error(message, items)
    return [structural] if structural else []
