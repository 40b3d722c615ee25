"""Instances as PS3.10 files: what the hub stores is what the sender sent.

The dataset bytes of a C-STORE are kept as received, in the negotiated
transfer syntax (PS3.7 9.3.1.1), behind a 128-byte preamble, ``DICM`` and the
File Meta Information (PS3.10 7.1). Nothing is decoded or re-encoded, so a
compressed instance stays compressed and its pixel data byte-identical.
"""

from __future__ import annotations

import io
import socket
from dataclasses import dataclass
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info

__all__ = ["Split", "nodelay", "part10_bytes", "quickack", "read_header", "read_instance",
           "split_instance"]

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
