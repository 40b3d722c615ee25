"""``hub bench identity --store postgresql`` at a tiny size on a fresh database."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from typer.testing import CliRunner

from hub.cli import app
from tests.support.databases import postgres_database

POSITIVE = ("records_loaded", "records_stored", "load_records_per_s", "p50_ms", "p95_ms",
            "p99_ms", "identities_per_s", "candidates_p95")


@pytest.fixture
async def fresh_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A new PostgreSQL database, dropped afterwards."""
    async with postgres_database(request) as url:
        yield url


def test_sql_bench_small_run_reports_latency_and_rates(fresh_url: str) -> None:
    # A synchronous test: the bench runs its own event loop, as from the shell.
    result = CliRunner().invoke(app, [
        "bench", "identity", "--dataset", "synthetic-fr", "--store", "postgresql",
        "--database-url", fresh_url, "--size", "2000", "--probes", "50", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["probes"] == 50
    assert figures["persons"] == 2000
    for key in POSITIVE:
        assert figures[key] > 0, key
    assert figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]
    assert figures["records_stored"] > figures["records_loaded"]
    assert sum(figures["outcomes"].values()) == 50


def test_sql_bench_needs_a_database_url() -> None:
    result = CliRunner().invoke(app, [
        "bench", "identity", "--dataset", "synthetic-fr", "--store", "postgresql"])
    assert result.exit_code == 2
