"""Fixtures for the CDA mapping tests: the project's own documents and the published samples."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "data" / "cda-mappings"
SHARED_SAMPLES = Path(__file__).resolve().parents[3] / ".." / "shared" / "samples"


@pytest.fixture
def crbio_bytes() -> bytes:
    """The CR-BIO level 3 fixture with an INS-qualified patient."""
    return (DATA / "crbio_n3_ins.xml").read_bytes()


@pytest.fixture(scope="session")
def shared_samples() -> Path:
    """``../shared/samples``, or a skip when it is absent."""
    if not SHARED_SAMPLES.is_dir():
        pytest.skip("../shared/samples absent: published-sample cases skipped")
    return SHARED_SAMPLES.resolve()
