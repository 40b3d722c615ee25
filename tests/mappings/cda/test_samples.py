"""The CDA documents published by the ANS (``../shared/samples``) map, with the right metadata."""

from __future__ import annotations

from pathlib import Path

from mappings.cda import CdaMapping, map_cda

HL7V2_CDA = "hl7v2/Volets/TRANS_DOC_CDA_HL7V2/V2.1/ORU"
SEGUR_ORU = "hl7v2/Vague 2/Trans_Doc-CDA-HL7V2/TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1/ORU"


def _documents(samples: Path) -> list[Path]:
    found = sorted((samples / "cda").glob("*.xml"))
    found += sorted(p for p in (samples / "hl7v2").rglob("*") if p.suffix.lower() == ".xml")
    return found


def _map(samples: Path, relative: str) -> CdaMapping:
    return map_cda((samples / relative).read_bytes())


def test_every_published_document_maps(shared_samples: Path) -> None:
    documents = _documents(shared_samples)
    assert len(documents) >= 30
    for path in documents:
        mapping = map_cda(path.read_bytes())
        assert mapping.entry.size == path.stat().st_size, path
        assert mapping.document_reference.subject is not None


def test_cr_bio_level3(shared_samples: Path) -> None:
    mapping = _map(shared_samples, "cda/BIO-CR-BIO_2024.01_TSH_1.xml")
    entry = mapping.entry
    assert entry.unique_id == "1.2.250.1.213.1.1.1.55.2024.9.1"
    assert entry.format_code.code == "urn:ihe:lab:xd-lab:2008"
    assert entry.type_code.code == "11502-2"
    assert entry.patient_id == "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
    assert entry.source_patient_id == "1234567890121^^^&1.2.3.4.567.8.9.10&ISO^PI"
    assert (entry.set_id, entry.version_number) == ("1.2.250.1.213.1.1.1.55.2024.9", 1)
    assert [o.code.coding[0].code for o in mapping.observations] == ["3016-3", "3024-7"]
    assert mapping.observations[1].interpretation[0].coding[0].code == "L"
    assert mapping.patient.identifier[0].type.coding[0].code == "INS-NIR-TEST"


def test_imaging_report_replacing_an_earlier_version(shared_samples: Path) -> None:
    entry = _map(shared_samples, "cda/IMG_CR_IMG_2024.01.xml").entry
    assert entry.format_code.code == "urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013"
    assert entry.type_code.code == "18748-4"
    assert entry.version_number == 2
    assert entry.replaces == "90E1C8EC-F951-4B26-A305-A34848818DD6"


def test_discharge_letter(shared_samples: Path) -> None:
    entry = _map(shared_samples, "cda/LDL-SES_2022.01.xml").entry
    assert entry.format_code.code == "urn:asip:ci-sis:ldl-ses:2017"
    assert entry.type_code.code == "11490-0"
    assert entry.practice_setting_code is not None
    assert entry.practice_setting_code.code == "ETABLISSEMENT"


def test_level1_pdf(shared_samples: Path) -> None:
    mapping = _map(shared_samples, "cda/DOC_NON_STRUCTURE_CDA-R2-N1.xml")
    assert mapping.entry.format_code.code == "urn:ihe:iti:xds-sd:pdf:2008"
    assert mapping.entry.body_media_type == "application/pdf"
    assert mapping.report is None


def test_hl7v2_replacement_of_level3_report(shared_samples: Path) -> None:
    entry = _map(shared_samples, f"{HL7V2_CDA}/Remplacement ORU/CR_Bio_CDA_Niv3_v2.XML").entry
    assert entry.unique_id == "1.2.250.1.213.1.1.12"
    assert (entry.set_id, entry.version_number) == ("1.2.250.1.213.1.1.9", 2)
    assert entry.replaces == "1.2.250.1.213.1.1.9"
    assert entry.format_code.code == "urn:ihe:lab:xd-lab:2008"


def test_mdm_radiology_report_with_root_and_extension(shared_samples: Path) -> None:
    entry = _map(shared_samples, "hl7v2/Volets/TRANS_DOC_CDA_HL7V2/V2.0/MDM/"
                 "Remplacement MDM/CR_Radio_CDAN1_v2.XML").entry
    assert entry.unique_id == "1.2.250.1.71.4.2.2.120456789^A71024000082"
    assert entry.replaces == "1.2.250.1.71.4.2.2.120456789^A71024000081"
    assert entry.patient_id == "274075176079430^^^&1.2.250.1.213.1.4.8&ISO^NH"
    assert entry.set_id is None
    assert entry.format_code.code == "urn:ihe:iti:xds-sd:pdf:2008"


def test_segur_report_keeps_results_not_earlier_values(shared_samples: Path) -> None:
    mapping = _map(shared_samples,
                   f"{SEGUR_ORU}/Transmission initiale ORU/SEGUR_CR-BIO_2023.01_Electrophorese.xml")
    assert len(mapping.observations) == 38
    urea = next(o for o in mapping.observations if o.code.coding[0].code == "22664-7")
    assert str(urea.valueQuantity.value) == "10.02"
    assert urea.effectiveDateTime is not None
    assert mapping.report is not None and len(mapping.report.result) == 38
