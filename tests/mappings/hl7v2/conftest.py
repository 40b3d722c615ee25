"""Helpers for the HL7 v2 mapping tests: fixture files, golden JSON, published and own samples."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.resource import Resource

from hub.hl7.er7 import Message, parse
from mappings.hl7v2.adt import AdtMapping

DATA = Path(__file__).parents[2] / "data" / "hl7v2-mappings"
SAMPLES = Path(__file__).parents[3] / ".." / "shared" / "samples" / "hl7v2"
REGENERATE = "HUB_REGENERATE_GOLDENS"
SKIP_SAMPLES = "../shared/samples absent: published-sample cases skipped"
HL7_DATA = Path(__file__).parents[2] / "data" / "hl7"
ZAM_DATA = DATA / "zam"
OWN_SAMPLES = (
    "pam_fr_adt_a01.er7",
    "pam_fr_adt_a01_dmp_consent.er7",
    "pam_fr_adt_a03.er7",
    "pam_fr_adt_a40.er7",
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
"""Fixtures of tests/data/hl7 in the shapes of the published samples whose CDA is complete."""


def jsonable(value: Any) -> Any:
    """Mapping output as plain JSON: FHIR resources dumped, dataclasses as dicts, bytes hashed."""
    if isinstance(value, Resource):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, AdtMapping):
        # The validated models, so the goldens also prove every resource validates.
        return {"patient": jsonable(value.patient), "encounter": jsonable(value.encounter),
                "movement": jsonable(value.movement),
                "identity_event": jsonable(value.identity_event)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return {"size": len(value), "sha256": hashlib.sha256(value).hexdigest()}
    if isinstance(value, tuple | list):
        return [jsonable(item) for item in value]
    return value


def fixture_names(prefix: str = "") -> list[str]:
    """Fixture files of tests/data/hl7v2-mappings whose name starts with ``prefix``."""
    return sorted(path.name for path in DATA.glob(f"{prefix}*.er7"))


@pytest.fixture
def load() -> Callable[[str], Message]:
    """Parse a fixture of tests/data/hl7v2-mappings."""

    def read(name: str) -> Message:
        return parse((DATA / name).read_bytes())

    return read


@pytest.fixture
def golden() -> Callable[[str, Any], None]:
    """Compare mapped output with ``<name>.json``; rewrite it when HUB_REGENERATE_GOLDENS is set."""

    def check(name: str, output: Any) -> None:
        path = DATA / f"{Path(name).stem}.json"
        actual = jsonable(output)
        if os.environ.get(REGENERATE):
            path.write_text(
                json.dumps(actual, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        expected = json.loads(path.read_text(encoding="utf-8"))
        assert actual == expected

    return check


def sample_files() -> list[Path]:
    """Every published HL7 v2 sample that starts with MSH (ER7), any extension."""
    found = []
    for path in sorted(SAMPLES.rglob("*")):
        if path.is_file() and path.read_bytes().lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"MSH"):
            found.append(path)
    return found


def own_sample_files() -> list[Path]:
    """The project's fixtures in the published shapes, then the expected ZAM messages."""
    return [HL7_DATA / name for name in OWN_SAMPLES] + sorted(ZAM_DATA.glob("*.er7"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``sample`` per published sample (skipped when absent), ``own_sample`` per own fixture."""
    if "own_sample" in metafunc.fixturenames:
        own = own_sample_files()
        metafunc.parametrize("own_sample", own, ids=[path.name for path in own])
    if "sample" in metafunc.fixturenames:
        if not SAMPLES.is_dir():
            params = [pytest.param(None, marks=pytest.mark.skip(reason=SKIP_SAMPLES), id="absent")]
        else:
            params = [pytest.param(p, id=str(p.relative_to(SAMPLES))) for p in sample_files()]
        metafunc.parametrize("sample", params)
