"""``hub send dicom`` and ``hub studies list`` when things go wrong: one line, non-zero exit.

A file that is not DICOM is reported in the table, not sent, and no
traceback is printed; an association the peer rejects prints the
A-ASSOCIATE-RJ result, source and reason as PS3.8 9.3.4 names them; a hub
without the imaging component says so instead of "HTTP 404".
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from tests.support.dicom import local_sample, make_instance
from tests.support.hubproc import REPO_ROOT, HubProcess, write_config

pytestmark = pytest.mark.timeout(120)


def hub_cli(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m hub.cli [--config CONFIG] ARGS``."""
    command = [sys.executable, "-m", "hub.cli", *(["--config", str(config)] if config else []),
               *args]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=90,
                          check=False)


@pytest.fixture
def picky_scp() -> Iterator[int]:
    """A storage SCP that only accepts the calling AE title ``FRIEND``."""
    ae = AE(ae_title="PICKY")
    ae.require_calling_aet = ["FRIEND"]
    ae.add_supported_context(CTImageStorage)
    server = ae.start_server(("127.0.0.1", 0), block=False)
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


def test_a_file_that_is_not_dicom_is_reported_not_a_traceback(
        tmp_path: Path, picky_scp: int) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not an image\n", encoding="utf-8")

    result = hub_cli("send", "dicom", str(text), "--host", "127.0.0.1", "--port",
                     str(picky_scp), "--aet", "PICKY", "--json")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    [line] = [json.loads(x) for x in result.stdout.splitlines()]
    assert line["status"] is None and line["error"].startswith("not DICOM")


def test_a_rejected_association_prints_the_reason(tmp_path: Path, picky_scp: int) -> None:
    source = local_sample("CT_small.dcm")
    if source is None:
        pytest.skip("pydicom test file CT_small.dcm not installed")
    instance = make_instance(source, tmp_path / "ct.dcm")

    result = hub_cli("send", "dicom", str(instance), "--host", "127.0.0.1", "--port",
                     str(picky_scp), "--aet", "PICKY", "--calling-aet", "STRANGER")

    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert ("rejected-permanent by the DICOM UL service-user: calling-AE-title-not-recognized"
            in " ".join(result.stderr.split())), result.stderr


def test_studies_list_without_imaging_says_so(tmp_path: Path) -> None:
    config = write_config(tmp_path, routes="routes: []\n", destinations={})
    with HubProcess(config):
        result = hub_cli("studies", "list", config=config)

    assert result.returncode == 2
    assert "does not run the imaging component" in result.stderr, result.stderr
