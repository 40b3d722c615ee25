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
from pydicom.filewriter import write_data_element, write_file_meta_info
from pydicom.tag import tag_in_exception
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

__all__ = ["Split", "nodelay", "part10_bytes", "patch_header", "quickack", "read_header",
           "read_instance", "split_instance"]

PREAMBLE = b"\x00" * 128 + b"DICM"


def part10_bytes(file_meta: FileMetaDataset, dataset: bytes) -> bytes:
    """Preamble, prefix, File Meta Information group (PS3.10 7.1) and ``dataset`` as is."""
    buffer = DicomBytesIO()
    buffer.write(PREAMBLE)
    write_file_meta_info(buffer, file_meta, enforce_standard=True)
    buffer.write(dataset)
    return buffer.getvalue()


def read_header(part10: bytes) -> tuple[Dataset | None, str | None]:
    """The dataset without its pixel data, or None and why it cannot be read."""
    try:
        header = dcmread(io.BytesIO(part10), stop_before_pixels=True)
        header.get("SOPInstanceUID")  # reading is lazy: touch the first attributes
        header.get("StudyInstanceUID")
    except Exception as exc:  # pydicom raises many types on malformed input
        return None, f"the dataset cannot be read: {type(exc).__name__}: {exc}"[:500]
    return header, None


def read_instance(part10: bytes) -> Dataset:
    """The whole instance (pixel data kept as its encoded bytes, never decompressed)."""
    return dcmread(io.BytesIO(part10))


@dataclass(frozen=True, slots=True)
class Split:
    """An instance cut where its pixel data starts (PS3.5 7.1: elements in tag order).

    ``header`` holds every top-level element before (7FE0,0008/0009/0010), the
    only ones coercion touches; ``tail`` is the rest of the dataset exactly as
    stored (pixel data, and anything after it), sent as it is instead of being
    parsed and written again.
    """

    header: Dataset
    tail: memoryview


def split_instance(part10: bytes) -> Split | None:
    """The header and the untouched tail, or None when the bytes cannot be cut.

    A deflated dataset (PS3.5 A.5) is one zlib stream: it has no tail to keep.
    """
    fp = io.BytesIO(part10)
    header = dcmread(fp, stop_before_pixels=True)
    syntax = header.file_meta.get("TransferSyntaxUID")
    if syntax is None or syntax.is_deflated:
        return None
    # pydicom rewinds to the first byte of the pixel data element when it stops
    # before it (or stays at the end when there is none): the cut is exact.
    return Split(header, memoryview(part10)[fp.tell():])


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


def quickack(assoc: Any) -> None:
    """Acknowledge the peer's next segments at once (Linux TCP_QUICKACK).

    A peer that keeps Nagle's algorithm on (dcmtk does unless TCP_NODELAY is
    in its environment, hence Orthanc and storescp) writes its C-STORE-RSP in
    pieces and holds the second until the first is acknowledged, while our
    delayed ACK waits up to 40 ms: one response every ~50 ms per association.
    The kernel leaves quick-ack mode by itself, so it is set again around
    every PDU sent and received.
    """
    flag = getattr(socket, "TCP_QUICKACK", None)
    sock = getattr(getattr(assoc.dul, "socket", None), "socket", None)
    if flag is not None and sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, flag, 1)
        except OSError:  # the connection is closing: nothing left to acknowledge
            pass
