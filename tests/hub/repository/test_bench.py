"""``hub bench documents`` run tiny: it measures, on SQLite and on a fresh PostgreSQL database.

Not a timed test: only that every figure is there and positive, and that the
bulk loader's copies are searchable like filed documents.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hub.repository import bench_data as data
from hub.repository.bench import run_bench
from mappings.cda import map_cda
from tests.support.databases import postgres_database

pytestmark = pytest.mark.timeout(240)

KEYS = ("ingest_per_s_http", "ingest_per_s_mllp", "search_p50_ms", "search_p95_ms",
        "documents")


def check(result: dict[str, Any]) -> None:
    """The figures the issue asks for, all positive; every search found documents."""
    for key in KEYS:
        assert result[key] > 0, (key, result)
    assert result["documents"] == 200 + 2 * 20
    assert result["search_mean_results"] > 0


def test_documents_are_valid_crbio() -> None:
    """The generated documents map as CR-BIO with their patient's INS and IPP."""
    who = data.patient(42)
    assert int(who.ins[:13]) % 97 == 97 - int(who.ins[13:])
    mapping = map_cda(data.crbio(data.unique_id(1, data.SENT, 7), who, 7))
    assert mapping.entry.format_code.code == "urn:ihe:lab:xd-lab:2008"
    assert mapping.observations
    ids = {(str(i.system), str(i.value)) for i in mapping.patient.identifier or []}
    assert (f"urn:oid:{data.INS_OID}", who.ins) in ids
    assert (f"urn:oid:{data.IPP_OID}", who.ipp) in ids


async def test_bench_documents_sqlite() -> None:
    result = await asyncio.to_thread(run_bench, documents=20, search_documents=200,
                                     searches=30)
    check(result)
    assert result["database"] == "sqlite"


async def test_bench_documents_postgresql(request: pytest.FixtureRequest) -> None:
    async with postgres_database(request) as url:
        result = await asyncio.to_thread(run_bench, documents=20, search_documents=200,
                                         searches=30, database_url=url)
    check(result)
    assert result["database"] == "postgresql"
