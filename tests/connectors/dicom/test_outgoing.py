"""The header-only delivery path sends the bytes the whole-instance path would send.

Each instance is coerced twice: parsed whole and written by pynetdicom's
encoder (what a C-STORE of the Dataset sends), and parsed up to its pixel
data, the header written and the stored tail appended. Both must give the
same dataset bytes, over pydicom's test files in several transfer syntaxes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pynetdicom.dsutils import encode

from connectors.dicom.coerce import Origin, coerce
from connectors.dicom.part10 import read_instance
from connectors.dicom.scu import prepare_outgoing
from hub.config import DicomCoercion
from hub.patients import PatientView

INS = ("urn:oid:1.2.250.1.213.1.4.8", "279035121518989")
LOCAL = ("urn:oid:1.2.250.1.999.1.1", "IPP-1")
FILES = ["CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm",
         "JPEG2000.dcm", "rtplan.dcm", "SC_rgb_rle.dcm"]


def _coerce(ds: Dataset) -> None:
    settings = DicomCoercion(set={"InstitutionalDepartmentName": "{marker}"})
    coerce(ds, settings, PatientView("R1", (LOCAL, INS), INS),
           Origin(source="site-a", marker="Site A", local=LOCAL), "urn:oid:2.25.1")


def _part10(name: str) -> bytes:
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"pydicom test file {name} not installed")
    return Path(str(path)).read_bytes()


@pytest.mark.parametrize("name", FILES)
def test_header_and_kept_tail_equal_the_whole_instance_rewritten(name: str) -> None:
    part10 = _part10(name)
    whole = read_instance(part10)
    _coerce(whole)
    syntax = whole.file_meta.TransferSyntaxUID
    expected = encode(whole, syntax.is_implicit_VR, syntax.is_little_endian)

    item = prepare_outgoing(part10)
    assert item.tail is not None
    _coerce(item.dataset)
    assert "PixelData" not in item.dataset
    sent = item.encoded()

    assert sent == expected


def test_a_deflated_instance_is_parsed_whole() -> None:
    item = prepare_outgoing(_part10("image_dfl.dcm"))
    assert item.tail is None
    assert "PixelData" in item.dataset


def test_the_whole_instance_for_conversion_keeps_the_coercion() -> None:
    part10 = _part10("CT_small.dcm")
    item = prepare_outgoing(part10)
    _coerce(item.dataset)
    whole = item.whole()
    assert whole.PatientID == INS[1]
    assert whole.OtherPatientIDsSequence[-1].PatientID == read_instance(part10).PatientID
    assert whole.PixelData == read_instance(part10).PixelData
