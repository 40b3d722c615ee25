"""The DICOM listener and the ``dicom`` destination, end to end on loopback.

dcmtk's ``echoscu`` and ``storescu`` send pydicom's sample files (local
copies, each a new instance) to an in-process hub, which stores, routes and
forwards them, coerced, to dcmtk's ``storescp``. What ``storescp`` wrote
(bit-preserving) is compared with what was sent.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from sqlalchemy import select

from hub.app import Hub
from hub.db.tables import messages
from hub.patients import PatientView
from tests.connectors.dicom.conftest import (
    AUTHORITY,
    INS_OID,
    REGIONAL,
    ROUTE_ALL_TO_SINK,
    FakeDirectory,
    HubFactory,
    dicom_destination,
    dicom_port,
)
from tests.support.dicom import (
    StoreScp,
    echoscu,
    make_study,
    need_dcmtk,
    samples,
    storescu,
)
from tests.support.hubproc import await_until

LOCAL = (f"urn:oid:{AUTHORITY}", "IPP-1")
INS = (f"urn:oid:{INS_OID}", "279035121518989")
VIEW = PatientView(regional_id="R-000042", identifiers=(LOCAL, INS, (REGIONAL, "R-000042")),
                   qualified_ins=INS)
COERCE = {"set": {"InstitutionalDepartmentName": "via hub from {marker}"}}


async def journal(hub: Hub) -> list[Any]:
    """Every journal row of the hub."""
    assert hub.db is not None
    return await hub.db.fetch(select(messages).order_by(messages.c.id))


async def all_delivered(hub: Hub, count: int) -> None:
    """Wait until the journal holds ``count`` DICOM messages, all delivered."""
    async def probe() -> bool:
        rows = await journal(hub)
        return len(rows) == count and {(r.protocol, r.status) for r in rows} == {
            ("dicom", "delivered")}

    await await_until(probe, 30, f"{count} message(s) delivered")


async def send(files: list[Path], hub: Hub, calling: str = "MODALITY") -> Any:
    """storescu ``files`` to the hub (in a thread: the hub runs on this loop)."""
    return await asyncio.to_thread(storescu, files, dicom_port(hub), calling=calling)


def by_sop(paths: list[Path]) -> dict[str, Dataset]:
    """Datasets keyed by SOP Instance UID."""
    return {str(ds.SOPInstanceUID): ds for ds in (dcmread(p) for p in paths)}


def text(value: Any) -> str:
    """A private LO value: text in explicit VR, bytes (VR UN) in implicit VR."""
    return (value.decode() if isinstance(value, bytes) else str(value)).strip()


def assert_unchanged(sent: Dataset, received: Dataset) -> None:
    """UIDs, transfer syntax and pixel data byte for byte."""
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"):
        assert received[keyword].value == sent[keyword].value, keyword
    assert received.file_meta.TransferSyntaxUID == sent.file_meta.TransferSyntaxUID
    if "PixelData" in sent:
        assert received["PixelData"].value == sent["PixelData"].value


async def test_echo_then_store_is_forwarded_coerced_to_storescp(
        start_hub: HubFactory, sink: StoreScp, tmp_path: Path) -> None:
    hub = await start_hub(ROUTE_ALL_TO_SINK, {"sink": dicom_destination(sink.port,
                                                                        coerce=COERCE)})
    directory = FakeDirectory()
    directory.known[LOCAL] = VIEW
    hub.patients = directory
    assert (await asyncio.to_thread(echoscu, dicom_port(hub), calling="MODALITY")).returncode == 0
    _, files = make_study(tmp_path / "in", samples(), patient_id="IPP-1")
    assert len(files) >= 4, "pydicom's sample files are missing"

    result = await send(files, hub)

    assert result.returncode == 0, result.stderr
    await await_until(lambda: len(sink.files()) >= len(files), 30, "forwarded")
    sent, received = by_sop(files), by_sop(sink.files())
    assert sent.keys() == received.keys() and len(sink.files()) == len(files)
    for uid, ds in received.items():
        assert_unchanged(sent[uid], ds)
        assert ds.PatientID == INS[1]
        assert ds.IssuerOfPatientID == INS_OID
        qualifier = ds.IssuerOfPatientIDQualifiersSequence[0]
        assert (qualifier.UniversalEntityID, qualifier.UniversalEntityIDType) == (INS_OID, "ISO")
        other = ds.OtherPatientIDsSequence[-1]
        assert (other.PatientID, other.IssuerOfPatientID) == ("IPP-1", AUTHORITY)
        assert ds.InstitutionalDepartmentName == "via hub from CH TEST"
        block = ds.private_block(0x0009, "REGIONAL HUB")
        marker, source = (text(block[e].value) for e in (0x10, 0x11))
        assert (marker, source) == ("CH TEST", "modality")
    await all_delivered(hub, len(files))


async def test_without_a_qualified_ins_the_regional_identifier_is_sent(
        start_hub: HubFactory, sink: StoreScp, tmp_path: Path) -> None:
    hub = await start_hub(ROUTE_ALL_TO_SINK, {"sink": dicom_destination(sink.port)})
    directory = FakeDirectory()
    directory.known[LOCAL] = PatientView("R-7", (LOCAL, (REGIONAL, "R-7")), None)
    hub.patients = directory
    _, files = make_study(tmp_path / "in", samples()[:1], patient_id="IPP-1")

    assert (await send(files, hub)).returncode == 0

    await await_until(lambda: sink.files(), 30, "forwarded")
    ds = dcmread(sink.files()[0])
    assert (ds.PatientID, ds.IssuerOfPatientID) == ("R-7", REGIONAL.removeprefix("urn:oid:"))
    assert ds.OtherPatientIDsSequence[-1].PatientID == "IPP-1"


async def test_an_unknown_calling_ae_is_refused_at_association(
        start_hub: HubFactory, sink: StoreScp, tmp_path: Path) -> None:
    hub = await start_hub(ROUTE_ALL_TO_SINK, {"sink": dicom_destination(sink.port)})
    _, files = make_study(tmp_path / "in", samples()[:1], patient_id="IPP-1")

    echo = await asyncio.to_thread(echoscu, dicom_port(hub), calling="STRANGER")
    store = await send(files, hub, calling="STRANGER")

    assert echo.returncode != 0 and "Rejected" in echo.stderr + echo.stdout
    assert store.returncode != 0
    assert await journal(hub) == []


async def test_a_source_address_not_allowed_is_aborted(
        start_hub: HubFactory, sink: StoreScp, tmp_path: Path) -> None:
    hub = await start_hub(ROUTE_ALL_TO_SINK, {"sink": dicom_destination(sink.port)},
                          sources=[{"name": "modality", "ae_titles": ["MODALITY"],
                                    "addresses": ["10.9.9.0/24"]}])
    _, files = make_study(tmp_path / "in", samples()[:1], patient_id="IPP-1")

    assert (await send(files, hub)).returncode != 0
    assert await journal(hub) == []


def _send_raw(port: int, sop_class: str, body: bytes, path: Path) -> int | None:
    """C-STORE a file whose dataset is ``body``, sent as is (pynetdicom, chunked mode)."""
    from pydicom.dataset import FileMetaDataset
    from pynetdicom import AE, _config

    from connectors.dicom.part10 import PREAMBLE

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    from connectors.dicom.part10 import part10_bytes

    path.write_bytes(part10_bytes(meta, body))
    assert path.read_bytes().startswith(PREAMBLE)
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(sop_class, "1.2.840.10008.1.2.1")
    assoc = ae.associate("127.0.0.1", port, ae_title="HUB")
    assert assoc.is_established
    chunked = _config.STORE_SEND_CHUNKED_DATASET
    _config.STORE_SEND_CHUNKED_DATASET = True
    try:
        response = assoc.send_c_store(path)
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = chunked
        assoc.release()
    return int(response.Status) if response and "Status" in response else None


async def test_an_unreadable_dataset_gets_a_failure_status_and_is_kept_rejected(
        start_hub: HubFactory, sink: StoreScp, tmp_path: Path) -> None:
    hub = await start_hub(ROUTE_ALL_TO_SINK, {"sink": dicom_destination(sink.port)})
    body = b"\x10\x00\x20\x00LO\x04\x00IPP1" + b"not a dataset at all" * 3

    status = await asyncio.to_thread(_send_raw, dicom_port(hub), "1.2.840.10008.5.1.4.1.1.7",
                                     body, tmp_path / "broken.dcm")

    assert status is not None and 0xC000 <= status <= 0xCFFF
    rows = await journal(hub)
    assert [(r.protocol, r.status) for r in rows] == [("dicom", "rejected")]
    assert any(why in rows[0].error for why in ("missing", "cannot be read", "truncated"))
    assert hub.blobs is not None
    assert (await hub.blobs.get(rows[0].sha256)).endswith(body)
    assert sink.files() == []


async def test_destination_down_then_up_delivers_once_each(
        start_hub: HubFactory, tmp_path: Path) -> None:
    need_dcmtk()
    later = StoreScp(tmp_path / "late")
    hub = await start_hub(ROUTE_ALL_TO_SINK, {"sink": dicom_destination(later.port)})
    _, files = make_study(tmp_path / "in", samples()[:3], patient_id="IPP-1")

    assert (await send(files, hub)).returncode == 0
    await asyncio.sleep(1.0)  # a few failed attempts against the closed port
    await asyncio.to_thread(later.start)
    try:
        await await_until(lambda: len(later.files()) >= len(files), 30, "delivered after recovery")
        await all_delivered(hub, len(files))
        await asyncio.sleep(0.5)
        assert len(later.files()) == len(files)
    finally:
        later.stop()


async def test_a_resent_instance_is_acknowledged_but_not_stored_again(
        start_hub: HubFactory, sink: StoreScp, tmp_path: Path) -> None:
    hub = await start_hub(ROUTE_ALL_TO_SINK, {"sink": dicom_destination(sink.port)})
    _, files = make_study(tmp_path / "in", samples()[:1], patient_id="IPP-1")

    assert (await send(files, hub)).returncode == 0
    assert (await send(files, hub)).returncode == 0

    await await_until(lambda: sink.files(), 30, "forwarded")
    await asyncio.sleep(0.5)
    assert len(await journal(hub)) == 1 and len(sink.files()) == 1


@pytest.mark.parametrize("modality,routed", [("CT", True), ("MR", False)], ids=["CT", "MR"])
async def test_routes_match_dicom_keywords_and_the_calling_ae(
        start_hub: HubFactory, sink: StoreScp, tmp_path: Path, modality: str,
        routed: bool) -> None:
    routes = """\
routes:
  - name: ct-from-modality
    when:
      protocol: dicom
      fields:
        Modality: {equals: CT}
        CallingAETitle: {equals: MODALITY}
        InstitutionName: {contains: IMAGING}
        PatientIdentityStatus: {in: [unknown, known, qualified]}
    action: deliver
    to: [sink]
"""
    hub = await start_hub(routes, {"sink": dicom_destination(sink.port)})
    source = next(p for p in samples() if dcmread(p, stop_before_pixels=True).Modality
                  == modality)
    _, files = make_study(tmp_path / "in", [source], patient_id="IPP-1")

    assert (await send(files, hub)).returncode == 0

    rows = await journal(hub)
    assert rows[0].status in (("routed", "delivered") if routed else ("unrouted",))


async def test_a_new_character_set_re_encodes_text_beyond_the_patient_group(
        start_hub: HubFactory, sink: StoreScp, tmp_path: Path) -> None:
    """Setting SpecificCharacterSet re-encodes every text element, not only the header's."""
    coerce = {"set": {"SpecificCharacterSet": "ISO_IR 192"}}
    hub = await start_hub(ROUTE_ALL_TO_SINK, {"sink": dicom_destination(sink.port,
                                                                        coerce=coerce)})
    hub.patients = FakeDirectory()
    _, files = make_study(tmp_path / "in", samples()[:1], patient_id="IPP-1")
    latin = dcmread(files[0])
    latin.SpecificCharacterSet = "ISO_IR 100"
    latin.PatientName = "Hélène^Bérénice"
    latin.ImageComments = "Tête, épaule gauche"  # (0020,4000): after the Patient group
    latin.save_as(files[0])

    assert (await send(files, hub)).returncode == 0

    await await_until(lambda: sink.files(), 30, "forwarded")
    raw = sink.files()[0].read_bytes()
    assert "Tête, épaule gauche".encode() in raw
    assert "Tête, épaule gauche".encode("latin-1") not in raw
    received = dcmread(sink.files()[0])
    assert received.SpecificCharacterSet == "ISO_IR 192"
    assert (str(received.PatientName), received.ImageComments) == (
        "Hélène^Bérénice", "Tête, épaule gauche")
