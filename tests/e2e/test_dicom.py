"""Imaging end to end on a ``hub run`` subprocess: dcmtk in, storescp and Orthanc out.

One hub serves the module with the identity and imaging components. An ADT
A01 over MLLP makes the SRRI know the patient (regional identity); dcmtk's
``storescu`` then sends pydicom's sample files (new instances of one study,
PatientID = the IPP) to the hub, which forwards them, coerced to the
regional identifier, to a ``storescp`` and to an Orthanc started here with
their own configuration on free ports. The study is then found through FHIR
and C-FIND. A second hub is killed with SIGKILL in the middle of a study:
every instance that got a success status reaches the destination.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
)

from tests.e2e.clients import send_once
from tests.e2e.messages import adt
from tests.support.dicom import (
    Orthanc,
    StoreScp,
    echoscu,
    make_study,
    need_dcmtk,
    need_orthanc,
    samples,
    storescu,
)
from tests.support.hubproc import REPO_ROOT, HubProcess, free_port, wait_until, write_config

pytestmark = pytest.mark.timeout(240)

AUTHORITY = "1.2.250.1.71.4.2.2.999"  # the IPP authority of tests.e2e.messages
REGIONAL_OID = "2.25.114077959961030865733295044946271075314"
_ipps = itertools.count(1)

ROUTES = """\
routes:
  - name: adt-to-srri
    when: {message_type: ADT}
    action: deliver
    to: [srri]
  - name: images-out
    when:
      protocol: dicom
      fields:
        CallingAETitle: {equals: MODALITY}
    action: deliver
    to: [sink, orthanc]
"""

ROUTE_TO_SINK = """\
routes:
  - name: images-to-sink
    when: {protocol: dicom}
    action: deliver
    to: [sink]
"""


def dicom_out(port: int, aet: str) -> dict[str, Any]:
    """A ``dicom`` destination with test-sized retries and a source marker."""
    return {"type": "dicom", "host": "127.0.0.1", "port": port, "called_ae": aet,
            "timeout_s": 10, "retry": {"max_attempts": 50, "initial_s": 0.1, "max_s": 0.5},
            "coerce": {"set": {"InstitutionalDepartmentName": "{marker}"}}}


def dicom_settings(port: int, quiet_s: float = 1.0) -> dict[str, Any]:
    """The listener, one source ``modality``."""
    return {"enabled": True, "port": port, "study_quiet_s": quiet_s,
            "sources": [{"name": "modality", "ae_titles": ["MODALITY"], "marker": "CH E2E"}]}


@dataclass
class Imaging:
    """The module's hub and its two destinations."""

    hub: HubProcess
    dicom_port: int
    sink: StoreScp
    orthanc: Orthanc


@pytest.fixture(scope="module")
def imaging(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Imaging]:
    """A hub with identity and imaging, a storescp and an Orthanc; all stopped afterwards."""
    need_dcmtk()
    binary = need_orthanc()
    directory = tmp_path_factory.mktemp("imaging")
    sink = StoreScp(directory / "sink").start()
    orthanc = Orthanc(directory / "orthanc").start(binary)
    port = free_port()
    config = write_config(
        directory, routes=ROUTES, components=["identity", "imaging"], dicom=dicom_settings(port),
        destinations={"srri": {"type": "srri"}, "sink": dicom_out(sink.port, sink.aet),
                      "orthanc": dicom_out(orthanc.dicom_port, orthanc.aet)})
    try:
        with HubProcess(config) as hub:
            yield Imaging(hub, port, sink, orthanc)
    finally:
        orthanc.stop()
        sink.stop()


@pytest.fixture(scope="module")
def hub(imaging: Imaging) -> HubProcess:
    """The hub under test (for the ``api`` fixture)."""
    return imaging.hub


@dataclass
class SentStudy:
    """A study sent by storescu, and its patient's IPP."""

    ipp: str
    study_uid: str
    files: list[Path]


def known_patient(imaging: Imaging) -> str:
    """A new IPP, made known to the SRRI by an ADT A01; returns it."""
    ipp = f"IMG{next(_ipps):05d}"
    ack = send_once(imaging.hub.mllp_port, adt("A01", f"IMG-{ipp}", ipp))
    assert b"|AA|" in ack
    return ipp


@pytest.fixture(scope="module")
def sent(imaging: Imaging, tmp_path_factory: pytest.TempPathFactory) -> SentStudy:
    """One study of every sample file, sent once per module."""
    ipp = known_patient(imaging)
    wait_until(lambda: _pix(imaging, ipp), 20, "SRRI knows the patient")
    study_uid, files = make_study(tmp_path_factory.mktemp("study"), samples(),
                                  patient_id=ipp, issuer=AUTHORITY)
    result = storescu(files, imaging.dicom_port, calling="MODALITY")
    assert result.returncode == 0, result.stderr
    return SentStudy(ipp, study_uid, files)


def _pix(imaging: Imaging, ipp: str) -> bool:
    response = httpx.get(f"{imaging.hub.base_url}/fhir/Patient/$ihe-pix",
                         params={"sourceIdentifier": f"urn:oid:{AUTHORITY}|{ipp}"},
                         headers=imaging.hub.headers, timeout=10)
    return response.status_code == 200


def check_instance(sent: Dataset, received: Dataset, ipp: str) -> None:
    """UIDs and pixel data unchanged; PatientID the regional identifier; the marker set."""
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"):
        assert received[keyword].value == sent[keyword].value, keyword
    if "PixelData" in sent:
        assert received["PixelData"].value == sent["PixelData"].value
    assert received.IssuerOfPatientID == REGIONAL_OID
    assert received.PatientID not in ("", ipp)
    local = received.OtherPatientIDsSequence[-1]
    assert (local.PatientID, local.IssuerOfPatientID) == (ipp, AUTHORITY)
    assert received.InstitutionalDepartmentName == "CH E2E"


def test_echoscu_is_answered(imaging: Imaging) -> None:
    assert echoscu(imaging.dicom_port, calling="MODALITY").returncode == 0
    assert echoscu(imaging.dicom_port, calling="INTRUDER").returncode != 0


def test_storescp_receives_every_instance_coerced_and_unchanged(
        imaging: Imaging, sent: SentStudy) -> None:
    wait_until(lambda: len(imaging.sink.files()) >= len(sent.files), 60, "at storescp")
    received = {str(ds.SOPInstanceUID): ds for ds in map(dcmread, imaging.sink.files())}
    for path in sent.files:
        original = dcmread(path)
        check_instance(original, received[str(original.SOPInstanceUID)], sent.ipp)


def test_orthanc_receives_every_instance_coerced_and_unchanged(
        imaging: Imaging, sent: SentStudy) -> None:
    from io import BytesIO

    wait_until(lambda: len(imaging.orthanc.instances()) >= len(sent.files), 60, "at Orthanc")
    stored = [dcmread(BytesIO(imaging.orthanc.file(i))) for i in imaging.orthanc.instances()]
    received = {str(ds.SOPInstanceUID): ds for ds in stored}
    assert len(received) == len(sent.files)
    for path in sent.files:
        original = dcmread(path)
        check_instance(original, received[str(original.SOPInstanceUID)], sent.ipp)


def _search(imaging: Imaging, system: str, value: str) -> dict[str, Any]:
    response = httpx.get(f"{imaging.hub.base_url}/fhir/ImagingStudy",
                         params={"patient.identifier": f"{system}|{value}"},
                         headers=imaging.hub.headers, timeout=10)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def test_the_complete_study_is_found_through_fhir(imaging: Imaging, sent: SentStudy) -> None:
    from fhir.resources.R4B.imagingstudy import ImagingStudy

    local = f"urn:oid:{AUTHORITY}"
    page = wait_until(lambda: _search(imaging, local, sent.ipp).get("entry"), 30, "indexed")
    study = ImagingStudy.model_validate(page[0]["resource"])
    assert study.id == sent.study_uid
    assert study.numberOfInstances == len(sent.files)
    regional = dcmread(imaging.sink.files()[0]).PatientID
    by_regional = _search(imaging, f"urn:oid:{REGIONAL_OID}", regional)
    assert [e["resource"]["id"] for e in by_regional["entry"]] == [sent.study_uid]
    assert _search(imaging, local, "nobody").get("entry", []) == []


def test_c_find_at_study_level_lists_what_arrived(imaging: Imaging, sent: SentStudy) -> None:
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = sent.ipp
    query.StudyInstanceUID = ""
    query.NumberOfStudyRelatedInstances = ""
    query.ModalitiesInStudy = ""
    assoc = ae.associate("127.0.0.1", imaging.dicom_port, ae_title="HUB")
    assert assoc.is_established
    try:
        answers = [identifier for status, identifier in assoc.send_c_find(
            query, StudyRootQueryRetrieveInformationModelFind)
            if status and status.Status == 0xFF00]
    finally:
        assoc.release()
    assert [str(a.StudyInstanceUID) for a in answers] == [sent.study_uid]
    assert int(answers[0].NumberOfStudyRelatedInstances) == len(sent.files)


def test_hub_studies_list_shows_the_study(imaging: Imaging, sent: SentStudy) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "--config", str(imaging.hub.config),
         "studies", "list", "--json"], cwd=REPO_ROOT, capture_output=True, text=True,
        timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert sent.study_uid in {r["study_uid"] for r in rows}


def test_hub_send_dicom_sends_a_directory(imaging: Imaging, tmp_path: Path) -> None:
    _, files = make_study(tmp_path / "cli", samples()[:2], patient_id="CLI-1")
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "send", "dicom", str(tmp_path / "cli"),
         "--host", "127.0.0.1", "--port", str(imaging.dicom_port), "--aet", "HUB",
         "--calling-aet", "MODALITY", "--json"], cwd=REPO_ROOT, capture_output=True,
        text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    statuses = [json.loads(line)["status"] for line in result.stdout.splitlines()]
    assert statuses == [0] * len(files)


@pytest.mark.slow
def test_kill_9_mid_study_forwards_every_acknowledged_instance(
        tmp_path: Path) -> None:
    need_dcmtk()
    from connectors.dicom.send import SendResult, send_files

    sink = StoreScp(tmp_path / "sink").start()
    port = free_port()
    config = write_config(tmp_path, routes=ROUTE_TO_SINK, components=["imaging"],
                          dicom=dicom_settings(port),
        destinations={"sink": dicom_out(sink.port, sink.aet)})
    _, files = make_study(tmp_path / "in", samples()[:2], patient_id="K9", copies=40)
    acknowledged: list[SendResult] = []
    hub = HubProcess(config).start()
    try:
        def sender() -> None:
            try:
                send_files(files, "127.0.0.1", port, calling_ae="MODALITY",
                           progress=lambda r: acknowledged.append(r) if r.stored else None)
            except Exception:  # the association dies with the hub
                pass

        thread = threading.Thread(target=sender)
        thread.start()
        wait_until(lambda: len(acknowledged) >= len(files) // 3, 60, "a third acknowledged")
        hub.kill()
        thread.join(30)
        got = {r.sop_instance_uid for r in acknowledged}
        assert 0 < len(got) < len(files)
        hub.start()

        def forwarded() -> set[str]:
            return {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID)
                    for p in sink.files()}

        wait_until(lambda: got <= forwarded(), 60, "every acknowledged instance forwarded")
    finally:
        hub.stop()
        sink.stop()

