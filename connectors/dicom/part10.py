"""Instances as PS3.10 files: what the hub stores is what the sender sent.

The dataset bytes of a C-STORE are kept as received, in the negotiated
transfer syntax (PS3.7 9.3.1.1), behind a 128-byte preamble, ``DICM`` and the
File Meta Information (PS3.10 7.1). Nothing is decoded or re-encoded, so a
compressed instance stays compressed and its pixel data byte-identical.
"""

from __future__ import annotations

import io
import socket
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info

__all__ = ["nodelay", "part10_bytes", "read_header"]

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


def nodelay(assoc: Any) -> None:
    """TCP_NODELAY on an association's socket: each PDU leaves at once.

    Without it, Nagle's algorithm holds the small C-STORE-RSP and P-DATA
    fragments behind delayed ACKs: about 20 small instances/s instead of 120.
    """
    sock = getattr(getattr(assoc.dul, "socket", None), "socket", None)
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
