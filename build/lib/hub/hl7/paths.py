"""Field paths used by route files, and the HL7 escape rules for their values.

Syntax: ``SEG[occ]-F[rep][.C[.S]]``, all indexes 1-based:

* ``MSH-4.1``        first MSH, field 4, first repetition, component 1
* ``PID-3[*].5``     every repetition of PID-3, component 5
* ``PID-3[2].4.2``   second repetition, component 4, subcomponent 2
* ``OBX[*]-5``       field 5 of every OBX; ``OBX[2]-3.1`` the second OBX only

A selector left out means the first occurrence or repetition; ``[*]`` means
all of them. Without a component the whole repetition is returned. Selected
values are unescaped (HL7 v2.5 2.7) and empty ones are left out. MSH-1 and
MSH-2 are returned verbatim: they hold the delimiters themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hub.hl7.er7 import Encoding, Message

__all__ = ["Path", "compile_path", "escape", "unescape"]

_SYNTAX = "expected SEG[occ]-FIELD[rep][.COMPONENT[.SUBCOMPONENT]], e.g. 'PID-3[*].5' or 'OBX[2]-5'"
_SEGMENT = re.compile(r"([A-Z0-9]{3})(?:\[([^\]]*)\])?")
_FIELD = re.compile(r"([^\[\]]*)(?:\[([^\]]*)\])?")
_NUMBER = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class Path:
    """A compiled field path. ``None`` for occurrence or repetition means all (``[*]``)."""

    text: str
    segment: str
    occurrence: int | None
    field: int
    repetition: int | None
    component: int | None
    subcomponent: int | None

    def select(self, message: Message) -> list[str]:
        """Every non-empty, unescaped value this path selects in ``message``."""
        segments = message.segments_named(self.segment)
        if self.occurrence is not None:
            segments = segments[self.occurrence - 1 : self.occurrence]
        values: list[str] = []
        verbatim = self.segment == "MSH" and self.field <= 2
        for segment in segments:
            raw = segment.field(self.field)
            if not raw:
                continue
            if verbatim:
                values.extend(self._verbatim(raw))
            else:
                self._collect(raw, message, values)
        return values

    def _verbatim(self, raw: str) -> list[str]:
        """MSH-1 and MSH-2 are delimiters, neither split nor unescaped (HL7 v2.5 2.14.9.1-2)."""
        first = (self.repetition, self.component, self.subcomponent)
        return [raw] if all(index in (None, 1) for index in first) else []

    def _collect(self, raw: str, message: Message, values: list[str]) -> None:
        encoding = message.encoding
        repetitions = raw.split(encoding.repetition)
        if self.repetition is not None:
            repetitions = repetitions[self.repetition - 1 : self.repetition]
        for repetition in repetitions:
            value = self._part(repetition, encoding)
            if value:
                values.append(unescape(value, encoding, message.charset))

    def _part(self, repetition: str, encoding: Encoding) -> str:
        if self.component is None:
            return repetition
        components = repetition.split(encoding.component)
        if self.component > len(components):
            return ""
        value = components[self.component - 1]
        if self.subcomponent is None:
            return value
        if not encoding.subcomponent:
            return value if self.subcomponent == 1 else ""
        subcomponents = value.split(encoding.subcomponent)
        if self.subcomponent > len(subcomponents):
            return ""
        return subcomponents[self.subcomponent - 1]

    def __str__(self) -> str:
        return self.text


def _number(text: str, what: str) -> int:
    if not _NUMBER.fullmatch(text) or int(text) == 0:
        raise ValueError(f"{what} {text!r} must be a number from 1; {_SYNTAX}")
    return int(text)


def _selector(text: str | None, what: str) -> int | None:
    if text is None:
        return 1
    if text == "*":
        return None
    if not _NUMBER.fullmatch(text) or int(text) == 0:
        raise ValueError(f"{what} [{text}] must be [*] or a number from 1; {_SYNTAX}")
    return int(text)


@lru_cache(maxsize=4096)
def compile_path(path: str) -> Path:
    """Compile a field path; raises ValueError naming the part that is wrong."""
    text = path.strip()
    head, dash, rest = text.partition("-")
    if not dash:
        raise ValueError(f"no '-' between segment and field in {text!r}; {_SYNTAX}")
    segment = _SEGMENT.fullmatch(head)
    if segment is None:
        raise ValueError(
            f"segment {head!r} must be 3 characters A-Z 0-9, optionally with [n] or [*]; {_SYNTAX}"
        )
    pieces = rest.split(".")
    if len(pieces) > 3:
        raise ValueError(f"{rest!r} has more than field.component.subcomponent; {_SYNTAX}")
    field = _FIELD.fullmatch(pieces[0])
    if field is None:
        raise ValueError(f"field {pieces[0]!r} is malformed; {_SYNTAX}")
    component = _number(pieces[1], "component") if len(pieces) > 1 else None
    return Path(
        text=text,
        segment=segment.group(1),
        occurrence=_selector(segment.group(2), "segment occurrence"),
        field=_number(field.group(1), "field"),
        repetition=_selector(field.group(2), "repetition"),
        component=component,
        subcomponent=_number(pieces[2], "subcomponent") if len(pieces) > 2 else None,
    )


def _sequence(sequence: str, encoding: Encoding, charset: str) -> str:
    """Decode one escape sequence (HL7 v2.5 2.7.1-2.7.4); unknown ones stay as they were."""
    named = {
        "F": encoding.field,
        "S": encoding.component,
        "T": encoding.subcomponent,
        "R": encoding.repetition,
        "E": encoding.escape,
        ".br": "\n",
    }.get(sequence)
    if named:
        return named
    if len(sequence) > 1 and sequence[0] == "X":
        try:
            return bytes.fromhex(sequence[1:]).decode(charset)
        except (ValueError, LookupError):
            pass
    return f"{encoding.escape}{sequence}{encoding.escape}"


def unescape(value: str, encoding: Encoding, charset: str = "utf-8") -> str:
    """Replace HL7 escape sequences in a component or subcomponent value (HL7 v2.5 2.7).

    ``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\`` become the delimiters, ``\\.br\\`` a
    newline, ``\\Xhh..\\`` the bytes decoded in ``charset``; anything else
    (formatting ``\\H\\``, ``\\N\\``, ``\\Zxx\\``, an unterminated escape) is
    kept verbatim.
    """
    escape_char = encoding.escape
    if escape_char not in value:
        return value
    parts = value.split(escape_char)
    out = [parts[0]]
    last = len(parts) - 1
    index = 1
    while index <= last:
        if index == last:
            out.append(escape_char + parts[index])
            break
        out.append(_sequence(parts[index], encoding, charset))
        out.append(parts[index + 1])
        index += 2
    return "".join(out)


@lru_cache(maxsize=64)
def _escape_table(encoding: Encoding) -> dict[int, str]:
    esc = encoding.escape
    table = {
        ord(esc): f"{esc}E{esc}",
        ord(encoding.field): f"{esc}F{esc}",
        ord(encoding.component): f"{esc}S{esc}",
        ord(encoding.repetition): f"{esc}R{esc}",
        ord("\r"): f"{esc}.br{esc}",
        ord("\n"): f"{esc}.br{esc}",
    }
    if encoding.subcomponent:
        table[ord(encoding.subcomponent)] = f"{esc}T{esc}"
    return table


def escape(value: str, encoding: Encoding) -> str:
    """Escape delimiters and line breaks so ``value`` fits in one field (HL7 v2.5 2.7)."""
    return value.replace("\r\n", "\n").translate(_escape_table(encoding))
