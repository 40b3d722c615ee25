"""Fixtures for the HL7 v2 toolkit tests: the files under tests/data/hl7 and the shared samples.

``shared_sample`` iterates the published samples of ``../shared/samples/hl7v2``
(skipped when the folder is absent); ``own_sample`` iterates the project's
fixtures written in the same shapes (``PUBLISHED_SHAPES``, see
tests/data/hl7/README.md), so that a clone alone tests those shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

DATA = Path(__file__).parents[2] / "data" / "hl7"
SHARED_SAMPLES = Path(__file__).parents[3] / ".." / "shared" / "samples" / "hl7v2"
PUBLISHED_SHAPES = (
    "pam_fr_adt_a01.er7",
    "pam_fr_adt_a01_dmp_consent.er7",
    "pam_fr_adt_a03.er7",
    "pam_fr_adt_a28_latin1.er7",
    "pam_fr_adt_a40.er7",
    "cisis_oru_r01.er7",
    "cisis_oru_r01_u02dc.er7",
    "cisis_oru_r01_n3.er7",
    "cisis_oru_r01_replacement.er7",
    "cisis_oru_r01_deletion.er7",
    "cisis_oru_r01_v12.er7",
    "cisis_mdm_t02.er7",
    "cisis_mdm_t10.er7",
    "cisis_mdm_t04.er7",
    "cisis_lps_mdm_t02.er7",
    "ack_aa_r01_v25.er7",
    "ack_aa_t02_v26.er7",
)
"""Fixtures of tests/data/hl7 written in the shapes of the published ER7 samples."""


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
    """``shared_sample``: once per shared ER7 sample; ``own_sample``: once per own one."""
    if "shared_sample" in metafunc.fixturenames:
        metafunc.parametrize("shared_sample", shared_er7_files())
    if "own_sample" in metafunc.fixturenames:
        metafunc.parametrize("own_sample", [DATA / name for name in PUBLISHED_SHAPES],
                             ids=list(PUBLISHED_SHAPES))
