"""``hub bench mssante`` runs end to end on a few documents and reports its figures."""

from __future__ import annotations

import pytest

from connectors.mssante.bench import run

pytestmark = pytest.mark.timeout(120)


def test_bench_reports_mails_per_second_and_p95() -> None:
    result = run(documents=20, concurrency=2)
    assert result["documents"] == 20
    assert result["mails_per_s"] > 0
    assert result["p95_ms_document_to_mail"] >= result["p50_ms_document_to_mail"] > 0
    assert result["smtp_connections_opened"] <= 2
