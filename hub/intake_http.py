"""Intake of what arrives over HTTP (MHD ITI-65, plain CDA uploads): journal first.

ARCHITECTURE rules 1 to 3 for HTTP: a submission is answered 2xx only once
its bytes (blob) and its journal row are committed, in the same transaction
as what the service made of it; input that is refused is journaled as
``rejected`` with the reason before the error answer goes out. The HL7 v2
intake (:mod:`hub.intake`) is untouched: HTTP requests are handled one by
one by their service, which commits the ops built here with its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from hub.blobs import BlobStore, sha256_hex
from hub.db.committer import Op
from hub.db.engine import Database
from hub.journal import Journal, MessageRecord, new_message_id


@dataclass(frozen=True, slots=True)
class HttpArrival:
    """One HTTP request body and what identifies it in the journal."""

    payload: bytes
    protocol: str
    """``fhir`` (an MHD transaction) or ``cda`` (a plain document upload)."""
    message_type: str
    peer: str
    source: str = "http"
    control_id: str = ""
    patient_key: str | None = None
    received_at: float = 0.0


class HttpIntake:
    """Builds and commits the journal writes of HTTP arrivals."""

    def __init__(self, db: Database, journal: Journal, blobs: BlobStore) -> None:
        self._db = db
        self._journal = journal
        self._blobs = blobs

    def accepted(self, arrival: HttpArrival, *, destination: str,
                 detail: str) -> tuple[str, list[Op]]:
        """The journal id and writes of an arrival handled at once by ``destination``.

        The record is ``delivered`` with its ``received`` and ``delivered``
        events; the caller commits the ops with its own.
        """
        record, ops = self._stored(arrival, "delivered", None)
        j = self._journal
        ops += [j.event(record.id, "received", at=record.received_at),
                j.event(record.id, "delivered", destination=destination, detail=detail)]
        return record.id, ops

    async def rejected(self, arrival: HttpArrival, error: str) -> str:
        """Journal a refused arrival (bytes kept, status ``rejected``); return its id."""
        record, ops = self._stored(arrival, "rejected", error)
        await self._db.committer.run(
            *ops, self._journal.event(record.id, "rejected", detail=error,
                                      at=record.received_at), urgent=True)
        return record.id

    def _stored(self, arrival: HttpArrival, status: str,
                error: str | None) -> tuple[MessageRecord, list[Op]]:
        """The record of ``arrival`` and the writes of its bytes and its journal row."""
        record = self._record(arrival, status, error)
        _, blob_ops = self._blobs.ops_for(arrival.payload, record.sha256)
        return record, [*blob_ops, self._journal.record(record)]

    @staticmethod
    def _record(arrival: HttpArrival, status: str, error: str | None) -> MessageRecord:
        now = arrival.received_at or time.time()
        return MessageRecord(
            id=new_message_id(now), received_at=now, source=arrival.source,
            protocol=arrival.protocol, peer=arrival.peer[:128], sender=arrival.peer[:256],
            control_id=arrival.control_id[:64], message_type=arrival.message_type[:32],
            sha256=sha256_hex(arrival.payload), size=len(arrival.payload), status=status,
            patient_key=arrival.patient_key, ack_code="", ack=None, error=error)
