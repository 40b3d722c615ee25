"""A fast, lazy HL7 v2 ER7 parser for the intake hot path.

Segments are split eagerly; fields are split the first time a segment is
read, components and subcomponents only when a field path asks for them
(:mod:`hub.hl7.paths`). Every failure is a :class:`hub.errors.ParseError`
carrying the segment, the field, an HL7 table 0357 code and a message that
quotes the offending value.

Rules followed (HL7 v2.5 chapter 2):

* 2.5.4 / 2.6: segments end with a carriage return; ``\\n`` and ``\\r\\n``
  are accepted too, and empty or blank segments are ignored.
* 2.14.9.1-2: MSH-1 is the field separator, MSH-2 the encoding characters
  (component, repetition, escape, subcomponent; v2.7 adds a truncation
  character, ignored here). MSH-2 is read after decoding so that a
  non-ASCII separator (``˜`` U+02DC, seen in published French samples) works.
* 2.14.9.18: MSH-18 (first repetition) names the character set of the whole
  message; it is read from the raw bytes before decoding.
* 2.9.2.1: MSH-9, MSH-10 and MSH-12 must be usable, otherwise the message
  is rejected (``reject=True``, answered AR).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hub.errors import ParseError
from hub.hl7.paths import compile_path

__all__ = ["CHARSETS", "Encoding", "Message", "Segment", "detect_charset", "parse"]

CHARSETS: dict[str, str] = {
    "ASCII": "ascii",
    "8859/1": "iso-8859-1",
    "8859/2": "iso-8859-2",
    "8859/3": "iso-8859-3",
    "8859/4": "iso-8859-4",
    "8859/5": "iso-8859-5",
    "8859/6": "iso-8859-6",
    "8859/7": "iso-8859-7",
    "8859/8": "iso-8859-8",
    "8859/9": "iso-8859-9",
    "8859/15": "iso-8859-15",
    "UNICODE UTF-8": "utf-8",
}
"""HL7 table 0211 values the hub decodes, with the Python codec for each."""

_UNSUPPORTED_CHARSETS = frozenset(
    {
        "UNICODE",
        "UNICODE UTF-16",
        "UNICODE UTF-32",
        "ISO IR14",
        "ISO IR87",
        "ISO IR159",
        "GB 18030-2000",
        "KS X 1001",
        "CNS 11643-1992",
        "BIG-5",
    }
)
"""Table 0211 values that are valid HL7 but not ASCII-compatible single-byte or UTF-8."""

_BOM = b"\xef\xbb\xbf"
_CODE = re.compile(r"[A-Z0-9]{3}")
_QUOTE_LIMIT = 60
_VALID_IDS: set[str] = set()
"""Segment ids already matched by ``_CODE`` (at most 36**3): a set lookup is cheaper."""


def quote_value(value: str) -> str:
    """Quote a value for an error message, shortened when long.

    Not ``repr``: an error text travels in ERR-8, where HL7 escaping already
    encodes a backslash (``\\E\\``); ``repr`` would double it first. Control
    characters are shown as ``<0x0D>``, which cannot be mistaken for content.
    """
    if len(value) > _QUOTE_LIMIT:
        value = value[:_QUOTE_LIMIT] + "..."
    return "'" + "".join(_visible(char) for char in value) + "'"


def _visible(char: str) -> str:
    code = ord(char)
    return f"<0x{code:02X}>" if code < 0x20 or code == 0x7F else char


@dataclass(frozen=True, slots=True)
class Encoding:
    """The delimiters of one message (HL7 v2.5 2.5.4, MSH-1 and MSH-2).

    ``subcomponent`` is empty when MSH-2 declares only three characters.
    """

    field: str
    component: str
    repetition: str
    escape: str
    subcomponent: str

    @property
    def characters(self) -> str:
        """The MSH-2 value: component, repetition, escape, subcomponent."""
        return self.component + self.repetition + self.escape + self.subcomponent


class Segment:
    """One segment; fields are split on first access.

    ``field(n)`` uses the HL7 sequence number. For MSH, MSH-1 is the field
    separator and MSH-2 the encoding characters (HL7 v2.5 2.14.9), so MSH-n
    numbering is the standard one.
    """

    __slots__ = ("_fields", "_separator", "id", "text")

    def __init__(self, text: str, separator: str) -> None:
        self.text = text
        self.id = text[:3]
        self._separator = separator
        self._fields: list[str] | None = None

    @property
    def fields(self) -> list[str]:
        """Raw fields, index 0 being the segment id and index n field n."""
        if self._fields is None:
            fields = self.text.split(self._separator)
            if self.id == "MSH":
                fields.insert(1, self._separator)
            self._fields = fields
        return self._fields

    def field(self, n: int) -> str:
        """Raw (still escaped) value of field ``n``, ``""`` when absent."""
        if n < 1:
            raise ValueError(f"field numbers start at 1, got {n}")
        fields = self.fields
        return fields[n] if n < len(fields) else ""

    def __len__(self) -> int:
        """Number of fields present (the last field's sequence number)."""
        return len(self.fields) - 1

    def __repr__(self) -> str:
        return f"<Segment {self.id}>"


class Message:
    """A parsed ER7 message. Build it with :func:`parse`."""

    __slots__ = ("_firsts", "_index", "charset", "encoding", "segments", "text")

    def __init__(self, segments: list[Segment], encoding: Encoding, charset: str) -> None:
        self.segments = segments
        self.encoding = encoding
        self.charset = charset
        self.text = "\r".join([segment.text for segment in segments])
        self._index: dict[str, list[Segment]] | None = None
        self._firsts: dict[str, str] = {}

    def segment(self, sid: str) -> Segment | None:
        """The first segment with id ``sid``, or None."""
        for segment in self.segments:
            if segment.id == sid:
                return segment
        return None

    def segments_named(self, sid: str) -> list[Segment]:
        """Every segment with id ``sid``, in message order."""
        if self._index is None:
            index: dict[str, list[Segment]] = {}
            for segment in self.segments:
                index.setdefault(segment.id, []).append(segment)
            self._index = index
        return self._index.get(sid, [])

    def get(self, path: str) -> list[str]:
        """Every non-empty, unescaped value the field path selects (``PID-3[*].5``)."""
        return compile_path(path).select(self)

    def first(self, path: str) -> str:
        """The first value the field path selects, ``""`` when none.

        Remembered per path: the header fields are read several times per
        message on the intake path (duplicate key, source, ACK, journal row).
        """
        found = self._firsts.get(path)
        if found is None:
            values = compile_path(path).select(self)
            found = self._firsts[path] = values[0] if values else ""
        return found

    @property
    def control_id(self) -> str:
        """MSH-10 message control id."""
        return self.first("MSH-10")

    @property
    def sending_application(self) -> str:
        """MSH-3 sending application (whole HD, unescaped)."""
        return self.first("MSH-3")

    @property
    def sending_facility(self) -> str:
        """MSH-4 sending facility (whole HD, unescaped)."""
        return self.first("MSH-4")

    @property
    def receiving_application(self) -> str:
        """MSH-5 receiving application (whole HD, unescaped)."""
        return self.first("MSH-5")

    @property
    def receiving_facility(self) -> str:
        """MSH-6 receiving facility (whole HD, unescaped)."""
        return self.first("MSH-6")

    @property
    def message_type(self) -> str:
        """MSH-9.1 message code (``ADT``)."""
        return self.first("MSH-9.1")

    @property
    def trigger_event(self) -> str:
        """MSH-9.2 trigger event (``A01``)."""
        return self.first("MSH-9.2")

    @property
    def message_structure(self) -> str:
        """MSH-9.3 message structure (``ADT_A01``), ``""`` when not sent."""
        return self.first("MSH-9.3")

    @property
    def processing_id(self) -> str:
        """MSH-11.1 processing id (``P``, ``D``, ``T``)."""
        return self.first("MSH-11.1")

    @property
    def version_id(self) -> str:
        """MSH-12.1 version id (``2.5``)."""
        return self.first("MSH-12.1")

    @property
    def accept_ack_type(self) -> str:
        """MSH-15 accept acknowledgment type (``AL``, ``NE``...)."""
        return self.first("MSH-15")

    @property
    def application_ack_type(self) -> str:
        """MSH-16 application acknowledgment type."""
        return self.first("MSH-16")

    @property
    def character_set(self) -> str:
        """MSH-18, first repetition (``UNICODE UTF-8``), ``""`` when not sent."""
        return self.first("MSH-18")

    def patient_key(self) -> str | None:
        """``<CX-1>@<CX-4.1 or CX-4.2>`` of the first PID-3 repetition, None without one.

        Used to keep per-patient order; the authority part is empty when the
        identifier carries no assigning authority.
        """
        number = self.first("PID-3.1")
        if not number:
            return None
        authority = self.first("PID-3.4.1") or self.first("PID-3.4.2")
        return f"{number}@{authority}"

    def __repr__(self) -> str:
        return (
            f"<Message {self.message_type}^{self.trigger_event} "
            f"control_id={self.control_id!r} segments={len(self.segments)}>"
        )


def _payload_start(data: bytes) -> int:
    """Offset of the first byte after a UTF-8 BOM and leading whitespace."""
    start = len(_BOM) if data.startswith(_BOM) else 0
    while start < len(data) and data[start] in b" \t\r\n\x0b\x0c":
        start += 1
    return start


def _first_line(data: bytes) -> bytes:
    end = len(data)
    for terminator in (b"\r", b"\n"):
        position = data.find(terminator, 0, end)
        if position >= 0:
            end = position
    return data[:end]


def _raw_msh18(data: bytes) -> bytes:
    """MSH-18 first repetition as raw bytes, read without decoding the message."""
    line = _first_line(data)
    if len(line) < 4:
        return b""
    fields = line.split(line[3:4], 18)
    if len(fields) < 18:
        return b""
    value = fields[17]
    encoding = fields[1].decode("utf-8", "replace")
    if len(encoding) > 1:
        value = value.split(encoding[1].encode("utf-8", "replace"), 1)[0]
    return value.strip()


def detect_charset(data: bytes, default: str = "utf-8") -> str:
    """The Python codec for the MSH-18 declared in ``data`` (HL7 v2.5 2.14.9.18).

    Returns ``default`` when MSH-18 is empty or absent. Raises ParseError
    (code 103, MSH-18) for a value outside table 0211 or one the hub cannot
    decode.
    """
    raw = _raw_msh18(data[_payload_start(data) :])
    if not raw:
        return default
    declared = raw.decode("ascii", "replace").upper()
    codec = CHARSETS.get(declared)
    if codec is not None:
        return codec
    if declared in _UNSUPPORTED_CHARSETS:
        reason = "is not supported by the hub"
    else:
        reason = "is not a value of HL7 table 0211"
    raise ParseError(
        f"MSH-18 is {quote_value(raw.decode('ascii', 'replace'))}, which {reason}; "
        f"expected one of {', '.join(CHARSETS)}",
        segment="MSH",
        field=18,
        code="103",
    )


def _decode(data: bytes, codec: str, offset: int) -> str:
    """Decode the message; a byte the declared charset refuses is code 102 on MSH-18."""
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.end]
        context = data[max(0, exc.start - 20) : exc.end + 20].decode(codec, "replace")
        raise ParseError(
            f"MSH-18 charset {codec} cannot decode byte(s) {bad.hex(' ').upper()} at offset "
            f"{offset + exc.start} (near {quote_value(context)}): "
            "MSH-18 does not match the bytes sent",
            segment="MSH",
            field=18,
            code="102",
        ) from exc


def _reject(message: str, field: int, code: str) -> ParseError:
    return ParseError(message, segment="MSH", field=field, code=code, reject=True)


def _read_encoding(msh: str) -> Encoding:
    """Read MSH-1 and MSH-2 (HL7 v2.5 2.14.9.1-2; v2.7 2.14.9.2 truncation ignored)."""
    if len(msh) < 4:
        raise _reject("MSH-1 (field separator) is missing", 1, "101")
    separator = msh[3]
    end = msh.find(separator, 4)
    characters = msh[4:end] if end >= 0 else msh[4:]
    if not characters:
        raise _reject("MSH-2 (encoding characters) is empty", 2, "101")
    distinct = len(set(characters + separator)) == len(characters) + 1
    if not 3 <= len(characters) <= 5 or not distinct:
        raise _reject(
            f"MSH-2 is {quote_value(characters)}, expected 4 distinct encoding characters "
            f"other than the field separator, such as '^~\\&'",
            2,
            "102",
        )
    subcomponent = characters[3] if len(characters) > 3 else ""
    return Encoding(separator, characters[0], characters[1], characters[2], subcomponent)


def _segments(lines: list[str], separator: str) -> list[Segment]:
    """Build the segments, skipping blank lines (HL7 v2.5 2.6: ids are 3 characters)."""
    segments = []
    for number, line in enumerate(lines, 1):
        if not line or line.isspace():
            continue
        if line[:3] not in _VALID_IDS or (len(line) > 3 and line[3] != separator):
            line = _repair_or_reject(line, number, separator)
        segments.append(Segment(line, separator))
    return segments


def _repair_or_reject(line: str, number: int, separator: str) -> str:
    """Accept a segment preceded by blanks; refuse a bad segment id (code 100)."""
    stripped = line.lstrip()
    if _CODE.match(stripped) and (len(stripped) == 3 or stripped[3] == separator):
        _VALID_IDS.add(stripped[:3])
        return stripped
    raise ParseError(
        f"line {number}: segment {quote_value(line)} does not start with a segment id of "
        f"3 characters A-Z 0-9 followed by {quote_value(separator)}",
        segment=line[:3],
        code="100",
    )


def _check_header(message: Message) -> None:
    """MSH-9, MSH-10 and MSH-12 must be usable (HL7 v2.5 2.9.2.1 a)."""
    msh = message.segments[0]
    _check_msh9(msh.field(9), message.encoding)
    if not msh.field(10):
        raise _reject("MSH-10 (message control id) is empty", 10, "101")
    if not msh.field(12).split(message.encoding.component, 1)[0]:
        raise _reject("MSH-12 (version id) is empty", 12, "101")


def _check_one_message(message: Message) -> None:
    """One MSH, first: MLLP carries one message per block (HL7 MLLP release 2, 1.3).

    A frame holding several messages is refused whole rather than split:
    a sender waits for one ACK per frame, and answering the first message
    only would leave the others unanswered and unstored.
    """
    for number, segment in enumerate(message.segments[1:], 2):
        if segment.id == "MSH":
            raise ParseError(
                f"segment {number} is a second MSH (control id "
                f"{quote_value(segment.field(10))}): an MLLP frame carries one message; "
                "nothing of this frame was accepted, send each message in its own frame",
                segment="MSH", sequence=2, code="100", reject=True,
            )


def _check_msh9(value: str, encoding: Encoding) -> None:
    """MSH-9 is ``<message code>^<trigger event>[^<structure>]`` (HL7 v2.5 2.14.9.9)."""
    parts = value.split(encoding.component)
    if not parts[0]:
        raise _reject("MSH-9 (message type) is empty", 9, "101")
    if len(parts) < 2 or not parts[1]:
        raise _reject(f"MSH-9 is {quote_value(value)}: the trigger event (MSH-9.2) is empty",
                      9, "101")
    if not _CODE.fullmatch(parts[0]):
        raise _reject(
            f"MSH-9 is {quote_value(value)}: message type {quote_value(parts[0])} is not "
            "3 characters A-Z 0-9",
            9,
            "200",
        )
    if not _CODE.fullmatch(parts[1]):
        raise _reject(
            f"MSH-9 is {quote_value(value)}: trigger event {quote_value(parts[1])} is not "
            "3 characters A-Z 0-9",
            9,
            "201",
        )


def parse(data: bytes, *, default_charset: str = "utf-8", check_header: bool = True) -> Message:
    """Parse one ER7 message.

    ``default_charset`` applies when MSH-18 is empty. ``check_header=False``
    skips the MSH-9/10/12 checks (for replies such as a bare ``ACK``).
    Raises :class:`hub.errors.ParseError`.
    """
    start = _payload_start(data)
    body = data[start:]
    if not body.startswith(b"MSH"):
        shown = quote_value(body[:20].decode("latin-1"))
        raise _reject(f"the message must start with 'MSH', got {shown}", 1, "100")
    charset = detect_charset(body, default_charset)
    text = _decode(body, charset, start)
    if "\n" in text:
        text = text.replace("\r\n", "\r").replace("\n", "\r")
    lines = text.split("\r")
    encoding = _read_encoding(lines[0])
    message = Message(_segments(lines, encoding.field), encoding, charset)
    if check_header:
        _check_header(message)
        _check_one_message(message)
    return message
