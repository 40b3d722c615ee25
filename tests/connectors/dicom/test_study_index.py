"""The study indexer and an instance it cannot map.

An instance whose Study Instance UID is not a UID (PS3.5 9.1) is accepted
at C-STORE (it is the sender's to keep) but cannot become an ImagingStudy.
Its journal message gets one ``not-indexed`` event naming the attribute,
however many indexing passes follow, and a good study sent after it is
indexed all the same.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid
from sqlalchemy import select

from hub.app import Hub
from hub.db.tables import events
from tests.connectors.dicom.conftest import HubFactory, dicom_port
from tests.support.dicom import make_study, need_dcmtk, samples, storescu
from tests.support.hubproc import await_until


async def not_indexed(hub: Hub) -> list[tuple[str, str]]:
    """(message id, detail) of every ``not-indexed`` journal event."""
    assert hub.db is not None
    e = events.c
    rows = await hub.db.fetch(select(e.message_id, e.detail).where(e.stage == "not-indexed"))
    return [(r.message_id, r.detail) for r in rows]


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI:UserWarning")
async def test_an_instance_with_an_invalid_uid_is_marked_once_and_holds_nothing_up(
        start_hub: HubFactory, tmp_path: Path) -> None:
    need_dcmtk()
    source = samples(["CT_small.dcm"])
    if not source:
        pytest.skip("pydicom test file CT_small.dcm not installed")
    bad = dcmread(source[0])
    bad.StudyInstanceUID = "1.2.3.STUDY"
    bad.SOPInstanceUID = bad.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    bad.save_as(tmp_path / "bad.dcm", enforce_file_format=True)
    good_study, good = make_study(tmp_path / "good", source, patient_id="IPP-1")
    hub = await start_hub("routes: []\n", {}, study_quiet_s=0.2)
    imaging = next(c for c in hub.components if c.name == "imaging")

    sent = await asyncio.to_thread(storescu, [tmp_path / "bad.dcm", *good], dicom_port(hub),
                                   calling="MODALITY")

    assert sent.returncode == 0, sent.stderr
    marked = await await_until(lambda: not_indexed(hub), 10, "the bad instance marked")
    await await_until(lambda: imaging.index.get(good_study), 10,  # type: ignore[attr-defined]
                      "the good study indexed")
    await asyncio.sleep(1.0)  # several indexing passes (every 0.1 s here)
    assert await not_indexed(hub) == marked
    assert len(marked) == 1 and "StudyInstanceUID" in marked[0][1]
    assert "1.2.3.STUDY" in marked[0][1]
