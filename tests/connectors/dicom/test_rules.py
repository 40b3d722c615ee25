"""Pure parts of the imaging router: coercion, C-FIND matching, DICOM route paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from connectors.dicom.coerce import Origin, check_coercion, coerce
from hub.config import DicomCoercion
from hub.errors import ConfigError
from hub.imaging.find import QueryError, find_studies
from hub.imaging.paths import DicomRoutable, check_dicom_path
from hub.patients import PatientView
from hub.routing.loader import RouteFileError, load_routes

INS = ("urn:oid:1.2.250.1.213.1.4.8", "279035121518989")
LOCAL = ("urn:oid:1.2.250.1.999.1.1", "IPP-1")
REGIONAL = "urn:oid:2.25.1"


def instance() -> Dataset:
    ds = Dataset()
    ds.PatientID = "IPP-1"
    ds.StudyInstanceUID, ds.SOPInstanceUID = "1.2.3", "1.2.3.4"
    ds.PixelData = b"\x01\x02"
    return ds


@pytest.mark.parametrize("view,expected", [
    (PatientView("R1", (LOCAL, INS), INS), (INS[1], "1.2.250.1.213.1.4.8")),
    (PatientView("R1", (LOCAL,), None), ("R1", "2.25.1")),
    (None, ("IPP-1", None)),
], ids=["qualified-ins", "regional", "unknown"])
def test_patient_id_becomes_the_ins_else_the_regional_id(
        view: PatientView | None, expected: tuple[str, str | None]) -> None:
    ds = instance()
    coerce(ds, DicomCoercion(), view, Origin("site", "CH X", LOCAL), REGIONAL)
    assert (ds.PatientID, ds.get("IssuerOfPatientID")) == expected
    assert (ds.StudyInstanceUID, ds.SOPInstanceUID, ds.PixelData) == ("1.2.3", "1.2.3.4",
                                                                      b"\x01\x02")
    if view is not None:
        assert ds.OtherPatientIDsSequence[0].PatientID == "IPP-1"
        assert ds.OtherPatientIDsSequence[0].IssuerOfPatientID == "1.2.250.1.999.1.1"


@pytest.mark.parametrize("keyword", ["StudyInstanceUID", "PixelData", "NotAKeyword"])
def test_coercion_may_not_touch_uids_or_pixels(keyword: str) -> None:
    with pytest.raises(ConfigError):
        check_coercion(DicomCoercion(set={keyword: "x"}), "destinations.pacs.coerce")


STUDIES = [{"study_uid": "1.1", "instances": 3, "modalities": "CT\\SR",
            "facts": {"PatientID": "A", "StudyDate": "20240105", "PatientName": "DUPONT^JEAN"}},
           {"study_uid": "1.2", "instances": 1, "modalities": "MR",
            "facts": {"PatientID": "B", "StudyDate": "20240301", "PatientName": "MARTIN^ANNE"}}]


@pytest.mark.parametrize("key,value,found", [
    ("PatientID", "A", ["1.1"]), ("PatientID", "", ["1.1", "1.2"]),
    ("StudyInstanceUID", "1.2\\9.9", ["1.2"]), ("StudyDate", "20240201-", ["1.2"]),
    ("PatientName", "dup*", ["1.1"]), ("ModalitiesInStudy", "SR", ["1.1"]),
], ids=["single", "universal", "uid-list", "range", "wildcard", "modalities"])
def test_c_find_matching(key: str, value: str, found: list[str]) -> None:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    setattr(query, key, value)
    query.NumberOfStudyRelatedInstances = ""
    answers = find_studies(query, STUDIES)
    assert [a.StudyInstanceUID if "StudyInstanceUID" in a else "" for a in answers] in (
        found, [""] * len(found))
    assert all("NumberOfStudyRelatedInstances" in a for a in answers)


def test_c_find_other_levels_are_refused() -> None:
    query = Dataset()
    query.QueryRetrieveLevel = "IMAGE"
    with pytest.raises(QueryError):
        find_studies(query, STUDIES)


def test_dicom_routes_name_keywords_and_hl7_routes_keep_hl7_paths(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("""\
routes:
  - name: ct
    when: {protocol: dicom, fields: {Modality: {equals: CT}, CalledAETitle: {equals: HUB}}}
    action: deliver
    to: [pacs]
""", encoding="utf-8")
    assert load_routes(tmp_path)[0].when.fields["Modality"].equals == "CT"
    (tmp_path / "s.yaml").write_text("""\
routes:
  - name: bad
    when: {protocol: dicom, fields: {Modalty: {equals: CT}}}
    action: deliver
    to: [pacs]
  - name: hl7-with-keyword
    when: {fields: {Modality: {equals: CT}}}
    action: deliver
    to: [pacs]
""", encoding="utf-8")
    with pytest.raises(RouteFileError) as error:
        load_routes(tmp_path)
    assert len(error.value.problems) == 2


def test_routable_splits_multiple_values() -> None:
    routable = DicomRoutable({"ImageType": "ORIGINAL\\PRIMARY", "Modality": "CT"})
    assert routable.get("ImageType") == ["ORIGINAL", "PRIMARY"]
    assert (routable.message_type, routable.trigger_event) == ("C-STORE", "CT")
    check_dicom_path("PatientIdentityStatus")
    with pytest.raises(ValueError):
        check_dicom_path("PID-3")
