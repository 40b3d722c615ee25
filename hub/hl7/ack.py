"""General acknowledgments: build the hub's ACKs, read the ones destinations send.

HL7 v2.5 2.9.2 (original mode) and 2.9.3 (enhanced mode) define the codes,
2.14.9 the MSH fields an ACK mirrors, 2.15.8 (MSA) and 2.15.5 (ERR) the
segments. Building an ACK is plain string formatting: it sits on the intake
hot path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hub.errors import ParseError
from hub.hl7.er7 import Encoding, Message, parse
from hub.hl7.paths import escape

__all__ = [
    "ACK_CODES",
    "HL7_TABLE_0357",
    "AckReply",
    "build_ack",
    "fallback_control_id",
    "parse_ack",
]

ACK_CODES = frozenset({"AA", "AE", "AR", "CA", "CE", "CR"})
"""HL7 table 0008 acknowledgment codes (original mode A*, enhanced mode C*)."""

HL7_TABLE_0357: dict[str, str] = {
    "0": "Message accepted",
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "206": "Application record locked",
    "207": "Application internal error",
}
"""HL7 table 0357 message error condition codes (HL7 v2.5 2.15.5.3)."""

_ASCII = Encoding("|", "^", "~", "\\", "&")
_LINE_END = re.compile(rb"[\r\n]")


@dataclass(frozen=True, slots=True)
class AckReply:
    """What a destination answered: MSA-1, MSA-2, MSA-3 or ERR-8, ERR-3.1."""

    code: str
    control_id: str
    text: str
    error_code: str

    @property
    def accepted(self) -> bool:
        """True for AA and CA."""
        return self.code in ("AA", "CA")


@dataclass(frozen=True, slots=True)
class _Header:
    """Raw (already escaped) MSH values of the ACK and the MSA-2 reference."""

    encoding: Encoding
    codec: str
    sending: str
    receiving: str
    trigger: str
    processing: str
    version: str
    charset: str
    reference: str


def _component(raw: str, encoding: Encoding, number: int) -> str:
    parts = raw.split(encoding.component)
    return parts[number - 1] if number <= len(parts) else ""


def _mirror(original: Message, receiving: tuple[str, str]) -> _Header:
    """HL7 v2.5 2.9.2.2 / 2.14.9: the ACK swaps MSH-3/4 and MSH-5/6, copies MSH-11/12/18."""
    msh = original.segments[0]
    encoding = original.encoding
    app = msh.field(5) or escape(receiving[0], encoding)
    facility = msh.field(6) or escape(receiving[1], encoding)
    return _Header(
        encoding=encoding,
        codec=original.charset,
        sending=f"{app}{encoding.field}{facility}",
        receiving=f"{msh.field(3)}{encoding.field}{msh.field(4)}",
        trigger=_component(msh.field(9), encoding, 2),
        processing=msh.field(11) or "P",
        version=msh.field(12) or "2.5",
        charset=msh.field(18),
        reference=msh.field(10),
    )


def fallback_fields(raw: bytes | None) -> list[str]:
    """Best-effort MSH fields of input that could not be parsed (index n = MSH-n).

    Decoded as latin-1 so that any byte reads; empty when no MSH line is found.
    """
    if not raw:
        return []
    start = raw.find(b"MSH")
    if start < 0:
        return []
    line = _LINE_END.split(raw[start:], maxsplit=1)[0].decode("latin-1")
    if len(line) < 4:
        return []
    return ["MSH", line[3], *line[4:].split(line[3])]


def fallback_control_id(raw: bytes | None) -> str:
    """Best-effort MSH-10 of input that could not be parsed, ``""`` when unreadable."""
    fields = fallback_fields(raw)
    return fields[10].strip() if len(fields) > 10 else ""


def _fallback(raw: bytes | None, receiving: tuple[str, str]) -> _Header:
    """An ASCII ``^~\\&`` header for input that could not be parsed at all."""
    return _Header(
        encoding=_ASCII,
        codec="ascii",
        sending=f"{escape(receiving[0], _ASCII)}|{escape(receiving[1], _ASCII)}",
        receiving="|",
        trigger="",
        processing="P",
        version="2.5",
        charset="",
        reference=escape(fallback_control_id(raw), _ASCII),
    )


def _msh(header: _Header, control_id: str, timestamp: str) -> str:
    f, c = header.encoding.field, header.encoding.component
    kind = f"ACK{c}{header.trigger}{c}ACK" if header.trigger else "ACK"
    tail = f"{f * 6}{header.charset}" if header.charset else ""
    return (
        f"MSH{f}{header.encoding.characters}{f}{header.sending}{f}{header.receiving}{f}"
        f"{escape(timestamp, header.encoding)}{f}{f}{kind}{f}{escape(control_id, header.encoding)}"
        f"{f}{header.processing}{f}{header.version}{tail}"
    )


def _err(error: ParseError, encoding: Encoding) -> str:
    """ERR-2 location (ERL), ERR-3 code (CWE, table 0357), ERR-4 severity, ERR-8 user message."""
    f, c = encoding.field, encoding.component
    location = ""
    if error.segment:
        location = f"{escape(error.segment, encoding)}{c}{error.sequence}"
        if error.field is not None:
            location += f"{c}{error.field}"
    code = f"{error.code}{c}{HL7_TABLE_0357.get(error.code, '')}{c}HL70357"
    return f"ERR{f}{f}{location}{f}{code}{f}E{f}{f}{f}{f}{escape(str(error), encoding)}"


def build_ack(
    original: Message | None,
    code: str,
    *,
    control_id: str,
    timestamp: str,
    error: ParseError | None = None,
    text: str = "",
    receiving: tuple[str, str] = ("HUB", "HUB"),
    raw_fallback: bytes | None = None,
) -> bytes:
    """The ACK for ``original``, encoded in its charset with its delimiters.

    MSH-9 is ``ACK^<trigger>^ACK``, MSH-10 ``control_id``, MSA-2 the
    original MSH-10 (HL7 v2.5 2.9.2.2). MSA-3 carries ``text``, or the
    error's message when there is an error and no text. With ``error`` an
    ERR segment names the location and the table 0357 code. Without
    ``original`` (unparseable input) the ACK uses ASCII ``^~\\&`` and MSA-2 is
    the MSH-10 read from ``raw_fallback`` when possible. Every segment ends
    with ``\\r`` (HL7 v2.5 2.5.4).
    """
    if code not in ACK_CODES:
        raise ValueError(f"acknowledgment code {code!r} is not one of {sorted(ACK_CODES)}")
    if original is None:
        header = _fallback(raw_fallback, receiving)
    else:
        header = _mirror(original, receiving)
    f = header.encoding.field
    note = text or (str(error) if error is not None else "")
    msa = f"MSA{f}{code}{f}{header.reference}"
    if note:
        msa += f"{f}{escape(note, header.encoding)}"
    segments = [_msh(header, control_id, timestamp), msa]
    if error is not None:
        segments.append(_err(error, header.encoding))
    return ("\r".join(segments) + "\r").encode(header.codec, "replace")


def parse_ack(data: bytes) -> AckReply:
    """Read a destination's acknowledgment; ParseError when it has no usable MSA.

    MSA-3 is deprecated since v2.4 but still sent; ERR-8 is used when it is
    empty. ERR-3.1 holds the table 0357 code; v2.3 replies carry it in
    ERR-1.4.1 (ELD) instead.
    """
    message = parse(data, check_header=False)
    if message.segment("MSA") is None:
        raise ParseError(
            f"reply {message.first('MSH-9')!r} has no MSA segment: not an acknowledgment",
            segment="MSA",
            code="100",
        )
    code = message.first("MSA-1")
    if code not in ACK_CODES:
        raise ParseError(
            f"MSA-1 is {code!r}, expected one of {', '.join(sorted(ACK_CODES))}",
            segment="MSA",
            field=1,
            code="103" if code else "101",
        )
    return AckReply(
        code=code,
        control_id=message.first("MSA-2"),
        text=message.first("MSA-3") or message.first("ERR-8"),
        error_code=message.first("ERR-3.1") or message.first("ERR-1.4.1"),
    )
