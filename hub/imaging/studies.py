"""Studies: complete after a quiet period, reconciled, indexed as FHIR ImagingStudy.

A study is complete when no instance of it arrived for ``dicom.study_quiet_s``
(DICOM has no "end of study" in C-STORE, PS3.4 B.2). The indexer then reads
the facts of its instances, asks the patient directory who the patient is
(:mod:`hub.patients`: regional identity, qualified INS), builds the
ImagingStudy (:func:`mappings.dicom.merge_instances`, FHIR ImagingStudy DICOM
mapping) and files it under each of the patient's identifiers: local
PatientID, qualified INS, regional identifier. An instance arriving later
reopens the study; it is indexed again after the next quiet period.

An instance whose facts cannot be mapped (a UID that is not one, PS3.5 9.1)
is left out of its study and its journal message gets one ``not-indexed``
event saying why; a study none of whose instances can be mapped is not
tried again until another instance of it arrives, and never holds up the
other studies due.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from hub.db.committer import Op, Write
from hub.db.engine import Database
from hub.db.tables import events, imaging_instances, imaging_studies, imaging_study_identifiers
from hub.errors import MappingError
from hub.imaging.intake import DicomSources, local_identifier
from hub.journal import Journal
from hub.patients import Identifier, PatientDirectory, PatientView

log = logging.getLogger(__name__)

NOT_INDEXED = "not-indexed"
"""The journal stage of an instance left out of its ImagingStudy."""


@dataclass(frozen=True, slots=True)
class IndexedStudy:
    """What the index row of one study says."""

    study_uid: str
    row: dict[str, Any]
    identifiers: tuple[Identifier, ...]


def facts_dataset(facts: dict[str, str]) -> Dataset:
    """A header Dataset rebuilt from stored facts (pydicom converts each value by its VR)."""
    ds = Dataset()
    for keyword, value in facts.items():
        try:
            setattr(ds, keyword, value.split("\\") if "\\" in value else value)
        except (ValueError, TypeError):
            continue
    return ds


def _mapping_module() -> Any:
    # hub does not import mappings statically (dependencies point inward).
    import importlib

    return importlib.import_module("mappings.dicom")


def build_resource(facts: Sequence[dict[str, str]], view: PatientView | None,
                   left_out: dict[int, str] | None = None) -> dict[str, Any]:
    """The ImagingStudy of instances with ``facts``; the subject is the INS when qualified.

    An instance that cannot be mapped is left out; ``left_out`` then gets its
    position in ``facts`` and why. Raises MappingError when none is left.
    """
    mapping = _mapping_module()
    mapped = []
    for n, item in enumerate(facts):
        try:
            mapped.append(mapping.map_dicom_instance(facts_dataset(item)))
        except MappingError as exc:
            if left_out is not None:
                left_out[n] = str(exc)
    resource: dict[str, Any] = mapping.merge_instances(mapped).model_dump(
        mode="json", exclude_none=True)
    resource["id"] = facts[0]["StudyInstanceUID"]
    if view is not None and view.qualified_ins is not None:
        system, value = view.qualified_ins
        resource["subject"] = {"type": "Patient", "identifier": {"system": system,
                                                                 "value": value}}
    return resource


def study_identifiers(local: Identifier | None, view: PatientView | None,
                      regional_system: str) -> tuple[Identifier, ...]:
    """Every identifier the study is filed under."""
    found: list[Identifier] = [local] if local else []
    if view is not None:
        if view.qualified_ins is not None:
            found.append(view.qualified_ins)
        if view.regional_id:
            found.append((regional_system, view.regional_id))
    return tuple(dict.fromkeys(found))


def _upsert(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(imaging_studies)
    updated = {c.name: stmt.excluded[c.name] for c in imaging_studies.c if c.name != "study_uid"}
    return stmt.on_conflict_do_update(index_elements=["study_uid"], set_=updated)


def _insert_ignore(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(imaging_study_identifiers).on_conflict_do_nothing()


class StudyIndex:
    """Indexes complete studies and answers searches over them."""

    def __init__(self, db: Database, patients: Callable[[], PatientDirectory],
                 sources: DicomSources, *, regional_system: str, quiet_s: float,
                 journal: Journal | None = None) -> None:
        self._db = db
        self._patients = patients
        self._sources = sources
        self._regional_system = regional_system
        self.quiet_s = quiet_s
        self._journal = journal
        self._upsert = _upsert(db.dialect)
        self._link = _insert_ignore(db.dialect)
        self._unindexable: dict[str, float] = {}
        """Studies none of whose instances map, by the last arrival then: not tried again."""

    async def run(self) -> None:
        """Index due studies forever (a background task of the component)."""
        every = min(self.quiet_s / 2, 5.0)
        while True:
            await asyncio.sleep(every)
            try:
                await self.index_due()
            except Exception as exc:  # an observer of intake: never stops the hub
                log.warning("study indexing failed: %s", exc)

    async def due(self, now: float | None = None) -> list[tuple[str, float]]:
        """Studies quiet for ``quiet_s`` and not indexed since their last instance."""
        i, s = imaging_instances.c, imaging_studies.c
        last = func.max(i.received_at).label("last")
        recent = select(i.study_uid, last).group_by(i.study_uid).having(
            last <= (now or time.time()) - self.quiet_s).subquery()
        query = select(recent.c.study_uid, recent.c.last).outerjoin(
            imaging_studies, s.study_uid == recent.c.study_uid).where(
            (s.study_uid.is_(None)) | (s.last_received_at < recent.c.last))
        return [(row.study_uid, row.last) for row in await self._db.fetch(query)]

    async def index_due(self, now: float | None = None) -> int:
        """Index every due study that can be; return how many were indexed."""
        due = [(uid, last) for uid, last in await self.due(now)
               if self._unindexable.get(uid) != last]
        indexed = 0
        for study_uid, last in due:
            try:
                await self.index(study_uid, last)
            except MappingError:
                self._unindexable[study_uid] = last
                continue
            self._unindexable.pop(study_uid, None)
            indexed += 1
        return indexed

    async def index(self, study_uid: str, last: float) -> IndexedStudy:
        """Reconcile the patient and file the ImagingStudy of ``study_uid``.

        Raises MappingError when none of its instances can be mapped; the
        instances left out are marked in the journal either way.
        """
        i = imaging_instances.c
        rows = await self._db.fetch(select(i.facts, i.source, i.message_id).where(
            i.study_uid == study_uid).order_by(i.received_at))
        facts = [json.loads(r.facts) for r in rows]
        source = rows[0].source
        local = local_identifier(facts[0], self._sources.get(source))
        view = await self._patients().lookup(local) if local else None
        left_out: dict[int, str] = {}
        try:
            resource = build_resource(facts, view, left_out)
        finally:
            await self._mark_left_out({rows[n].message_id: why for n, why in left_out.items()})
        indexed = IndexedStudy(study_uid, self._row(study_uid, source, facts, resource, local,
                                                    view, last),
                               study_identifiers(local, view, self._regional_system))
        await self._db.committer.run(*self._ops(indexed))
        return indexed

    async def _mark_left_out(self, reasons: dict[str, str]) -> None:
        """One ``not-indexed`` journal event per message left out, the first time only."""
        if not reasons or self._journal is None:
            return
        e = events.c
        marked = {r.message_id for r in await self._db.fetch(select(e.message_id).where(
            e.message_id.in_(list(reasons)), e.stage == NOT_INDEXED))}
        ops = [self._journal.event(message_id, NOT_INDEXED,
                                   detail=f"left out of its ImagingStudy: {why}")
               for message_id, why in reasons.items() if message_id not in marked]
        if ops:
            log.warning("%d instance(s) left out of their ImagingStudy", len(ops))
            await self._db.committer.run(*ops)

    def _row(self, study_uid: str, source: str, facts: list[dict[str, str]],
             resource: dict[str, Any], local: Identifier | None, view: PatientView | None,
             last: float) -> dict[str, Any]:
        first = facts[0]
        modalities = sorted({f["Modality"] for f in facts if f.get("Modality")})
        return {
            "study_uid": study_uid, "source": source,
            "patient_system": local[0] if local else None,
            "patient_value": (local[1] if local else first.get("PatientID")),
            "regional_id": view.regional_id if view else None,
            "ins_value": view.qualified_ins[1] if view and view.qualified_ins else None,
            "study_date": first.get("StudyDate"), "accession_number": first.get("AccessionNumber"),
            "modalities": "\\".join(modalities)[:128], "description": first.get("StudyDescription"),
            "series": resource.get("numberOfSeries", 0),
            "instances": resource.get("numberOfInstances", 0),
            "last_received_at": last, "indexed_at": time.time(),
            "resource": json.dumps(resource, ensure_ascii=False),
        }

    def _ops(self, study: IndexedStudy) -> list[Op]:
        return [Write(self._upsert, study.row), *(
            Write(self._link, {"system": system, "value": value, "study_uid": study.study_uid})
            for system, value in study.identifiers)]

    async def search(self, identifiers: Iterable[Identifier], limit: int = 100,
                     offset: int = 0) -> list[dict[str, Any]]:
        """ImagingStudy resources filed under any of ``identifiers``, newest first."""
        pairs = list(identifiers)
        if not pairs:
            return []
        link, s = imaging_study_identifiers.c, imaging_studies.c
        matching = select(link.study_uid).where(
            or_(*(and_(link.system == system, link.value == value) for system, value in pairs)))
        query = select(s.resource).where(s.study_uid.in_(matching)).order_by(
            s.last_received_at.desc()).limit(limit).offset(offset)
        return [json.loads(r.resource) for r in await self._db.fetch(query)]

    async def get(self, study_uid: str) -> dict[str, Any] | None:
        """The ImagingStudy of ``study_uid``, None when not indexed."""
        s = imaging_studies.c
        rows = await self._db.fetch(select(s.resource).where(s.study_uid == study_uid))
        return json.loads(rows[0].resource) if rows else None

    async def held(self, limit: int = 100) -> list[dict[str, Any]]:
        """Every study the router holds (complete or still arriving), newest first."""
        i, s = imaging_instances.c, imaging_studies.c
        last = func.max(i.received_at).label("last")
        grouped = select(i.study_uid, last, func.count().label("instances"),
                         func.min(i.facts).label("facts"), func.min(i.source).label("source"),
                         ).group_by(i.study_uid).order_by(last.desc()).limit(limit).subquery()
        query = select(grouped, s.indexed_at, s.ins_value, s.regional_id,
                       s.modalities).outerjoin(
            imaging_studies, s.study_uid == grouped.c.study_uid).order_by(grouped.c.last.desc())
        return [_held_row(r) for r in await self._db.fetch(query)]


def _held_row(row: Any) -> dict[str, Any]:
    facts = json.loads(row.facts)
    complete = row.indexed_at is not None and row.indexed_at >= row.last
    return {"study_uid": row.study_uid, "source": row.source,
            "patient_id": facts.get("PatientID"), "study_date": facts.get("StudyDate"),
            "modality": facts.get("Modality"), "description": facts.get("StudyDescription"),
            "accession_number": facts.get("AccessionNumber"), "instances": row.instances,
            "last_received_at": row.last, "complete": complete,
            "modalities": row.modalities or facts.get("Modality") or "",
            "ins": row.ins_value, "regional_id": row.regional_id, "facts": facts}
