"""The shapes of the published CI-SIS samples, on the project's own fixtures (no ``../shared``).

The same checks as ``test_samples.py`` makes on the ANS documents: CR-BIO
level 3 with results, CR-BIO level 1 with a PDF, an unstructured level 1,
an imaging report replacing an earlier version, a discharge letter.
"""

from __future__ import annotations

from mappings.cda import CdaMapping, map_cda
from tests.mappings.cda.conftest import DATA


def _map(name: str) -> CdaMapping:
    return map_cda((DATA / name).read_bytes())


def test_cr_bio_level3_with_results() -> None:
    mapping = _map("crbio_n3_ins.xml")
    assert mapping.entry.format_code.code == "urn:ihe:lab:xd-lab:2008"
    assert mapping.entry.type_code.code == "11502-2"
    assert mapping.entry.class_code is not None and mapping.entry.class_code.code == "10"
    assert mapping.report is not None and mapping.observations
    assert mapping.entry.patient_id is not None and mapping.entry.patient_id.endswith("^NH")


def test_cr_bio_level1_pdf() -> None:
    mapping = _map("crbio_n1_pdf.xml")
    entry = mapping.entry
    assert (entry.format_code.code, entry.body_media_type) == (
        "urn:ihe:iti:xds-sd:pdf:2008", "application/pdf")
    assert entry.unique_id == "1.2.250.1.999.51.7^CRBIO-N1-0007"
    assert entry.type_code.code == "11502-2"
    assert mapping.report is None


def test_unstructured_level1_pdf() -> None:
    entry = _map("n1_pdf_imaging.xml").entry
    assert entry.format_code.code == "urn:ihe:iti:xds-sd:pdf:2008"
    assert entry.body == "nonXML"


def test_imaging_report_replacing_an_earlier_version() -> None:
    entry = _map("cr_img_n3.xml").entry
    assert entry.format_code.code == "urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013"
    assert (entry.type_code.code, entry.version_number) == ("18748-4", 2)
    assert entry.replaces == "1.2.250.1.999.51.8.1"
    assert entry.class_code is not None and entry.class_code.code == "31"


def test_discharge_letter() -> None:
    entry = _map("ldl_ses_n3.xml").entry
    assert entry.format_code.code == "urn:asip:ci-sis:ldl-ses:2017"
    assert entry.type_code.code == "11490-0"
    assert entry.practice_setting_code is not None
    assert entry.practice_setting_code.code == "ETABLISSEMENT"
    assert (entry.service_start_time, entry.service_stop_time) == (
        "20250225070000", "20250301090000")
