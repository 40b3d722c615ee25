"""The header-only delivery path sends the bytes the whole-instance path would send.

Each instance is coerced twice: parsed whole and written by pynetdicom's
encoder (what a C-STORE of the Dataset sends), and parsed up to a cut (its
pixel data, or the end of the Patient group as a ``dicom`` destination
does), the header written and the stored tail appended. Both must give the
same dataset bytes, over pydicom's test files in several transfer syntaxes and
over built instances with what header patching must handle (undefined-length
sequences, an OtherPatientIDsSequence to extend, group lengths, a character
set, a transfer syntax other than the stored one).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.data import get_testdata_file
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    CTImageStorage,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)
from pynetdicom.dsutils import encode

from connectors.dicom.coerce import Origin, coerce
from connectors.dicom.part10 import part10_bytes, patch_header, read_instance, split_instance
from connectors.dicom.scu import prepare_outgoing
from hub.config import DicomCoercion
from hub.patients import PatientView

INS = ("urn:oid:1.2.250.1.213.1.4.8", "279035121518989")
LOCAL = ("urn:oid:1.2.250.1.999.1.1", "IPP-1")
FILES = ["CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm",
         "JPEG2000.dcm", "rtplan.dcm", "SC_rgb_rle.dcm", "ExplVR_BigEnd.dcm", "MR_small_expb.dcm",
         "MR_small_padded.dcm", "JPEG2000-embedded-sequence-delimiter.dcm",
         "GDCMJ2K_TextGBR.dcm", "693_J2KI.dcm", "SC_rgb_dcmtk_+eb+cy+np.dcm"]


def _coerce(ds: Dataset) -> None:
    settings = DicomCoercion(set={"InstitutionalDepartmentName": "{marker}"})
    coerce(ds, settings, PatientView("R1", (LOCAL, INS), INS),
           Origin(source="site-a", marker="Site A", local=LOCAL), "urn:oid:2.25.1")


def _part10(name: str) -> bytes:
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"pydicom test file {name} not installed")
    return Path(str(path)).read_bytes()


def _item(**attributes: object) -> Dataset:
    item = Dataset()
    for keyword, value in attributes.items():
        setattr(item, keyword, value)
    return item


def _built(syntax: UID, charset: str = "ISO_IR 100") -> bytes:
    """A CT instance with undefined-length sequences (one nested), a local
    OtherPatientIDsSequence, group length elements and non-ASCII text."""
    ds = Dataset()
    ds.SpecificCharacterSet = charset
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.add_new(0x00080000, "UL", 0)  # retired group lengths: never written again
    ds.add_new(0x00100000, "UL", 0)
    ds.PatientName = "Dupré^Élodie"
    ds.PatientID = "IPP-1"
    ds.IssuerOfPatientID = "1.2.250.1.999.1.1"
    ds.OtherPatientIDsSequence = Sequence([_item(PatientID="OLD-7", TypeOfPatientID="TEXT")])
    code = _item(CodeValue="T-D1100", CodingSchemeDesignator="SRT", CodeMeaning="Tête")
    ds.AnatomicRegionSequence = Sequence([code])
    ds.AnatomicRegionSequence[0].AnatomicRegionModifierSequence = Sequence([
        _item(CodeValue="G-A101", CodingSchemeDesignator="SRT", CodeMeaning="Gauche")])
    ds.ReferencedImageSequence = Sequence([
        _item(ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID=generate_uid())])
    for keyword in ("AnatomicRegionSequence", "OtherPatientIDsSequence"):
        ds[keyword].is_undefined_length = True
        for item in ds[keyword].value:
            item.is_undefined_length_sequence_item = True
    ds.InstitutionName = "Hôpital Nord"
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes(range(32))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = syntax
    body = encode(ds, syntax.is_implicit_VR, syntax.is_little_endian)
    assert body is not None
    return part10_bytes(meta, body)


PATIENT_GROUP_END = 0x0010FFFF  # the cut a dicom destination makes: after the Patient group
CUTS = [None, PATIENT_GROUP_END]


def _equal_to_the_whole_instance_rewritten(part10: bytes, through: int | None = None) -> None:
    whole = read_instance(part10)
    _coerce(whole)
    syntax = whole.file_meta.TransferSyntaxUID
    expected = encode(whole, syntax.is_implicit_VR, syntax.is_little_endian)

    item = prepare_outgoing(part10, through=through)
    assert item.tail is not None
    _coerce(item.dataset)
    assert "PixelData" not in item.dataset
    sent = item.encoded()

    assert sent == expected


@pytest.mark.parametrize("through", CUTS, ids=["at-pixels", "after-patient"])
@pytest.mark.parametrize("name", FILES)
def test_header_and_kept_tail_equal_the_whole_instance_rewritten(
        name: str, through: int | None) -> None:
    _equal_to_the_whole_instance_rewritten(_part10(name), through)


@pytest.mark.parametrize("through", CUTS, ids=["at-pixels", "after-patient"])
@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian,
                                    ExplicitVRBigEndian])
def test_patched_header_with_sequences_group_lengths_and_charset(
        syntax: UID, through: int | None) -> None:
    _equal_to_the_whole_instance_rewritten(_built(syntax), through)


def test_after_the_patient_group_the_elements_stay_in_the_stored_tail() -> None:
    part10 = _part10("CT_small.dcm")
    split = split_instance(part10, PATIENT_GROUP_END)
    assert split is not None
    assert "PatientID" in split.header and "Rows" not in split.header
    assert max(split.header.keys()) <= PATIENT_GROUP_END
    assert bytes(split.tail) == part10[len(part10) - len(split.tail):]
    whole = split_instance(part10)
    assert whole is not None and len(split.tail) > len(whole.tail)


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
@pytest.mark.parametrize("later", ["group-length", "undefined-length"])
def test_a_later_element_pydicom_would_rewrite_moves_the_cut_to_the_pixel_data(
        syntax: UID, later: str) -> None:
    ds = read_instance(_built(syntax))
    if later == "undefined-length":
        ds.RequestAttributesSequence = Sequence([_item(ScheduledProcedureStepID="S1")])
        ds["RequestAttributesSequence"].is_undefined_length = True
    body = encode(ds, syntax.is_implicit_VR, syntax.is_little_endian)
    assert body is not None
    if later == "group-length":  # pydicom writes none: put one before (0028,0002)
        rows = body.index(b"\x28\x00\x02\x00")
        length = b"\x04\x00\x00\x00" if syntax.is_implicit_VR else b"UL\x04\x00"
        body = body[:rows] + b"\x28\x00\x00\x00" + length + b"\x00\x00\x00\x00" + body[rows:]
    part10 = part10_bytes(ds.file_meta, body)
    split = split_instance(part10, PATIENT_GROUP_END)
    assert split is not None and "Rows" in split.header  # cut at the pixel data
    _equal_to_the_whole_instance_rewritten(part10, PATIENT_GROUP_END)


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_untouched_elements_are_the_stored_bytes(syntax: UID) -> None:
    part10 = _built(syntax)
    item = prepare_outgoing(part10)
    _coerce(item.dataset)
    patched = patch_header(item.dataset, part10, syntax.is_implicit_VR, syntax.is_little_endian)
    assert patched is not None
    # Left alone by coercion, a defined-length sequence stays raw: copied as stored.
    kept = item.dataset.get_item(0x00081140)  # ReferencedImageSequence
    assert isinstance(kept, RawDataElement)
    stored = part10[kept.value_tell - (8 if syntax.is_implicit_VR else 12):
                    kept.value_tell + kept.length]
    assert stored in patched


def test_another_syntax_or_charset_than_stored_is_written_whole() -> None:
    part10 = _built(ExplicitVRLittleEndian)
    item = prepare_outgoing(part10)
    _coerce(item.dataset)
    assert patch_header(item.dataset, part10, True, True) is None
    item.dataset.SpecificCharacterSet = "ISO_IR 192"
    assert patch_header(item.dataset, part10, False, True) is None
    _equal_to_the_whole_instance_rewritten(_built(ExplicitVRLittleEndian, "ISO_IR 192"))


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
