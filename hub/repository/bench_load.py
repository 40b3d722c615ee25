"""Bulk loading of the repository for ``hub bench documents``: M documents without filing each.

On a freshly migrated database (the hub's own Alembic migrations, applied
here first), :func:`load`:

1. files :data:`TEMPLATES` CR-BIO documents through the real
   :meth:`hub.repository.store.Repository.file` (blobs, ``documents`` row,
   ``document_identifiers`` rows, ``submission_sets`` row, as an ORU^R01
   with DESTDMP=Y files them: IPP and qualified INS);
2. writes the other M - 16 documents as copies of those rows, each with its
   own id (time-ordered over the five years before now), uniqueId, setId,
   patient (IPP and INS in the rows and in the stored metadata), creation
   and filing dates, and submission set; about 2 % are MASQUE_PS. Patients
   are drawn at random among M / 20 (about 20 documents each, spread over
   the table as time-ordered filing spreads them). Per loaded document:
   one ``documents`` row, two ``document_identifiers`` rows (IPP, INS) and
   one ``submission_sets`` row. The copies share their template's blob: an
   ITI-68 of a loaded document returns the template's bytes.

PostgreSQL is written with asyncpg ``copy_records_to_table`` (then
``ANALYZE``), SQLite with one ``executemany`` transaction per table chunk.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from hub.blobs import BlobStore
from hub.db.engine import Database
from hub.db.tables import document_identifiers, documents, submission_sets
from hub.journal import new_message_id
from hub.patients import SelfOnlyDirectory
from hub.repository import bench_data as data
from hub.repository.model import Filing, PatientIdentifiers, Submission
from hub.repository.store import Repository
from mappings.cda import map_cda

TEMPLATES = 16
CHUNK = 20_000
DOCS_PER_PATIENT = 20
SPAN_S = 5 * 365 * 86400
INS_SYSTEM = f"urn:oid:{data.INS_OID}"
IPP_SYSTEM = f"urn:oid:{data.IPP_OID}"
Row = dict[str, Any]


class NotEmpty(RuntimeError):
    """The database already holds documents: the benchmark needs a fresh one."""


@dataclass(frozen=True, slots=True)
class Template:
    """One really filed document, the model of its copies."""

    row: Row
    patient: data.Patient


@dataclass(frozen=True, slots=True)
class Loaded:
    """What :func:`load` wrote: documents and the patient numbers they belong to."""

    documents: int
    patients: int
    seconds: float


def filing_of(content: bytes, who: data.Patient) -> Filing:
    """A filing as the ``repository`` destination builds it from an ORU (IPP, INS, VALI)."""
    ipp, ins = (IPP_SYSTEM, who.ipp), (INS_SYSTEM, who.ins)
    return Filing(map_cda(content, results=False), content,
                  PatientIdentifiers((ipp, ins), ins, True))


async def _templates(db: Database, blobs_dir: Path, run: int) -> list[Template]:
    repository = Repository(db, BlobStore(db, blobs_dir), SelfOnlyDirectory())
    made = []
    for n in range(TEMPLATES):
        who = data.patient(n)
        uid = data.unique_id(run, data.TEMPLATE, n)
        _, filed = await repository.file([filing_of(data.crbio(uid, who, n), who)],
                                         Submission("default", "SIL_BENCH|LABO-BENCH"))
        row = await repository.get(filed[0].id)
        assert row is not None
        made.append(Template(row, who))
    return made


def _substituted(meta: str, template: Template, uid: str, who: data.Patient) -> str:
    return (meta.replace(str(template.row["unique_id"]), uid)
            .replace(template.patient.ins, who.ins).replace(template.patient.ipp, who.ipp))


def copy_of(template: Template, serial: int, run: int, rng: random.Random,
            now: float, patients: int) -> tuple[Row, list[Row], Row]:
    """A copy of ``template``: its documents row, identifier rows and submission row."""
    who = data.patient(rng.randrange(patients))
    uid = data.unique_id(run, data.LOADED, serial)
    filed = now - rng.random() * SPAN_S
    doc_id, submission_id = new_message_id(filed), new_message_id(filed)
    creation = filed - rng.random() * 7 * 86400
    row = {**template.row, "id": doc_id, "unique_id": uid, "set_id": f"{uid}.0",
           "submission_id": submission_id, "patient_value": who.ins, "ins_value": who.ins,
           "masque_ps": rng.random() < 0.02, "creation_at": creation,
           "service_start_at": creation, "service_stop_at": creation, "filed_at": filed,
           "updated_at": filed, "message_id": None,
           "meta": _substituted(template.row["meta"], template, uid, who)}
    identifiers = [{"system": IPP_SYSTEM, "value": who.ipp, "document_id": doc_id},
                   {"system": INS_SYSTEM, "value": who.ins, "document_id": doc_id}]
    submission = {"id": submission_id, "unique_id": f"urn:uuid:{submission_id}",
                  "source_id": "SIL_BENCH|LABO-BENCH", "patient_system": INS_SYSTEM,
                  "patient_value": who.ins, "submitted_at": filed, "source": "default",
                  "message_id": None, "title": "ORU^R01"}
    return row, identifiers, submission


def patients_for(count: int) -> int:
    """How many patients ``count`` loaded documents are spread over."""
    return max(1, count // DOCS_PER_PATIENT)


def chunks(templates: Sequence[Template], count: int, run: int,
           seed: int = 7) -> Iterator[tuple[list[Row], list[Row], list[Row]]]:
    """The rows of ``count`` copies, :data:`CHUNK` documents at a time."""
    rng, now, patients = random.Random(seed), time.time(), patients_for(count)
    docs: list[Row] = []
    identifiers: list[Row] = []
    submissions: list[Row] = []
    for serial in range(count):
        row, ids, submission = copy_of(templates[serial % len(templates)], serial, run, rng,
                                       now, patients)
        docs.append(row)
        identifiers += ids
        submissions.append(submission)
        if len(docs) == CHUNK:
            yield docs, identifiers, submissions
            docs, identifiers, submissions = [], [], []
    if docs:
        yield docs, identifiers, submissions


_TABLES = (documents, document_identifiers, submission_sets)


def _records(table_rows: list[Row], columns: list[str]) -> list[tuple[Any, ...]]:
    return [tuple(r[c] for c in columns) for r in table_rows]


async def _copy_postgresql(url: str, parts: Iterator[tuple[list[Row], ...]]) -> None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        for part in parts:
            async with conn.transaction():
                for table, rows in zip(_TABLES, part, strict=True):
                    columns = [c.name for c in table.columns]
                    await conn.copy_records_to_table(table.name, records=_records(rows, columns),
                                                     columns=columns)
        for table in _TABLES:
            await conn.execute(f"ANALYZE {table.name}")
    finally:
        await conn.close()


def _insert_sqlite(url: str, parts: Iterator[tuple[list[Row], ...]]) -> None:
    path = make_url(url).database
    assert path is not None
    conn = sqlite3.connect(path)
    try:
        for part in parts:
            with conn:
                for table, rows in zip(_TABLES, part, strict=True):
                    columns = [c.name for c in table.columns]
                    marks = ", ".join("?" for _ in columns)
                    conn.executemany(f"INSERT INTO {table.name} ({', '.join(columns)}) "
                                     f"VALUES ({marks})", _records(rows, columns))
        conn.execute("ANALYZE")
    finally:
        conn.close()


async def _fresh(db: Database) -> None:
    found = await db.fetch(select(func.count()).select_from(documents))
    if found[0][0]:
        raise NotEmpty(f"the database already holds {found[0][0]} documents: "
                       "hub bench documents needs a fresh database")


async def load(url: str, blobs_dir: Path, count: int, run: int) -> Loaded:
    """Migrate ``url``, check it is empty, then load ``count`` documents (module docstring)."""
    started = time.perf_counter()
    db = await Database.open(url)
    try:
        await db.upgrade()
        await _fresh(db)
        templates = await _templates(db, blobs_dir, run)
        dialect = db.dialect
    finally:
        await db.close()
    parts = chunks(templates, max(0, count - TEMPLATES), run)
    if dialect == "postgresql":
        await _copy_postgresql(url, parts)
    else:
        await asyncio.to_thread(_insert_sqlite, url, parts)
    return Loaded(max(count, TEMPLATES), patients_for(count), time.perf_counter() - started)
