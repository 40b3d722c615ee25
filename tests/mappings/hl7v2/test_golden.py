"""Golden-file tests: every fixture of tests/data/hl7v2-mappings against its reviewed JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hub.hl7.er7 import Message
from mappings.hl7v2 import map_adt, map_document_message
from mappings.hl7v2.lab import map_lab_oru
from tests.mappings.hl7v2.conftest import DATA, fixture_names

Load = Callable[[str], Message]
Golden = Callable[[str, Any], None]


@pytest.mark.parametrize("name", fixture_names("adt_"))
def test_adt_fixture_matches_golden(name: str, load: Load, golden: Golden) -> None:
    golden(name, map_adt(load(name)))


@pytest.mark.parametrize("name", fixture_names("oru_cda_") + fixture_names("mdm_"))
def test_document_fixture_matches_golden(name: str, load: Load, golden: Golden) -> None:
    golden(name, map_document_message(load(name)))


def test_lab_fixture_matches_golden(load: Load, golden: Golden) -> None:
    golden("oru_lab_structured.er7", map_lab_oru(load("oru_lab_structured.er7")))


def test_every_fixture_has_a_golden_and_a_readme_line() -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for name in fixture_names():
        assert (DATA / name.replace(".er7", ".json")).is_file(), name
        assert f"`{name}`" in readme, name
