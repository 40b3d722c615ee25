"""The audit trail: every read of patient data recorded before the answer leaves,
a hash chain that shows tampering, refusal when the trail cannot store.

A real hub (repository component) on a free port, read over HTTP.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from hub.app import Hub
from hub.audit.record import AuditRecord, StoredRecord, chain_break, chain_hash
from hub.audit.store import AuditQuery
from hub.repository.bench_data import nir
from tests.hub.conftest import ADMIN_TOKEN, HubFactory
from tests.hub.repository.documents import INS_TEST, cda

REPO = Path(__file__).parents[3]
_numbers = itertools.count(1)
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def new_ins() -> str:
    """A test INS-NIR, new at every call."""
    return nir(f"1840564{next(_numbers):06d}")


@pytest.fixture
async def docs_hub(start_hub: HubFactory) -> Hub:
    """A hub with the repository, test INS accepted."""
    return await start_hub(components=["repository"], ins_test_mode=True,
                           destinations={"archive": {"type": "file", "directory": "out"},
                                         "repository": {"type": "repository"}})


@pytest.fixture
async def http(docs_hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the hub's HTTP server, with the admin token."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{docs_hub.http_port}",
                                 headers=AUTH, timeout=10) as client:
        yield client


async def filed(http: httpx.AsyncClient) -> str:
    """File one document for a new patient; the patient's ``system|value``."""
    ins = new_ins()
    body = cda(f"1.2.250.1.999.42.73.{next(_numbers)}", ins=ins)
    answer = await http.post("/documents", content=body,
                             headers={"Content-Type": "application/xml"})
    assert answer.status_code == 201, answer.text
    return f"urn:oid:{INS_TEST}|{ins}"


async def test_a_search_is_recorded_with_its_patient_and_documents(
        docs_hub: Hub, http: httpx.AsyncClient) -> None:
    patient = await filed(http)
    found = await http.get("/fhir/DocumentReference", params={"patient.identifier": patient})
    assert found.status_code == 200 and found.json()["total"] == 1
    assert docs_hub.audit is not None
    total, records = await docs_hub.audit.search(AuditQuery(patient=patient))
    reads = [r.content for r in records if r.content["path"] == "/fhir/DocumentReference"]
    assert len(reads) == 1, [r.content["path"] for r in records]
    (read,) = reads
    assert (read["principal_id"], read["action"], read["outcome"]) == ("admin", "R", 0)
    assert read["address"] == "127.0.0.1" and read["status"] == 200
    document = found.json()["entry"][0]["resource"]["id"]
    assert read["entities"] == [f"DocumentReference/{document}"]
    assert any(r.content["path"] == "/documents" and r.content["action"] == "C"
               for r in records), "the upload is recorded too"
    assert total == len(records)


async def test_a_refused_read_is_recorded_as_a_failure(
        docs_hub: Hub, http: httpx.AsyncClient) -> None:
    refused = await http.get("/fhir/DocumentReference", params={"patient.identifier": "x|1"},
                             headers={"Authorization": "Bearer wrong-token-0123456789"})
    assert refused.status_code == 401
    assert docs_hub.audit is not None
    _, records = await docs_hub.audit.search(AuditQuery(principal="anonymous"))
    assert records and records[0].content["outcome"] == 4
    assert records[0].content["status"] == 401


async def test_no_patient_data_leaves_when_the_trail_cannot_store(
        docs_hub: Hub, http: httpx.AsyncClient) -> None:
    patient = await filed(http)
    assert docs_hub.db is not None
    async with docs_hub.db.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE audit_records RENAME TO audit_records_away"))
    try:
        answer = await http.get("/fhir/DocumentReference",
                                params={"patient.identifier": patient})
        assert answer.status_code == 503, answer.text
        assert answer.json()["resourceType"] == "OperationOutcome"
        assert patient.split("|")[1] not in answer.text
        health = await http.get("/healthz")
        assert health.status_code == 200, "routes without audit are not affected"
    finally:
        async with docs_hub.db.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE audit_records_away RENAME TO audit_records"))


async def test_verify_detects_an_edited_and_a_deleted_record(
        docs_hub: Hub, http: httpx.AsyncClient) -> None:
    for _ in range(3):
        await filed(http)
    assert docs_hub.audit is not None and docs_hub.db is not None
    assert (await docs_hub.audit.verify())[1] is None
    async with docs_hub.db.engine.begin() as conn:
        await conn.execute(text("UPDATE audit_records SET content = replace(content, "
                                "'\"admin\"', '\"someone\"') WHERE seq = 2"))
    checked, broken = await docs_hub.audit.verify()
    assert (checked, broken) == (1, (2, "content does not match its hash (edited)"))
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "hub.cli", "audit", "verify"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO),
             "HUB_DATABASE_URL": docs_hub.settings.effective_database_url})
    assert result.returncode == 1 and "broken at record 2" in result.stderr + result.stdout
    async with docs_hub.db.engine.begin() as conn:
        await conn.execute(text("DELETE FROM audit_records WHERE seq = 2"))
    assert (await docs_hub.audit.verify())[1] == (3, "sequence 2 expected (a record is missing)")


def test_a_reordered_chain_breaks_at_the_first_moved_record() -> None:
    records, prev = [], "0" * 64
    for seq in (1, 2, 3):
        content = AuditRecord(recorded_at=float(seq), interface="cli", action="E", outcome=0,
                              principal_id="admin").content()
        digest = chain_hash(prev, seq, content)
        records.append(StoredRecord(seq, content, prev, digest))
        prev = digest
    assert chain_break(records) is None
    swapped = [records[0], StoredRecord(2, records[2].content, records[1].prev_hash,
                                        records[2].hash), records[1]]
    assert chain_break(swapped) == (2, "content does not match its hash (edited)")
