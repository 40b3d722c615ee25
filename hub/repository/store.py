"""The document repository service: file, replace, delete, read, search.

Filing follows the XDS document lifecycle (IHE ITI TF-3 4.1.6 document
relationships, RPLC; 4.1.7 availabilityStatus) as MHD exposes it
(``DocumentReference.status``): see :mod:`hub.repository.model` for the
transition table. One submission is one transaction: the blobs, the
document rows, their patient index rows, the submission set and the status
changes of replaced or deleted versions commit together, with whatever the
caller adds (the journal row of the HTTP request that brought them).

Filings are planned one at a time under one lock per process: a filing reads
what is stored (is this uniqueId known, which version does it replace) and
then writes, and the unique index on ``unique_id`` is the last guard across
processes. The lock is released once the writes are handed to the group
committer, so that concurrent filings share commits; a filing whose plan
reads a uniqueId or setId that a filing still in flight wrote waits for that
commit first, then reads the database (which says whether it committed).
"""

from __future__ import annotations

import asyncio
import calendar
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Insert, Update, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from hub.blobs import BlobStore, sha256_hex
from hub.db.committer import Op, Write
from hub.db.engine import Database
from hub.db.tables import document_identifiers, documents, submission_sets
from hub.journal import new_message_id
from hub.patients import Identifier, PatientDirectory
from hub.repository.model import (
    CURRENT,
    ENTERED_IN_ERROR,
    LIFECYCLE,
    Action,
    DocumentConflict,
    Filed,
    Filing,
    LifecycleError,
    Submission,
    UnknownDocument,
)
from hub.repository.search import Access, Criteria, Reader, SubmissionCriteria, conditions

Row = dict[str, Any]
_TOTAL = "search_total"


def dtm_epoch(dtm: str | None) -> float | None:
    """XDS DTM (UTC, ``YYYY[MM[DD[hh[mm[ss]]]]]``) -> epoch seconds of its first instant."""
    if not dtm:
        return None
    digits = dtm[:14]
    parts = [int(digits[0:4]), int(digits[4:6] or 1), int(digits[6:8] or 1),
             int(digits[8:10] or 0), int(digits[10:12] or 0), int(digits[12:14] or 0)]
    return float(calendar.timegm((*parts, 0, 0, 0)))


@dataclass(frozen=True)
class _Statements:
    insert_document: Insert
    insert_identifier: Insert
    insert_submission: Insert
    supersede: Update
    set_status: Update


def _statements(dialect: str) -> _Statements:
    ignore = postgresql.insert if dialect == "postgresql" else sqlite.insert
    d = documents.c
    return _Statements(
        insert_document=insert(documents),
        insert_identifier=ignore(document_identifiers).on_conflict_do_nothing(),
        insert_submission=insert(submission_sets),
        supersede=update(documents).where(d.id == bindparam("b_id")).values(
            status=bindparam("b_status"), replaced_by=bindparam("b_by"),
            updated_at=bindparam("b_at")),
        set_status=update(documents).where(d.id == bindparam("b_id")).values(
            status=bindparam("b_status"), updated_at=bindparam("b_at")),
    )


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a filing needs computed, and can be computed before the filing lock: CPU only."""

    sha256: str
    meta: str


def prepare(filing: Filing) -> Prepared:
    """The content hash and the stored metadata JSON (none for a deletion: nothing is inserted)."""
    meta = "" if filing.action is Action.DELETION else _meta(filing)
    return Prepared(sha256_hex(filing.content), meta)


@dataclass
class _Plan:
    """One submission being prepared: rows seen or created, ops, outcomes."""

    now: float
    submission_id: str
    submission: Submission
    prepared: Sequence[Prepared] = ()
    rows: dict[str, Row] = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)
    filed: list[Filed] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(f.outcome != "unchanged" for f in self.filed)


def _first_code(codes: Sequence[Any]) -> str:
    return str(codes[0].code) if codes else "N"


def _families(filing: Filing) -> str:
    names = [a.person.family.upper() for a in filing.mapping.entry.authors
             if a.person is not None and a.person.family]
    return "|" + "|".join(names) + "|" if names else "|"


def document_identifiers_of(filing: Filing) -> list[Identifier]:
    """Every identifier the document is filed under: the sender's, the CDA's, the INS."""
    found: list[Identifier] = list(filing.patient.identifiers)
    for identifier in filing.mapping.patient.identifier or []:
        if identifier.system and identifier.value:
            found.append((str(identifier.system), str(identifier.value)))
    if filing.patient.ins is not None:
        found.append(filing.patient.ins)
    return list(dict.fromkeys(found))


def subject_of(filing: Filing) -> Identifier:
    """The identifier the document is shown under: the INS, else the first local one."""
    if filing.patient.ins is not None:
        return filing.patient.ins
    identifiers = document_identifiers_of(filing)
    if not identifiers:
        raise UnknownDocument("the document names no patient identifier")
    return identifiers[0]


def _meta(filing: Filing) -> str:
    reference = filing.mapping.document_reference.model_dump(
        mode="json", exclude_none=True, by_alias=True)
    return json.dumps({"entry": filing.mapping.entry.to_json(),
                       "document_reference": reference}, ensure_ascii=False)


def document_row(doc_id: str, filing: Filing, prepared: Prepared, plan: _Plan,
                 replaces: str | None) -> Row:
    """The ``documents`` row of a new version."""
    entry = filing.mapping.entry
    system, value = subject_of(filing)
    ins = filing.patient.ins
    v = filing.visibility
    return {
        "id": doc_id, "unique_id": entry.unique_id, "status": CURRENT,
        "sha256": prepared.sha256, "sha1": entry.hash, "size": len(filing.content),
        "mime_type": entry.mime_type, "set_id": entry.set_id, "version": entry.version_number,
        "replaces": replaces, "replaced_by": None, "submission_id": plan.submission_id,
        "patient_system": system, "patient_value": value,
        "ins_system": ins[0] if ins else None, "ins_value": ins[1] if ins else None,
        "shareable": bool(ins and filing.patient.ins_qualified),
        "masque_ps": v.masque_ps, "invisible_patient": v.invisible_patient,
        "invisible_rep_legaux": v.invisible_rep_legaux, "connexion_secrete": v.connexion_secrete,
        "confidentiality": _first_code(entry.confidentiality_codes),
        "type_code": entry.type_code.code,
        "class_code": entry.class_code.code if entry.class_code else None,
        "format_code": entry.format_code.code,
        "facility_code": (entry.healthcare_facility_type_code.code
                          if entry.healthcare_facility_type_code else None),
        "setting_code": entry.practice_setting_code.code if entry.practice_setting_code else None,
        "author_families": _families(filing),
        "creation_at": dtm_epoch(entry.creation_time) or plan.now,
        "service_start_at": dtm_epoch(entry.service_start_time),
        "service_stop_at": dtm_epoch(entry.service_stop_time),
        "filed_at": plan.now, "updated_at": plan.now, "source": plan.submission.source,
        "message_id": plan.submission.message_id, "meta": prepared.meta,
    }


class Repository:
    """Files CDA documents and answers MHD reads (see the module docstring)."""

    def __init__(self, db: Database, blobs: BlobStore, patients: PatientDirectory) -> None:
        self.db = db
        self.blobs = blobs
        self.patients = patients
        self._st = _statements(db.dialect)
        self._lock = asyncio.Lock()
        self._in_flight: dict[str, asyncio.Task[None]] = {}

    # -- filing -------------------------------------------------------------------

    async def file(self, filings: Sequence[Filing], submission: Submission,
                   extra_ops: Sequence[Op] = ()) -> tuple[str | None, list[Filed]]:
        """File ``filings`` as one submission, atomically; return the List id and outcomes.

        Raises a :class:`~hub.repository.model.RepositoryError` (nothing
        stored) or :class:`~hub.errors.StorageError`. The List id is None when
        nothing changed (the same documents sent again).
        """
        prepared = [prepare(filing) for filing in filings]  # outside the lock: CPU only
        async with self._lock:
            plan = _Plan(time.time(), new_message_id(), submission, prepared)
            for index, filing in enumerate(filings):
                await self._plan_one(index, filing, plan)
            if plan.changed:
                plan.ops.append(Write(self._st.insert_submission,
                                      self._submission_row(filings, plan)))
            if not (plan.ops or extra_ops):
                return None, plan.filed
            commit = asyncio.create_task(self.db.committer.run(*plan.ops, *extra_ops,
                                                               urgent=True))
            self._hold(plan, commit)
        await asyncio.shield(commit)
        return (plan.submission_id if plan.changed else None), plan.filed

    def _hold(self, plan: _Plan, commit: asyncio.Task[None]) -> None:
        """Mark the uniqueIds and setIds ``plan`` read or wrote as in flight until ``commit`` ends.

        The marks go when the commit ends, not when the caller stops waiting
        (a cancelled caller leaves its commit running).
        """
        keys = [*plan.rows, *(f"set:{r['set_id']}" for r in plan.rows.values() if r["set_id"])]
        for key in keys:
            self._in_flight[key] = commit

        def release(done: asyncio.Task[None]) -> None:
            for key in keys:
                if self._in_flight.get(key) is done:
                    del self._in_flight[key]

        commit.add_done_callback(release)

    async def _settled(self, key: str) -> None:
        """Wait for the in-flight commit that wrote ``key``, whatever its outcome."""
        commit = self._in_flight.get(key)
        if commit is not None:
            await asyncio.wait([commit])

    @staticmethod
    def _submission_row(filings: Sequence[Filing], plan: _Plan) -> Row:
        submission = plan.submission
        system, value = subject_of(filings[0])
        return {"id": plan.submission_id,
                "unique_id": submission.unique_id or f"urn:uuid:{plan.submission_id}",
                "source_id": submission.source_id, "patient_system": system,
                "patient_value": value, "submitted_at": plan.now, "source": submission.source,
                "message_id": submission.message_id, "title": submission.title}

    async def _lookup(self, unique_id: str, plan: _Plan) -> Row | None:
        if unique_id in plan.rows:
            return plan.rows[unique_id]
        await self._settled(unique_id)
        row = await self._one(documents.c.unique_id == unique_id)
        if row is not None:
            plan.rows[unique_id] = row
        return row

    async def _current_of_set(self, set_id: str, plan: _Plan) -> Row | None:
        for row in plan.rows.values():
            if row.get("set_id") == set_id and row["status"] == CURRENT:
                return row
        await self._settled(f"set:{set_id}")
        return await self._one(documents.c.set_id == set_id, documents.c.status == CURRENT)

    async def _plan_one(self, index: int, filing: Filing, plan: _Plan) -> None:
        unique_id = filing.mapping.entry.unique_id
        existing = await self._lookup(unique_id, plan)
        if filing.action is Action.DELETION:
            self._plan_deletion(index, unique_id, existing, plan)
            return
        if existing is not None:
            if existing["sha256"] != plan.prepared[index].sha256:
                raise DocumentConflict(
                    f"document {unique_id} is already filed (DocumentReference/{existing['id']})"
                    " with different content; a new version needs a new uniqueId", index=index)
            plan.filed.append(Filed(existing["id"], unique_id, "unchanged", existing["status"]))
            return
        target, note = await self._replaced(index, filing, plan)
        doc_id = new_message_id(plan.now)
        row = document_row(doc_id, filing, plan.prepared[index], plan,
                           target["id"] if target else None)
        self._plan_insert(filing, row, plan)
        if target is None:
            plan.filed.append(Filed(doc_id, unique_id, "created", CURRENT, note=note))
            return
        target.update(status=LIFECYCLE[(target["status"], Action.REPLACEMENT)],
                      replaced_by=doc_id)
        plan.rows.setdefault(target["unique_id"], target)
        plan.ops.append(Write(self._st.supersede, {"b_id": target["id"], "b_status":
                                                   target["status"], "b_by": doc_id,
                                                   "b_at": plan.now}))
        plan.filed.append(Filed(doc_id, unique_id, "replaced", CURRENT, previous=target["id"]))

    def _plan_insert(self, filing: Filing, row: Row, plan: _Plan) -> None:
        _, blob_ops = self.blobs.ops_for(filing.content, row["sha256"])
        plan.ops.extend(blob_ops)
        plan.ops.append(Write(self._st.insert_document, row))
        plan.ops.extend(
            Write(self._st.insert_identifier,
                  {"system": system, "value": value, "document_id": row["id"]})
            for system, value in document_identifiers_of(filing))
        plan.rows[row["unique_id"]] = row

    async def _replaced(self, index: int, filing: Filing,
                        plan: _Plan) -> tuple[Row | None, str | None]:
        """The stored version this filing replaces (CDA RPLC, relatesTo, TXA-13, setId)."""
        entry = filing.mapping.entry
        named = entry.replaces or filing.replaces
        if named:
            target = await self._lookup(named, plan)
        elif filing.action is Action.REPLACEMENT and entry.set_id:
            target = await self._current_of_set(entry.set_id, plan)
        else:
            return None, None
        if target is None:
            what = (f"replaced document {named}" if named
                    else f"a current version of set {entry.set_id}")
            if filing.strict_replacement:
                raise UnknownDocument(f"{what} is not in the repository", index=index)
            return None, f"{what} is not in the repository: filed as a new document"
        if (target["status"], Action.REPLACEMENT) not in LIFECYCLE:
            by = target.get("replaced_by")
            raise LifecycleError(
                f"document {target['unique_id']} is {target['status']}"
                f"{f' (replaced by DocumentReference/{by})' if by else ''}"
                ": only a current document can be replaced", index=index)
        return target, None

    def _plan_deletion(self, index: int, unique_id: str, existing: Row | None,
                       plan: _Plan) -> None:
        if existing is None:
            raise UnknownDocument(f"document {unique_id} to delete is not in the repository",
                                  index=index)
        before = existing["status"]
        after = LIFECYCLE[(before, Action.DELETION)]
        if before == after:
            plan.filed.append(Filed(existing["id"], unique_id, "unchanged", after))
            return
        existing["status"] = after
        plan.ops.append(Write(self._st.set_status,
                              {"b_id": existing["id"], "b_status": after, "b_at": plan.now}))
        plan.filed.append(Filed(existing["id"], unique_id, "deleted", ENTERED_IN_ERROR))

    # -- reading ------------------------------------------------------------------

    @staticmethod
    def may_see(row: Row, access: Access) -> bool:
        """Whether ``access`` may read ``row`` (the rule of :func:`search.visibility`)."""
        reader = access.reader
        if reader is Reader.ADMIN:
            return True
        if reader is Reader.PATIENT:
            return not row["invisible_patient"]
        if reader is Reader.LEGAL_REPRESENTATIVE:
            return not (row["invisible_rep_legaux"] or row["connexion_secrete"])
        return access.break_glass or not (row["masque_ps"] or row["confidentiality"] == "V")

    async def get(self, doc_id: str) -> Row | None:
        """One document row by id."""
        return await self._one(documents.c.id == doc_id)

    async def _one(self, *where: Any) -> Row | None:
        """The first ``documents`` row matching ``where``, or None."""
        found = await self.db.fetch(select(documents).where(*where))
        return dict(found[0]._mapping) if found else None

    async def filed_under(self, doc_id: str) -> list[Identifier]:
        """Every identifier a document was filed under (sender's, CDA's, INS)."""
        index = document_identifiers.c
        query = select(index.system, index.value).where(index.document_id == doc_id)
        return [(str(r[0]), str(r[1])) for r in await self.db.fetch(query)]

    async def content(self, row: Row) -> bytes:
        """The stored bytes of a document."""
        return await self.blobs.get(row["sha256"])

    async def identifiers(self, identifier: Identifier) -> tuple[Identifier, ...]:
        """``identifier`` and every identifier of the same patient, asked now (merges count)."""
        return tuple(dict.fromkeys(await self.patients.equivalents(identifier)))

    async def search(self, criteria: Criteria, access: Access) -> tuple[list[Row], int]:
        """Documents matching ``criteria`` that ``reader`` may see, newest first; and the total."""
        patients = await self.identifiers(criteria.patient)
        index = document_identifiers.c
        wanted = select(index.document_id).where(or_(*[
            and_(index.system == system, index.value == value) for system, value in patients]))
        where = [documents.c.id.in_(wanted), *conditions(criteria, access)]
        # One round trip: the page carries the total (a window over the matches).
        page = (select(documents, func.count().over().label(_TOTAL)).where(*where)
                .order_by(documents.c.id.desc()).limit(criteria.count).offset(criteria.offset))
        rows = [dict(r._mapping) for r in await self.db.fetch(page)]
        totals = [row.pop(_TOTAL) for row in rows]
        if totals or not criteria.offset:
            return rows, int(totals[0]) if totals else 0
        total = select(func.count()).select_from(documents).where(*where)
        return rows, int((await self.db.fetch(total))[0][0])

    async def submissions(self, criteria: SubmissionCriteria) -> list[tuple[Row, list[str]]]:
        """Submission sets of a patient (ITI-66), newest first, with their document ids."""
        patients = await self.identifiers(criteria.patient)
        s = submission_sets.c
        query = (select(submission_sets).where(or_(*[
            and_(s.patient_system == system, s.patient_value == value)
            for system, value in patients])).order_by(s.id.desc())
            .limit(criteria.count).offset(criteria.offset))
        found = [dict(r._mapping) for r in await self.db.fetch(query)]
        return [(row, await self.members(row["id"])) for row in found]

    async def members(self, submission_id: str) -> list[str]:
        """Ids of the documents a submission set brought."""
        query = select(documents.c.id).where(documents.c.submission_id == submission_id)
        return [str(r[0]) for r in await self.db.fetch(query.order_by(documents.c.id))]
