"""``hub bench mappings``: figures printed as one JSON object, and the benchmark inputs."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys

from mappings.bench import build_adt_a01, build_crbio, build_oru_cda
from mappings.cda import map_cda


def _hl7v2_mappers_present() -> bool:
    if importlib.util.find_spec("mappings.hl7v2") is None:
        return False
    module = importlib.import_module("mappings.hl7v2")
    return all(callable(getattr(module, n, None)) for n in ("map_adt", "map_document_message"))


def test_bench_mappings_json_prints_positive_medians() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "bench", "mappings", "--json", "--repeat", "3"],
        capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    expected = {"crbio_cda_us", "dicom_us"}
    if _hl7v2_mappers_present():
        expected |= {"adt_to_fhir_us", "oru_cda_us"}
    assert expected <= set(result)
    for key, value in result.items():
        assert key.endswith("_us")
        assert isinstance(value, int | float) and math.isfinite(value) and value > 0, key


def test_bench_crbio_document_is_about_135_kb_and_maps() -> None:
    document = build_crbio()
    assert 125_000 <= len(document) <= 145_000
    mapping = map_cda(document)
    assert len(mapping.observations) == 44
    assert mapping.entry.format_code.code == "urn:ihe:lab:xd-lab:2008"


def test_bench_hl7_inputs_parse() -> None:
    from hub.hl7.er7 import parse

    assert parse(build_adt_a01()).segments[0].id == "MSH"
    oru = parse(build_oru_cda(build_crbio(font_bytes=0)))
    assert [s.id for s in oru.segments].count("OBX") == 4
