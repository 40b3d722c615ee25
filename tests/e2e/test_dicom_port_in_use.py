"""``hub run`` with its DICOM port taken: one clear line naming the setting, no traceback.

The same answer as for the MLLP port (``ConfigError`` keyed ``dicom.port``):
the hub exits non-zero at start instead of printing pynetdicom's bind error.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.hubproc import REPO_ROOT, write_config

pytestmark = pytest.mark.timeout(120)


def test_a_dicom_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, routes="routes: []\n", destinations={},
                              components=["imaging"],
                              dicom={"enabled": True, "port": port, "sources": []})
        result = subprocess.run(
            [sys.executable, "-m", "hub.cli", "--config", str(config), "run"], cwd=REPO_ROOT,
            capture_output=True, text=True, timeout=90, check=False)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert f"dicom.port: cannot listen on 127.0.0.1:{port}" in result.stderr, result.stderr
