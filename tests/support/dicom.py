"""DICOM test helpers: sample instances, dcmtk's storescp and storescu, an Orthanc.

Samples are pydicom's bundled test files, used only when present locally
(``get_testdata_files`` never downloads). Each copy gets a new SOP Instance
UID (and, when asked, one Study Instance UID and a PatientID), written by
pydicom without touching the pixel data, so that several copies of one file
are distinct instances. dcmtk and Orthanc are Debian packages that
``.ci/run`` installs; every process here is started on free ports and
stopped by the object that started it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import httpx
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_files
from pydicom.uid import generate_uid

from tests.support.hubproc import free_port, wait_until

SAMPLES = ("CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "JPEG2000.dcm",
           "SC_rgb_jpeg_dcmtk.dcm", "rtplan.dcm")
"""Uncompressed CT and MR, RLE, JPEG 2000, JPEG baseline, and an RT Plan (no pixels)."""

ORTHANC = shutil.which("Orthanc") or ("/usr/sbin/Orthanc"
                                      if Path("/usr/sbin/Orthanc").exists() else None)


def need_dcmtk() -> None:
    """Skip (fail under CI) when dcmtk is missing."""
    if shutil.which("storescu") is None or shutil.which("storescp") is None:
        if os.environ.get("CI"):
            pytest.fail("dcmtk is not installed (apt-get install dcmtk)")
        pytest.skip("dcmtk is not installed")


def need_orthanc() -> str:
    """The Orthanc binary; skip (fail under CI) when missing."""
    if ORTHANC is None:
        if os.environ.get("CI"):
            pytest.fail("orthanc is not installed (apt-get install orthanc)")
        pytest.skip("orthanc is not installed")
    return ORTHANC


def local_sample(name: str) -> Path | None:
    """A pydicom test file if it is on this machine (never downloaded)."""
    found = [Path(p) for p in get_testdata_files(name) if Path(p).name == name]
    return found[0] if found else None


def samples(names: Iterable[str] = SAMPLES) -> list[Path]:
    """The local sample files among ``names``."""
    return [p for p in (local_sample(n) for n in names) if p is not None]


def make_instance(source: Path, target: Path, *, study_uid: str | None = None,
                  patient_id: str | None = None, issuer: str | None = None) -> Path:
    """A copy of ``source`` as a new instance (new SOP Instance UID)."""
    ds = dcmread(source)
    uid = generate_uid()
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    if study_uid:
        ds.StudyInstanceUID = study_uid
    if patient_id is not None:
        ds.PatientID = patient_id
    if issuer is not None:
        ds.IssuerOfPatientID = issuer
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(target, enforce_file_format=True)
    return target


def make_study(directory: Path, files: Sequence[Path], *, patient_id: str,
               issuer: str | None = None, copies: int = 1) -> tuple[str, list[Path]]:
    """``copies`` instances of each file, all in one new study; (study UID, paths)."""
    study_uid = generate_uid()
    made = [make_instance(f, directory / f"{n:03d}-{i}-{f.name}", study_uid=study_uid,
                          patient_id=patient_id, issuer=issuer)
            for n, f in enumerate(files) for i in range(copies)]
    return study_uid, made


STORESCU_PROPOSE = {
    "1.2.840.10008.1.2.5": "-xr",       # RLE Lossless
    "1.2.840.10008.1.2.4.90": "-xv",    # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91": "-xw",    # JPEG 2000
    "1.2.840.10008.1.2.4.50": "-xy",    # JPEG baseline (8 bit)
    "1.2.840.10008.1.2.4.51": "-xx",    # JPEG extended (12 bit)
    "1.2.840.10008.1.2.4.70": "-xs",    # JPEG lossless SV1
    "1.2.840.10008.1.2.4.80": "-xt",    # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81": "-xu",    # JPEG-LS near-lossless
}
"""storescu proposes uncompressed syntaxes unless told which compressed one to add."""


def storescu_groups(files: Sequence[Path]) -> dict[str, list[Path]]:
    """Files by the storescu option proposing their transfer syntax ("" = uncompressed)."""
    groups: dict[str, list[Path]] = {}
    for path in files:
        syntax = str(dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID)
        groups.setdefault(STORESCU_PROPOSE.get(syntax, ""), []).append(path)
    return groups


def storescu(files: Sequence[Path], port: int, *, calling: str, called: str = "HUB",
             timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """dcmtk ``storescu`` of ``files``: one association per transfer syntax family.

    The result is the last run's, with the return code of the first failure.
    """
    result: subprocess.CompletedProcess[str] | None = None
    failed = 0
    for option, group in storescu_groups(files).items():
        command = ["storescu", *([option] if option else []), "-R", "-aet", calling,
                   "-aec", called, "127.0.0.1", str(port), *map(str, group)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                                check=False)
        failed = failed or result.returncode
    assert result is not None, "no file to send"
    result.returncode = failed
    return result


def echoscu(port: int, *, calling: str, called: str = "HUB") -> subprocess.CompletedProcess[str]:
    """dcmtk ``echoscu``."""
    return subprocess.run(["echoscu", "-aet", calling, "-aec", called, "127.0.0.1", str(port)],
                          capture_output=True, text=True, timeout=30, check=False)


class StoreScp:
    """dcmtk ``storescp`` writing what it receives, bit-preserving, into ``directory``.

    Every C-STORE received makes a new file (``+uf``): a duplicate delivery shows.
    ``fork=False`` makes it serve one association at a time, as storescp does
    by default: a second association waits until the first is released.
    """

    def __init__(self, directory: Path, *, aet: str = "SINK", port: int | None = None,
                 fork: bool = True) -> None:
        self.directory = directory
        self.aet = aet
        self.port = port or free_port()
        self.fork = fork
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> StoreScp:
        """Start it and wait until it accepts connections."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["storescp", *(["--fork"] if self.fork else []), "+xa", "+B", "+uf",
             "-aet", self.aet, "-od", str(self.directory), str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        wait_until(lambda: echoscu(self.port, calling="PROBE", called=self.aet).returncode == 0,
                   15, "storescp up")
        return self

    def stop(self) -> None:
        """Stop it (only the process this object started)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(10)
        self.process = None

    def files(self) -> list[Path]:
        """Instances received so far."""
        return sorted(p for p in self.directory.iterdir() if p.is_file())


class Orthanc:
    """An Orthanc on free ports with its own configuration and storage directory."""

    def __init__(self, directory: Path, *, aet: str = "ORTHANC",
                 storage: dict[str, object] | None = None) -> None:
        self.directory = directory
        self.aet = aet
        self.dicom_port = free_port()
        self.http_port = free_port()
        self.storage = storage or {}
        self.process: subprocess.Popen[bytes] | None = None

    def configuration(self) -> dict[str, object]:
        """The JSON configuration written for this instance."""
        return {
            "Name": "hub-tests", "StorageDirectory": str(self.directory / "storage"),
            "IndexDirectory": str(self.directory / "index"), "HttpPort": self.http_port,
            "DicomPort": self.dicom_port, "DicomAet": self.aet, "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False, "DicomCheckCalledAet": True,
            "DicomAlwaysAllowStore": True, "DicomCheckModalityHost": False,
            "StorageCompression": False, "Plugins": [], "HttpDescribeErrors": True,
            "ConcurrentJobs": 1, **self.storage,
        }

    def start(self, binary: str) -> Orthanc:
        """Start it and wait until its REST API answers."""
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "orthanc.json"
        config.write_text(json.dumps(self.configuration(), indent=2), encoding="utf-8")
        log = (self.directory / "orthanc.log").open("wb")
        self.process = subprocess.Popen([binary, str(config)], stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(self._up, 30, "Orthanc up")
        return self

    def _up(self) -> bool:
        try:
            return httpx.get(f"{self.url}/system", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def url(self) -> str:
        """REST API root."""
        return f"http://127.0.0.1:{self.http_port}"

    def instances(self) -> list[str]:
        """Orthanc ids of the instances stored."""
        ids: list[str] = httpx.get(f"{self.url}/instances", timeout=10).json()
        return ids

    def file(self, instance_id: str) -> bytes:
        """The stored PS3.10 file of one instance."""
        return httpx.get(f"{self.url}/instances/{instance_id}/file", timeout=30).content

    def stop(self) -> None:
        """Stop it (only the process this object started)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.process = None


def wait_files(count: int, probe: object, timeout_s: float = 60) -> None:
    """Wait until ``probe()`` returns at least ``count`` items."""
    wait_until(lambda: len(probe()) >= count, timeout_s,  # type: ignore[operator]
               f"{count} instance(s) at the destination")
    time.sleep(0.05)
