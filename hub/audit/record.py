"""One audit record and its place in the hash chain (pure: no I/O).

Each stored record carries ``prev_hash`` (the hash of the record before it,
64 zeros for the first) and ``hash = SHA-256(prev_hash || canonical JSON of
the record's content)``. Editing, removing or reordering a stored record
breaks the chain at that record: :func:`chain_break` names it.

Outcome codes are DICOM PS3.15 A.5 / FHIR AuditEvent.outcome: 0 success,
4 minor failure (refused, not found), 8 serious failure, 12 major failure.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

GENESIS = "0" * 64
SUCCESS, MINOR_FAILURE, SERIOUS_FAILURE = 0, 4, 8


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """Who did what, when, with which outcome, to which patients and data."""

    recorded_at: float
    interface: str                     # http, cli, mllp, dicom
    action: str                        # C R U D E (FHIR AuditEvent.action)
    outcome: int
    principal_id: str
    principal_name: str = ""
    principal_kind: str = ""
    roles: tuple[str, ...] = ()
    address: str = ""
    method: str = ""
    path: str = ""
    query: str = ""
    status: int = 0
    patients: tuple[str, ...] = ()     # system|value
    entities: tuple[str, ...] = ()     # DocumentReference/12, message/<id>
    purpose: str | None = None
    break_glass: str | None = None
    detail: str = field(default="")

    def content(self) -> dict[str, Any]:
        """The hashed content, as plain JSON values."""
        data = asdict(self)
        for key in ("roles", "patients", "entities"):
            data[key] = list(data[key])
        return data


def outcome_of(status: int) -> int:
    """The audit outcome of an HTTP status: 2xx/3xx success, 4xx minor, 5xx serious."""
    if status < 400:
        return SUCCESS
    return MINOR_FAILURE if status < 500 else SERIOUS_FAILURE


def canonical(content: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8: the same bytes for the same content."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def chain_hash(prev_hash: str, seq: int, content: dict[str, Any]) -> str:
    """The hash of record ``seq`` following ``prev_hash``."""
    digest = hashlib.sha256(prev_hash.encode("ascii"))
    digest.update(str(seq).encode("ascii"))
    digest.update(canonical(content))
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as the store holds it."""

    seq: int
    content: dict[str, Any]
    prev_hash: str
    hash: str


def chain_break(records: Iterable[StoredRecord], start: StoredRecord | None = None
                ) -> tuple[int, str] | None:
    """The first record (sequence number, why) where the chain breaks, None when whole."""
    expected_prev, expected_seq = (start.hash, start.seq + 1) if start else (GENESIS, 1)
    for record in records:
        if record.seq != expected_seq:
            return record.seq, f"sequence {expected_seq} expected (a record is missing)"
        if record.prev_hash != expected_prev:
            return record.seq, "prev_hash does not match the record before it"
        if chain_hash(record.prev_hash, record.seq, record.content) != record.hash:
            return record.seq, "content does not match its hash (edited)"
        expected_prev, expected_seq = record.hash, record.seq + 1
    return None
