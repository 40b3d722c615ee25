"""C-FIND answers keep the names of every script, and say in which character set.

Instances whose Patient's Name is written in Japanese, Greek, Cyrillic,
Hebrew and Arabic (ISO_IR 192, UTF-8), in Cyrillic (ISO_IR 144) and in
Latin-1 (ISO_IR 100) are sent with dcmtk's ``storescu``; a pynetdicom SCU then
asks for every study. Each answer must declare its Specific Character Set
(PS3.5 6.1.2.3) and carry the names as stored; dcmtk's ``findscu`` must read
the same names back.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
)

from hub.imaging.find import answer_charset
from tests.connectors.dicom.conftest import HubFactory, dicom_port
from tests.support.dicom import need_dcmtk, samples, storescu

NAMES = [
    ("ISO_IR 192", "山田^太郎"), ("ISO_IR 192", "Ελληνικά^Νίκος"),
    ("ISO_IR 192", "Иванов^Иван"), ("ISO_IR 192", "עברית^דוד"), ("ISO_IR 192", "عربي^علي"),
    ("ISO_IR 144", "Петров^Пётр"), ("ISO_IR 100", "Müller^Jürgen"),
]


def _instances(directory: Path) -> dict[str, tuple[str, str]]:
    """One study per name: StudyInstanceUID -> (character set, name)."""
    source = samples(["CT_small.dcm"])
    if not source:
        pytest.skip("pydicom test file CT_small.dcm not installed")
    made: dict[str, tuple[str, str]] = {}
    directory.mkdir(parents=True, exist_ok=True)
    for n, (charset, name) in enumerate(NAMES):
        ds = dcmread(source[0])
        ds.SpecificCharacterSet = charset
        ds.PatientName = name
        ds.StudyDescription = name.split("^")[0]
        ds.StudyInstanceUID = generate_uid()
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.save_as(directory / f"{n}.dcm", enforce_file_format=True)
        made[str(ds.StudyInstanceUID)] = (charset, name)
    return made


def _find(port: int) -> list[Dataset]:
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = ""
    query.PatientName = ""
    query.StudyDescription = ""
    assoc = ae.associate("127.0.0.1", port, ae_title="HUB")
    assert assoc.is_established
    try:
        return [identifier for status, identifier in assoc.send_c_find(
            query, StudyRootQueryRetrieveInformationModelFind)
            if status and status.Status == 0xFF00 and identifier is not None]
    finally:
        assoc.release()


def _findscu(port: int) -> str:
    result = subprocess.run(
        ["findscu", "-S", "-aet", "MODALITY", "-aec", "HUB", "-k", "QueryRetrieveLevel=STUDY",
         "-k", "PatientName", "-k", "StudyInstanceUID", "-k", "SpecificCharacterSet",
         "127.0.0.1", str(port)], capture_output=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    return result.stderr.decode("utf-8", "replace") + result.stdout.decode("utf-8", "replace")


async def test_c_find_answers_keep_every_script_and_declare_the_character_set(
        start_hub: HubFactory, tmp_path: Path) -> None:
    need_dcmtk()
    made = _instances(tmp_path / "in")
    hub = await start_hub("routes: []\n", {})

    sent = await asyncio.to_thread(storescu, sorted((tmp_path / "in").iterdir()),
                                   dicom_port(hub), calling="MODALITY")
    assert sent.returncode == 0, sent.stderr
    answers = await asyncio.to_thread(_find, dicom_port(hub))

    assert {str(a.StudyInstanceUID) for a in answers} == set(made)
    for answer in answers:
        charset, name = made[str(answer.StudyInstanceUID)]
        assert answer.SpecificCharacterSet == charset
        assert str(answer.PatientName) == name
        assert str(answer.StudyDescription) == name.split("^")[0]
    printed = await asyncio.to_thread(_findscu, dicom_port(hub))
    for charset, name in NAMES:
        if charset == "ISO_IR 192":  # findscu prints the bytes received: UTF-8 here
            assert name in printed, name
    assert printed.count("ISO_IR 192") == sum(c == "ISO_IR 192" for c, _ in NAMES)


@pytest.mark.parametrize("stored,values,expected", [
    ("", ["DUPONT^JEAN"], ""), ("ISO_IR 100", ["Müller"], "ISO_IR 100"),
    ("ISO_IR 100", ["山田"], "ISO_IR 192"), ("", ["Иванов"], "ISO_IR 192"),
    ("ISO 2022 IR 6\\ISO 2022 IR 87", ["山田"], "ISO_IR 192"),
    ("ISO 2022 IR 6\\ISO 2022 IR 87", ["YAMADA"], "ISO 2022 IR 6\\ISO 2022 IR 87"),
], ids=["default", "latin-1", "beyond-latin-1", "undeclared", "extensions", "ascii-kept"])
def test_the_answer_character_set(stored: str, values: list[str], expected: str) -> None:
    assert answer_charset(stored, values) == expected
