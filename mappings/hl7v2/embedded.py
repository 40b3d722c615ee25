"""Decode the ED payload of an OBX (HL7 v2.5 2.A.24) and check that it is a CDA R2 document.

ED components: source application, type of data, data subtype (``XML`` for a
CDA), encoding (``Base64``, ``Hex`` or ``A`` for plain text, table 0299) and
the data. The CDA is parsed with a hardened parser: no DTD, no entity
expansion, no network, no huge trees, and a DOCTYPE is refused outright.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

from hub.errors import MappingError
from mappings.hl7v2.datatypes import Reader
from mappings.xml import parse_xml

__all__ = ["MAX_DOCUMENT_BYTES", "EncapsulatedData", "check_cda", "decode_ed"]

MAX_DOCUMENT_BYTES = 32 * 1024 * 1024
"""Largest embedded document accepted (decoded size)."""

CDA_ROOT = "{urn:hl7-org:v3}ClinicalDocument"
_BLANKS = re.compile(r"\s+")
_FORBIDDEN = (b"<!DOCTYPE", b"<!ENTITY")


@dataclass(frozen=True, slots=True)
class EncapsulatedData:
    """A decoded ED value: ED-2 type, ED-3 subtype, ED-4 encoding and the bytes."""

    type_of_data: str
    subtype: str
    encoding: str
    content: bytes


def _base64(text: str, location: str, lenient: bool) -> bytes:
    """Decode Base64; the strict C decoder first, then a tolerant pass (blanks, padding)."""
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        pass
    data = _BLANKS.sub("", text)
    _check_alphabet(data, location)
    if lenient and len(data) % 4 == 1:
        # A lone trailing character carries 6 bits: no byte is lost by dropping it.
        data = data[:-1]
    try:
        return binascii.a2b_base64(data + "=" * (-len(data) % 4), strict_mode=False)
    except (binascii.Error, ValueError) as exc:
        raise MappingError(f"ED data is not valid Base64 ({exc})", location=location) from None


def _check_alphabet(text: str, location: str) -> None:
    """Only the Base64 alphabet (RFC 4648 section 4) and trailing padding are accepted."""
    stripped = text.rstrip("=")
    alphabet = stripped.replace("+", "").replace("/", "")
    if (stripped and not alphabet.isalnum()) or not text.isascii():
        raise MappingError(
            "ED data holds characters outside the Base64 alphabet", location=location
        )


def decode_ed(
    reader: Reader, raw: str, location: str, *, lenient: bool = False
) -> EncapsulatedData:
    """Decode one ED value (OBX-5). ``lenient`` tolerates a truncated Base64 tail (mail bodies)."""
    parts = raw.split(reader.encoding.repetition, 1)[0].split(reader.encoding.component, 4)
    parts += [""] * (5 - len(parts))
    kind, subtype, encoding = (reader.text(part) for part in parts[1:4])
    data = parts[4]
    method = encoding.upper()
    if method == "BASE64":
        content = _base64(data, location, lenient)
    elif method == "HEX":
        try:
            content = bytes.fromhex(data)
        except ValueError:
            raise MappingError("ED data is not valid hexadecimal", location=location) from None
    elif method in ("A", ""):
        content = reader.text(data).encode("utf-8")
    else:
        raise MappingError(
            f"ED encoding {encoding!r} is not Base64, Hex or A (table 0299)", location=location
        )
    if len(content) > MAX_DOCUMENT_BYTES:
        raise MappingError(
            f"embedded data is {len(content)} bytes, over {MAX_DOCUMENT_BYTES}", location=location
        )
    return EncapsulatedData(kind, subtype, encoding, content)


def check_cda(content: bytes, location: str) -> None:
    """Raise MappingError unless ``content`` is a well-formed CDA R2 ``ClinicalDocument``.

    Parsed with the project's one hardened parser (:func:`mappings.xml.parse_xml`:
    no DTD, no entities, no network); the error keeps the OBX location.
    """
    for marker in _FORBIDDEN:
        if marker in content:
            raise MappingError(
                f"embedded document declares {marker.decode()[2:]}: refused (no DTD, no entities)",
                location=location,
            )
    try:
        root = parse_xml(content, max_bytes=MAX_DOCUMENT_BYTES, what="embedded document")
    except MappingError as exc:
        raise MappingError(f"{exc}", location=location) from None
    if root.tag != CDA_ROOT:
        raise MappingError(
            f"embedded document root is {root.tag!r}, expected ClinicalDocument in urn:hl7-org:v3",
            location=location,
        )
