"""Instances as PS3.10 files: what the hub stores is what the sender sent.

The dataset bytes of a C-STORE are kept as received, in the negotiated
transfer syntax (PS3.7 9.3.1.1), behind a 128-byte preamble, ``DICM`` and the
File Meta Information (PS3.10 7.1). Nothing is decoded or re-encoded, so a
compressed instance stays compressed and its pixel data byte-identical.
"""

from __future__ import annotations

import io
import socket
import struct
from dataclasses import dataclass
from typing import Any

from pydicom import dcmread
from pydicom.charset import default_encoding
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_partial
from pydicom.filewriter import write_data_element, write_file_meta_info
from pydicom.pixels.utils import get_expected_length
from pydicom.tag import tag_in_exception
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

__all__ = ["Split", "nodelay", "part10_bytes", "patch_header", "quickack_socket", "read_header",
           "read_instance", "split_instance", "truncation"]

PREAMBLE = b"\x00" * 128 + b"DICM"


def part10_bytes(file_meta: FileMetaDataset, dataset: bytes) -> bytes:
    """Preamble, prefix, File Meta Information group (PS3.10 7.1) and ``dataset`` as is."""
    buffer = DicomBytesIO()
    buffer.write(PREAMBLE)
    write_file_meta_info(buffer, file_meta, enforce_standard=True)
    buffer.write(dataset)
    return buffer.getvalue()


def read_header(part10: bytes) -> tuple[Dataset | None, str | None]:
    """The dataset without its pixel data and why it is unusable, if it is.

    The header is None when it cannot be read at all; a header comes with an
    error when the dataset is truncated (:func:`truncation`).
    """
    fp = io.BytesIO(part10)
    try:
        header = dcmread(fp, stop_before_pixels=True)
        header.get("SOPInstanceUID")  # reading is lazy: touch the first attributes
        header.get("StudyInstanceUID")
        syntax = header.file_meta.TransferSyntaxUID
        error = None if syntax.is_deflated else truncation(
            part10, _dataset_offset(part10), syntax.is_implicit_VR, syntax.is_little_endian)
    except Exception as exc:  # pydicom raises many types on malformed input
        return None, f"the dataset cannot be read: {type(exc).__name__}: {exc}"[:500]
    if error is None:
        error = _short_pixel_data(header, part10, fp.tell())
    return header, error


class _Truncated(Exception):
    """An element's value runs past the end of the bytes received."""


ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD  # PS3.5 7.5


def _dataset_offset(part10: bytes) -> int:
    """Where the dataset begins: after the File Meta group (PS3.10 7.1, explicit VR LE)."""
    offset = len(PREAMBLE)
    while offset + 8 <= len(part10) and part10[offset:offset + 2] == b"\x02\x00":
        _, length, head = _element_head(part10, offset, False, "<")
        offset += head + length
    return offset


def _element_head(data: bytes, offset: int, implicit: bool, order: str) -> tuple[int, int, int]:
    """(tag, value length, header size) of the element at ``offset`` (PS3.5 7.1)."""
    if offset + 8 > len(data):
        raise _Truncated(offset)
    group, element = struct.unpack_from(order + "HH", data, offset)
    tag = group << 16 | element
    if implicit or group == 0xFFFE:  # items and delimiters have no VR (PS3.5 7.5)
        return tag, struct.unpack_from(order + "L", data, offset + 4)[0], 8
    vr = data[offset + 4:offset + 6].decode("latin-1")
    if vr in EXPLICIT_VR_LENGTH_32:
        if offset + 12 > len(data):
            raise _Truncated(offset)
        return tag, struct.unpack_from(order + "L", data, offset + 8)[0], 12
    return tag, struct.unpack_from(order + "H", data, offset + 6)[0], 8


def _walk(data: bytes, offset: int, implicit: bool, order: str, until: int | None) -> int:
    """Skip elements from ``offset`` to the end, or past the delimiter ``until``."""
    while offset < len(data) or until is not None:
        tag, length, head = _element_head(data, offset, implicit, order)
        offset += head
        if tag == until:
            return offset
        if length == UNDEFINED_LENGTH:
            offset = _walk(data, offset, implicit, order, SEQUENCE_END if tag != ITEM
                           else ITEM_END)
        elif offset + length > len(data):
            raise _Truncated(tag, length, len(data) - offset)
        else:
            offset += length
    return offset


def truncation(part10: bytes, offset: int, implicit: bool, little: bool) -> str | None:
    """Why the dataset from ``offset`` is shorter than its elements say; None when whole.

    Every element's value must fit in the bytes received (PS3.5 7.1.1) and
    every value of undefined length must end with its delimiter (PS3.5 7.5):
    a transfer cut short or a truncated file fails one of them. The answer
    fits an Error Comment (LO, 64 characters, PS3.7 C.4.2).
    """
    try:
        _walk(part10, offset, implicit, "<" if little else ">", None)
    except _Truncated as cut:
        if len(cut.args) == 3:
            tag, length, left = cut.args
            return f"truncated: ({tag >> 16:04X},{tag & 0xFFFF:04X}) declares {length} " \
                f"bytes, {left} remain"
        return "truncated: ends inside an element or before its delimiter"
    return None


def _short_pixel_data(header: Dataset, part10: bytes, cut: int) -> str | None:
    """Native Pixel Data shorter than Rows x Columns x samples x bits x frames (PS3.5 8.1.1)."""
    syntax = header.file_meta.TransferSyntaxUID
    if syntax.is_compressed or "Rows" not in header or cut >= len(part10):
        return None
    implicit, order = syntax.is_implicit_VR, "<" if syntax.is_little_endian else ">"
    tag, length, _ = _element_head(part10, cut, implicit, order)
    if tag != 0x7FE00010 or length == UNDEFINED_LENGTH:
        return None
    try:
        expected = int(get_expected_length(header, "bytes"))
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    if length >= expected:
        return None
    return f"truncated: Pixel Data has {length} bytes, the image needs {expected}"


def read_instance(part10: bytes) -> Dataset:
    """The whole instance (pixel data kept as its encoded bytes, never decompressed)."""
    return dcmread(io.BytesIO(part10))


@dataclass(frozen=True, slots=True)
class Split:
    """An instance cut between two top-level elements (PS3.5 7.1: elements in tag order).

    ``header`` holds the elements before the cut, which include every one
    coercion reads or sets; ``tail`` is the rest of the dataset exactly as
    stored (the other elements, the pixel data and anything after it), sent
    as it is instead of being parsed and written again.
    """

    header: Dataset
    tail: memoryview


PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
"""Float, Double Float and Pixel Data: where ``stop_before_pixels`` stops."""


def split_instance(part10: bytes, through: int | None = None) -> Split | None:
    """The header and the untouched tail, or None when the bytes cannot be cut.

    The cut is before the first top-level element after tag ``through`` (at
    the pixel data when None): what pydicom's ``write_dataset`` writes for
    the elements after it, up to the pixel data, must be their stored bytes,
    so the cut falls back to the pixel data when one of them would be written
    otherwise (an undefined length, a group length, an unusual VR); see
    :func:`_copied_as_stored`. A deflated dataset (PS3.5 A.5) is one zlib
    stream: it has no tail to keep.
    """
    fp = io.BytesIO(part10)
    if through is None:
        header = dcmread(fp, stop_before_pixels=True)
    else:
        def after(tag: int, _vr: str | None, _length: int) -> bool:
            return tag > through or tag in PIXEL_TAGS

        header = read_partial(fp, stop_when=after)
    syntax = header.file_meta.get("TransferSyntaxUID")
    if syntax is None or syntax.is_deflated:
        return None
    # pydicom rewinds to the first byte of the element it stops before (or
    # stays at the end when there is none): the cut is exact.
    cut = fp.tell()
    if through is not None and not _copied_as_stored(part10, cut, syntax.is_implicit_VR,
                                                     syntax.is_little_endian):
        return split_instance(part10)
    return Split(header, memoryview(part10)[cut:])


def _copied_as_stored(part10: bytes, offset: int, implicit_vr: bool,
                      little_endian: bool) -> bool:
    """Whether every top-level element from ``offset`` to the pixel data (or the end)
    is one :func:`patch_header` would copy as stored: a defined length, not a
    group length, and (explicit VR) a VR of two capital letters."""
    implicit_head, short_head, long_head = _HEADS[implicit_vr, little_endian]
    end = len(part10)
    while offset < end:
        if offset + 8 > end:
            return False
        group, element, length = implicit_head.unpack_from(part10, offset)
        if (group << 16 | element) in PIXEL_TAGS:
            return True
        if element == 0:
            return False  # a group length: write_dataset leaves it out (PS3.5 7.2)
        head = 8
        if not implicit_vr:
            _, _, vr, length = short_head.unpack_from(part10, offset)
            if not (vr.isalpha() and vr.isupper()):
                return False
            if vr.decode("ascii") in EXPLICIT_VR_LENGTH_32:
                if offset + 12 > end:
                    return False
                length = long_head.unpack_from(part10, offset)[4]
                head = 12
        if length == UNDEFINED_LENGTH:
            return False
        offset += head + length
    return offset == end


UNDEFINED_LENGTH = 0xFFFFFFFF
_HEADS = {(implicit, little): (struct.Struct(order + "HHL"), struct.Struct(order + "HH2sH"),
                               struct.Struct(order + "HH2sHL"))
          for implicit in (True, False) for little, order in ((True, "<"), (False, ">"))}
"""Element heads (PS3.5 7.1.1-7.1.3): implicit VR, explicit VR 16-bit and 32-bit length."""
_VR_HEADS: dict[str, tuple[bytes, bool]] = {}


def _vr_head(vr: str | None) -> tuple[bytes, bool] | None:
    """The VR as write_data_element writes it and whether a 32-bit length follows."""
    if vr is None or len(vr) != 2:
        return None  # write_data_element raises on it: left to it
    head = _VR_HEADS.get(vr)
    if head is None:
        head = _VR_HEADS[vr] = (bytes(vr, default_encoding), vr in EXPLICIT_VR_LENGTH_32)
    return head


def patch_header(header: Dataset, stored: bytes, implicit_vr: bool,
                 little_endian: bool) -> bytes | None:
    """``header`` encoded as pydicom's ``write_dataset`` would, reusing the stored bytes.

    Every element still raw (as read from ``stored``, never touched by
    coercion) is copied from ``stored``, consecutive ones as one slice; only
    the others (set, replaced or read as values since) go through pydicom's
    ``write_data_element``, in the same tag order and with the same character
    set as ``write_dataset``, so the bytes are the same, for a fraction of the
    work on a ~100-element header. None when ``write_dataset`` would convert
    every element anyway (another transfer syntax or character set than the
    stored one): the caller then writes the whole header.

    pydicom writes a raw element as its tag, its VR (explicit syntaxes), the
    length of its value and the value (``write_data_element``). The stored
    bytes of an element are kept only when they are checked to be exactly
    that: an undefined length (pydicom writes its own delimiter), a missing or
    ambiguous VR, or a value not found where it was read is left to pydicom.
    """
    if (implicit_vr, little_endian) != header.original_encoding or \
            header.original_character_set != header._character_set:
        return None
    fp = DicomBytesIO()
    fp.is_implicit_VR = implicit_vr
    fp.is_little_endian = little_endian
    implicit_head, short_head, long_head = _HEADS[implicit_vr, little_endian]
    view = memoryview(stored)
    # Read before the loop, as write_dataset does (reading it converts the raw element).
    encodings = header.get("SpecificCharacterSet", default_encoding)
    elements = dict(header.items())  # as stored: nothing converted by looking
    run_start = run_end = -1
    # int keys: the same order as write_dataset's sorted(BaseTag), compared in C.
    for tag in sorted(elements, key=int):
        if tag & 0xFFFF == 0 and tag >> 16 > 6:
            continue  # retired group lengths (PS3.5 7.2): write_dataset leaves them out
        elem = elements[tag]
        start = -1
        if isinstance(elem, RawDataElement):
            length, value, value_tell = elem.length, elem.value, elem.value_tell
            if length != UNDEFINED_LENGTH and value_tell is not None and \
                    isinstance(value, bytes) and len(value) == length:
                if implicit_vr:
                    head = implicit_head.pack(tag >> 16, tag & 0xFFFF, length)
                else:
                    vr_head = _vr_head(elem.VR)
                    head = b"" if vr_head is None else \
                        long_head.pack(tag >> 16, tag & 0xFFFF, vr_head[0], 0, length) \
                        if vr_head[1] else \
                        short_head.pack(tag >> 16, tag & 0xFFFF, vr_head[0], length)
                if head and value_tell >= len(head) and \
                        stored.startswith(head, value_tell - len(head)) and \
                        stored.startswith(value, value_tell):
                    start = value_tell - len(head)
        if start >= 0:
            if start != run_end:
                if run_end >= 0:
                    fp.write(view[run_start:run_end])
                run_start = start
            run_end = value_tell + length
            continue
        if run_end >= 0:
            fp.write(view[run_start:run_end])
            run_start = run_end = -1
        with tag_in_exception(tag):
            # get_item, as write_dataset: it loads a deferred value
            write_data_element(fp, header.get_item(tag), encodings)
    if run_end >= 0:
        fp.write(view[run_start:run_end])
    return bytes(fp.getvalue())


def nodelay(assoc: Any) -> None:
    """TCP_NODELAY on an association's socket: each PDU leaves at once.

    Without it, Nagle's algorithm holds the small C-STORE-RSP and P-DATA
    fragments behind delayed ACKs: about 20 small instances/s instead of 120.
    """
    sock = getattr(getattr(assoc.dul, "socket", None), "socket", None)
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def quickack_socket(sock: socket.socket) -> None:
    """Acknowledge the peer's next segments at once (Linux TCP_QUICKACK).

    A peer that keeps Nagle's algorithm on (dcmtk does unless TCP_NODELAY is
    in its environment, hence Orthanc and storescp) writes its C-STORE-RSP in
    pieces and holds the second until the first is acknowledged, while our
    delayed ACK waits up to 40 ms: one response every ~50 ms per association.
    The kernel leaves quick-ack mode by itself, so it is set again before
    every response is read.
    """
    flag = getattr(socket, "TCP_QUICKACK", None)
    if flag is None:
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, flag, 1)
    except OSError:  # the connection is closing (or TLS over a non-TCP socket)
        pass
