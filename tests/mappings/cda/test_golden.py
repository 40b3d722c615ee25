"""Golden files: the project's own CDA documents and what they map to.

Each ``tests/data/cda-mappings/<name>.xml`` has a ``<name>.golden.json``
holding the XDS DocumentEntry and the FHIR resources. Rewrite them after a
deliberate change with ``HUB_UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient

from mappings.cda import CdaMapping, map_cda

DATA = Path(__file__).resolve().parents[2] / "data" / "cda-mappings"
FIXTURES = sorted(p.stem for p in DATA.glob("*.xml"))


def render(mapping: CdaMapping) -> dict[str, Any]:
    """The golden-file form of a mapping: plain JSON, FHIR without empty elements."""
    def dump(resource: Any) -> Any:
        return None if resource is None else resource.model_dump(mode="json", exclude_none=True)

    return {
        "entry": json.loads(json.dumps(mapping.entry.to_json())),
        "patient": dump(mapping.patient),
        "document_reference": dump(mapping.document_reference),
        "report": dump(mapping.report),
        "observations": [dump(o) for o in mapping.observations],
    }


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_maps_to_its_golden_file(name: str) -> None:
    rendered = render(map_cda((DATA / f"{name}.xml").read_bytes()))
    golden = DATA / f"{name}.golden.json"
    if os.environ.get("HUB_UPDATE_GOLDEN") == "1":
        golden.write_text(json.dumps(rendered, indent=2, ensure_ascii=False) + "\n",
                          encoding="utf-8")
        pytest.skip(f"{golden.name} rewritten")
    assert rendered == json.loads(golden.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", FIXTURES)
def test_every_resource_validates_again_from_its_json(name: str) -> None:
    mapping = map_cda((DATA / f"{name}.xml").read_bytes())
    Patient.model_validate_json(mapping.patient.model_dump_json())
    DocumentReference.model_validate_json(mapping.document_reference.model_dump_json())
    if mapping.report is not None:
        DiagnosticReport.model_validate_json(mapping.report.model_dump_json())
    for observation in mapping.observations:
        Observation.model_validate_json(observation.model_dump_json())


def test_crbio_level3_entry(crbio_bytes: bytes) -> None:
    entry = map_cda(crbio_bytes).entry
    assert entry.unique_id == "1.2.250.1.999.42.7.20250114.1"
    assert entry.format_code.code == "urn:ihe:lab:xd-lab:2008"
    assert (entry.class_code and entry.class_code.code) == "10"
    assert entry.type_code.code == "11502-2"
    assert entry.patient_id == "285066311304507^^^&1.2.250.1.213.1.4.10&ISO^NH"
    assert entry.source_patient_id == "IPP-77120^^^&1.2.250.1.999.42.1&ISO^PI"
    assert entry.creation_time == "20250114103000"  # 11:30 +01:00 in UTC
    assert (entry.service_start_time, entry.service_stop_time) == (
        "20250114071500", "20250114102000")
    assert entry.practice_setting_code is not None
    assert entry.practice_setting_code.code == "AMBULATOIRE"
    assert entry.healthcare_facility_type_code is not None
    assert entry.healthcare_facility_type_code.code == "SA25"
    assert entry.size == len(crbio_bytes)
    assert (entry.set_id, entry.version_number, entry.replaces) == (
        "1.2.250.1.999.42.7.20250114", 1, None)


def test_crbio_results_skip_earlier_results_and_use_collection_time(crbio_bytes: bytes) -> None:
    mapping = map_cda(crbio_bytes)
    codes = [o.code.coding[0].code for o in mapping.observations]
    assert codes == ["40193-5", "2951-2", "33511-0"]
    glucose, sodium, aspect = mapping.observations
    assert glucose.effectiveDateTime is not None
    assert str(glucose.valueQuantity.value) == "6.40"
    assert glucose.valueQuantity.code == "mmol/L"
    assert glucose.interpretation[0].coding[0].code == "H"
    assert str(glucose.referenceRange[0].low.value) == "3.9"
    assert aspect.valueCodeableConcept.coding[0].system == "http://snomed.info/sct"
    assert mapping.report is not None
    assert [r.reference for r in mapping.report.result] == [
        f"Observation/{o.id}" for o in mapping.observations]
    assert sodium.subject.reference == f"Patient/{mapping.patient.id}"


def test_patient_identifiers_and_names(crbio_bytes: bytes) -> None:
    patient = map_cda(crbio_bytes).patient
    ins, ipp = patient.identifier
    assert (ins.system, ins.value, ins.type.coding[0].code) == (
        "urn:oid:1.2.250.1.213.1.4.10", "285066311304507", "INS-NIR-TEST")
    assert (ipp.system, ipp.value, ipp.type.coding[0].code) == (
        "urn:oid:1.2.250.1.999.42.1", "IPP-77120", "PI")
    birth, used = patient.name
    assert (birth.use, birth.family, birth.given) == ("official", "ROBERT", ["LUCIE", "ANNE"])
    assert (used.use, used.family, used.given) == ("usual", "FAURE", ["LUCIE"])
    assert (patient.gender, str(patient.birthDate)) == ("female", "1985-06-12")


def test_mapping_is_deterministic(crbio_bytes: bytes) -> None:
    assert render(map_cda(crbio_bytes)) == render(map_cda(crbio_bytes))
