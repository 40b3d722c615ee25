"""The published CI-SIS samples, and the project's own CDA fixtures, are filed and found again.

Every CDA document under ``../shared/samples`` is filed as an HTTP upload
would file it, and every ORU/MDM document flow (initial transmission, then
replacement, then deletion, in each sample folder) as the ``repository``
destination does; each filed document is then found by its patient with the
type, format and subject of its header. The project's fixtures of the same
shapes (``tests/data/cda-mappings``: CR-BIO level 3 and level 1, level 1 PDF
and text, CR-IMG, LDL-SES) and a document of every CDA model of ASS_A11 are
filed the same way, so that a clone without ``../shared`` tests them too.
Runs on SQLite only (the service tests cover PostgreSQL).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.blobs import BlobStore
from hub.db.engine import Database
from hub.errors import MappingError, ParseError
from hub.hl7.er7 import parse
from hub.patients import SelfOnlyDirectory
from hub.repository.bench_data import nir
from hub.repository.destination import filing_of
from hub.repository.iti65 import cda_patient
from hub.repository.model import (
    Filing,
    PatientMismatch,
    RepositoryError,
    Submission,
    UnknownDocument,
)
from hub.repository.search import Access, Criteria, Reader
from hub.repository.store import Repository
from mappings.cda import map_cda
from mappings.cda.tables import ans_tables
from mappings.hl7v2 import map_document_message
from tests.mappings.cda.models import auto_presentable, model_document
from tests.support.databases import sqlite_url

SAMPLES = Path(__file__).resolve().parents[4] / "shared" / "samples"
FIXTURES = Path(__file__).resolve().parents[2] / "data" / "cda-mappings"
ORDER = ("transmission", "initial", "remplacement", "suppression")


@pytest.fixture
async def repository(own_repository: Repository) -> Repository:
    """The repository, for the cases that read ``../shared/samples`` (skipped without it)."""
    if not SAMPLES.is_dir():
        pytest.skip("../shared/samples absent: published-sample cases skipped")
    return own_repository


@pytest.fixture
async def own_repository(tmp_path: Path) -> AsyncIterator[Repository]:
    """A repository on a fresh SQLite database."""
    db = await Database.open(sqlite_url(tmp_path))
    try:
        await db.upgrade()
        yield Repository(db, BlobStore(db, tmp_path / "blobs"), SelfOnlyDirectory())
    finally:
        await db.close()


async def found(repository: Repository, filing: Filing) -> dict[str, str]:
    """uniqueId -> (type, format) of what a search by the document's subject returns."""
    subject = filing.patient.ins or filing.patient.identifiers[0]
    rows, _ = await repository.search(Criteria(subject, status=("current", "superseded",
                                                                 "entered-in-error")),
                                      Access(Reader.ADMIN))
    return {r["unique_id"]: f"{r['type_code']} {r['format_code']}" for r in rows}


async def test_every_sample_cda_is_filed_and_found(repository: Repository) -> None:
    files = sorted(p for p in SAMPLES.rglob("*") if p.suffix.lower() == ".xml")
    assert files
    for path in files:
        content = path.read_bytes()
        mapping = map_cda(content)
        filing = Filing(mapping, content, cda_patient(mapping))
        try:
            await repository.file([filing], Submission("samples", path.name))
        except RepositoryError as exc:
            # The same uniqueId appears in several sample folders with other bytes.
            assert exc.code in ("NON_IDENTICAL_HASH", "INVALID_STATUS"), (path, exc)
            continue
        entry = mapping.entry
        assert found_value(await found(repository, filing), entry.unique_id) == \
            f"{entry.type_code.code} {entry.format_code.code}", path


def found_value(found_map: dict[str, str], unique_id: str) -> str | None:
    return found_map.get(unique_id)


def _flow_order(path: Path) -> int:
    text = str(path).lower()
    return next((n for n, word in enumerate(ORDER) if word in text), len(ORDER))


def _messages() -> list[Path]:
    candidates = [p for p in SAMPLES.joinpath("hl7v2").rglob("*")
                  if p.suffix.lower() in (".er7", ".hl7") and "ack" not in p.name.lower()]
    return sorted(candidates, key=lambda p: (str(p.parent.parent), _flow_order(p), str(p)))


async def test_every_sample_document_flow_is_filed_and_found(repository: Repository) -> None:
    filed_count = 0
    for path in _messages():
        try:
            message = parse(path.read_bytes())
            mapped = map_document_message(message)
            filings = [filing_of(d, mapped) for d in mapped.documents]
        except (ParseError, MappingError):
            continue  # ADT samples, and payloads the samples cut short
        except PatientMismatch as exc:
            # Some published messages carry a PID INS other than their CDA's: refused.
            assert mapped.ins is not None and mapped.ins.value in str(exc), path
            continue
        try:
            _, outcomes = await repository.file(filings, Submission("samples", path.name))
        except UnknownDocument:
            continue  # a deletion or strict replacement whose original sample did not map
        except RepositoryError as exc:
            assert exc.code in ("NON_IDENTICAL_HASH", "INVALID_STATUS"), (path, exc)
            continue
        for filing, outcome in zip(filings, outcomes, strict=True):
            if outcome.outcome == "unchanged":
                continue  # filed from another folder, whose PID may name another INS
            entry = filing.mapping.entry
            assert found_value(await found(repository, filing), entry.unique_id) == \
                f"{entry.type_code.code} {entry.format_code.code}", path
            filed_count += 1
    assert filed_count >= 5


async def _file_and_find(repository: Repository, content: bytes, name: str) -> None:
    mapping = map_cda(content)
    filing = Filing(mapping, content, cda_patient(mapping))
    await repository.file([filing], Submission("fixtures", name))
    entry = mapping.entry
    assert found_value(await found(repository, filing), entry.unique_id) == \
        f"{entry.type_code.code} {entry.format_code.code}", name


async def test_every_project_cda_fixture_is_filed_and_found(
        own_repository: Repository) -> None:
    files = sorted(FIXTURES.glob("*.xml"))
    assert len(files) >= 6
    for path in files:
        await _file_and_find(own_repository, path.read_bytes(), path.name)


async def test_a_document_of_every_catalogue_model_is_filed_and_found(
        own_repository: Repository) -> None:
    models = sorted(ans_tables().model_formats)
    for number, template in enumerate(models):
        document = model_document(template, unique_id=f"1.2.250.1.999.42.62.{number}",
                                  ins=nir(f"2850663{number:06d}"))
        await _file_and_find(own_repository, document, template)
    document = auto_presentable(model_document(
        "1.2.250.1.213.1.1.1.55", unique_id="1.2.250.1.999.42.63.1", type_code="11502-2"))
    await _file_and_find(own_repository, document, "auto-presentable")
