"""Fixtures for the HL7 v2 toolkit tests: the files under tests/data/hl7 and the shared samples."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

DATA = Path(__file__).parents[2] / "data" / "hl7"
SHARED_SAMPLES = Path(__file__).parents[3] / ".." / "shared" / "samples" / "hl7v2"


def shared_er7_files() -> list[object]:
    """Every *.hl7 / *.er7 shared sample that starts with MSH, as pytest params."""
    if not SHARED_SAMPLES.is_dir():
        reason = f"shared HL7 v2 samples not found at {SHARED_SAMPLES.resolve()}"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-shared-samples")]
    files = sorted(
        path
        for pattern in ("**/*.hl7", "**/*.er7")
        for path in SHARED_SAMPLES.glob(pattern)
        if path.read_bytes().lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"MSH")
    )
    return [pytest.param(path, id=str(path.relative_to(SHARED_SAMPLES))) for path in files]


@pytest.fixture
def load() -> Callable[[str], bytes]:
    """Read a fixture of tests/data/hl7 as bytes."""

    def read(name: str) -> bytes:
        return (DATA / name).read_bytes()

    return read


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test taking ``shared_sample`` runs once per shared ER7 sample (a Path)."""
    if "shared_sample" in metafunc.fixturenames:
        metafunc.parametrize("shared_sample", shared_er7_files())
