"""DICOM headers -> ImagingStudy and patient traits, on pydicom's bundled test files."""

from __future__ import annotations

import warnings
from pathlib import Path

import pydicom
import pytest
from fhir.resources.R4B.imagingstudy import ImagingStudy
from pydicom import dcmread
from pydicom.dataset import Dataset

from hub.errors import MappingError
from mappings.dicom import map_dicom_instance, merge_instances

# Only files shipped inside the pydicom wheel: get_testdata_file would try
# to download the others.
TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
BUNDLED = ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "rtplan.dcm", "rtdose.dcm",
           "reportsi.dcm", "liver_1frame.dcm", "SC_rgb_rle.dcm"]


def _header(name: str) -> Dataset:
    return dcmread(TEST_FILES / name, stop_before_pixels=True)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_files_map_to_valid_imaging_studies(name: str) -> None:
    ds = _header(name)
    mapping = map_dicom_instance(ds)
    study = ImagingStudy.model_validate_json(mapping.imaging_study.model_dump_json())
    assert study.identifier[0].value == f"urn:oid:{ds.StudyInstanceUID}"
    (series,) = study.series
    assert series.uid == ds.SeriesInstanceUID
    assert series.instance[0].uid == ds.SOPInstanceUID
    assert series.instance[0].sopClass.code == f"urn:oid:{ds.SOPClassUID}"
    assert series.modality.code == ds.Modality
    assert (study.numberOfSeries, study.numberOfInstances) == (1, 1)


def test_ct_small() -> None:
    mapping = map_dicom_instance(_header("CT_small.dcm"))
    study = mapping.imaging_study
    assert mapping.facts.study_uid == "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
    assert study.started is not None
    assert study.started.isoformat() == "2004-01-19T07:27:30-05:00"  # TimezoneOffsetFromUTC
    assert study.series[0].number == 1
    assert study.subject.identifier.value == "1CT1"
    traits = mapping.patient
    assert (traits.patient_id, traits.family, traits.given, traits.gender) == (
        "1CT1", "CompressedSamples", ("CT1",), "other")


def test_accession_number_referrer_and_issuer() -> None:
    ds = _header("MR_small.dcm")
    ds.AccessionNumber = "ACC-2025-0042"
    ds.ReferringPhysicianName = "MARTIN^Jeanne Marie"
    ds.IssuerOfPatientID = "1.2.250.1.71.4.2.2.999"
    ds.PatientName = "DUPONT^Jean Pierre^^M."
    ds.PatientBirthDate = "19610305"
    ds.TimezoneOffsetFromUTC = "-0500"
    mapping = map_dicom_instance(ds)
    study = mapping.imaging_study
    accession = study.identifier[1]
    assert (accession.value, accession.type.coding[0].code) == ("ACC-2025-0042", "ACSN")
    assert study.referrer.display == "Jeanne Marie MARTIN"
    assert study.subject.identifier.system == "urn:oid:1.2.250.1.71.4.2.2.999"
    assert study.started.isoformat() == "2004-08-26T18:50:59-05:00"
    assert mapping.patient.given == ("Jean", "Pierre")
    assert mapping.patient.birth_date == "1961-03-05"
    assert mapping.patient.gender == "female"


def test_merge_counts_series_and_instances() -> None:
    ct = _header("CT_small.dcm")
    mappings = []
    for series, instance in [("1", "1"), ("1", "2"), ("2", "1"), ("1", "2")]:
        copy = Dataset(ct)
        copy.SeriesInstanceUID = f"{ct.StudyInstanceUID}.{series}"
        copy.SOPInstanceUID = f"{ct.StudyInstanceUID}.{series}.{instance}"
        mappings.append(map_dicom_instance(copy))
    study = merge_instances(mappings)
    assert (study.numberOfSeries, study.numberOfInstances) == (2, 3)
    assert [s.numberOfInstances for s in study.series] == [2, 1]


def test_merge_refuses_two_studies() -> None:
    with pytest.raises(MappingError, match="several studies"):
        merge_instances([map_dicom_instance(_header("CT_small.dcm")),
                         map_dicom_instance(_header("MR_small.dcm"))])


def test_merge_refuses_nothing() -> None:
    with pytest.raises(MappingError, match="no instance"):
        merge_instances([])


@pytest.mark.parametrize(
    ("keyword", "value", "message"),
    [
        pytest.param("StudyInstanceUID", None, "StudyInstanceUID is missing", id="no-study-uid"),
        pytest.param("SeriesInstanceUID", "", "SeriesInstanceUID is missing",
                     id="empty-series-uid"),
        pytest.param("SOPInstanceUID", "1.2.abc", "'1.2.abc' is not a DICOM UID",
                     id="bad-sop-uid"),
        pytest.param("StudyDate", "20041319", "StudyDate '20041319'", id="month-13"),
        pytest.param("StudyTime", "7h27", "is not a DICOM time", id="bad-time"),
        pytest.param("PatientBirthDate", "19610230", "day is out of range", id="feb-30"),
    ],
)
def test_bad_header_names_the_keyword(keyword: str, value: str | None, message: str) -> None:
    ds = _header("CT_small.dcm")
    if value is None:
        del ds[keyword]
    else:
        with warnings.catch_warnings():  # pydicom warns about the invalid value set here
            warnings.simplefilter("ignore")
            setattr(ds, keyword, value)
    with pytest.raises(MappingError) as caught:
        map_dicom_instance(ds)
    assert caught.value.location == keyword
    assert message in str(caught.value)
