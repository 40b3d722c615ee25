"""``hub bench dicom``: the hub's DICOM intake side by side with Orthanc's, and forwarding.

dcmtk's ``storescu`` sends the same set of files over one association to a
``hub run`` subprocess (routing every instance to a ``storescp``) and to an
Orthanc started with the same storage settings (files on local disk, no
compression, fsync on, Orthanc's default), both on free ports under a
temporary directory. Two sets are generated from pydicom's ``CT_small.dcm``
with random pixel data: small CT slices (about 40, 130 and 520 KB) and large
objects (about 2 MB and 8 MB). Measured per set:

- ``hub_instances_per_s``, ``orthanc_instances_per_s`` and ``ratio``: the
  instances storescu sent per second of its wall time (association included);
- ``hub_mb_per_s``: the same for the hub in MB of files;
- ``forward_instances_per_s``: the destination is down while the hub
  receives the set; it is then started and the backlog timed until the last
  instance is received (coercion, blob read, C-STORE, journal: the hub's
  forwarding capacity, not bounded by the intake rate).

Everything started here is stopped here, by its own process id.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydicom import dcmread
from pydicom.data import get_testdata_files
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

SMALL_SIZES = ((128, 128), (256, 256), (512, 512))
LARGE_SIZES = ((1024, 1024), (2048, 2048))
ADMIN_TOKEN = "bench-admin-token-0123456789"
ROUTES = """\
routes:
  - name: bench-forward
    when: {protocol: dicom}
    action: deliver
    to: [sink]
"""


class BenchError(RuntimeError):
    """A tool is missing or a process did not start."""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _template() -> Path:
    found = [Path(p) for p in get_testdata_files("CT_small.dcm")]
    if not found:
        raise BenchError("pydicom's CT_small.dcm is not installed")
    return found[0]


def make_set(directory: Path, sizes: tuple[tuple[int, int], ...], count: int) -> list[Path]:
    """``count`` CT instances cycling through ``sizes``, random 16-bit pixels, one study."""
    directory.mkdir(parents=True, exist_ok=True)
    template = dcmread(_template())
    study, series = generate_uid(), generate_uid()
    paths = []
    for n in range(count):
        rows, columns = sizes[n % len(sizes)]
        ds = template.copy()
        uid = generate_uid()
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.InstanceNumber = n + 1
        ds.Rows, ds.Columns = rows, columns
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData = os.urandom(rows * columns * 2)
        path = directory / f"{n:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _need(tool: str) -> str:
    found = shutil.which(tool) or (f"/usr/sbin/{tool}" if Path(f"/usr/sbin/{tool}").exists()
                                   else None)
    if found is None:
        raise BenchError(f"{tool} is not installed (Debian packages dcmtk, orthanc)")
    return found


def _wait(probe: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not within {timeout_s} s")
        time.sleep(0.05)


def _echo(port: int, called: str) -> bool:
    return subprocess.run(["echoscu", "-aet", "BENCH", "-aec", called, "127.0.0.1", str(port)],
                          capture_output=True, check=False).returncode == 0


def _start(command: list[str], log: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True, **kwargs)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def _storescu(directory: Path, port: int, called: str) -> float:
    """Seconds storescu took to send every file of ``directory`` over one association."""
    started = time.perf_counter()
    result = subprocess.run(["storescu", "+sd", "-aet", "BENCH", "-aec", called, "127.0.0.1",
                             str(port), str(directory)], capture_output=True, text=True,
                            check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise BenchError(f"storescu to {called} failed: {result.stderr[-500:]}")
    return elapsed


class _Peers:
    """The hub, its storescp destination and Orthanc, under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sink_dir = root / "sink"
        self.sink_port, self.hub_port, self.http_port = _free_port(), _free_port(), _free_port()
        self.orthanc_port, self.orthanc_http = _free_port(), _free_port()
        self.processes: list[subprocess.Popen[bytes]] = []
        self.sink: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.sink_dir.mkdir(parents=True)
        self.processes.append(_start(
            [sys.executable, "-m", "hub.cli", "--config", str(self._hub_config()), "run"],
            self.root / "hub.log", cwd=Path(__file__).resolve().parents[2]))
        _wait(lambda: _echo(self.hub_port, "HUB"), 60, "hub")
        self.processes.append(_start([_need("Orthanc"), str(self._orthanc_config())],
                                     self.root / "orthanc.log"))
        _wait(lambda: _echo(self.orthanc_port, "ORTHANC"), 60, "Orthanc")

    def start_sink(self) -> None:
        """Start the storescp the hub forwards to (one process per association)."""
        self.sink = _start(["storescp", "--fork", "+xa", "+uf", "-aet", "SINK", "-od",
                            str(self.sink_dir), str(self.sink_port)], self.root / "storescp.log")
        _wait(lambda: _echo(self.sink_port, "SINK"), 20, "storescp")

    def stop_sink(self) -> None:
        """Stop it: deliveries wait (retrying) until it is back."""
        if self.sink is not None:
            _stop(self.sink)
            self.sink = None

    def _hub_config(self) -> Path:
        routes = self.root / "routes"
        routes.mkdir()
        (routes / "routes.yaml").write_text(ROUTES, encoding="utf-8")
        tree = {"data_dir": str(self.root / "hub"), "routes_dir": str(routes),
                "admin_token": ADMIN_TOKEN, "log_level": "WARNING", "components": ["imaging"],
                "mllp": {"enabled": False}, "http": {"port": self.http_port},
                "dicom": {"enabled": True, "port": self.hub_port, "study_quiet_s": 3600,
                          "sources": [{"name": "bench", "ae_titles": ["BENCH"]}]},
                "destinations": {"sink": {"type": "dicom", "host": "127.0.0.1",
                                          "port": self.sink_port, "called_ae": "SINK",
                                          "lanes": 4, "retry": {
                                              "max_attempts": 1000, "initial_s": 0.05,
                                              "max_s": 0.1}}}}
        path = self.root / "hub.yaml"
        path.write_text(yaml.safe_dump(tree), encoding="utf-8")
        return path

    def _orthanc_config(self) -> Path:
        config = {"Name": "bench", "StorageDirectory": str(self.root / "orthanc" / "storage"),
                  "IndexDirectory": str(self.root / "orthanc" / "index"),
                  "HttpPort": self.orthanc_http, "DicomPort": self.orthanc_port,
                  "DicomAet": "ORTHANC", "RemoteAccessAllowed": False,
                  "AuthenticationEnabled": False, "DicomAlwaysAllowStore": True,
                  "DicomCheckCalledAet": False, "StorageCompression": False,
                  "SyncStorageArea": True, "Plugins": []}
        path = self.root / "orthanc.json"
        path.write_text(json.dumps(config), encoding="utf-8")
        return path

    def forwarded(self) -> int:
        return sum(1 for _ in self.sink_dir.iterdir())

    def stop(self) -> None:
        self.stop_sink()
        for process in reversed(self.processes):
            _stop(process)


def _measure(peers: _Peers, directory: Path, files: list[Path]) -> dict[str, float]:
    count = len(files)
    megabytes = sum(p.stat().st_size for p in files) / 1e6
    already = peers.forwarded()
    peers.stop_sink()
    hub_s = _storescu(directory, peers.hub_port, "HUB")
    # Forwarding is measured on the backlog, so that intake does not bound it.
    started = time.perf_counter()
    peers.start_sink()
    _wait(lambda: peers.forwarded() >= already + count, 600, "forwarding")
    forward_s = time.perf_counter() - started
    orthanc_s = _storescu(directory, peers.orthanc_port, "ORTHANC")
    hub_rate, orthanc_rate = count / hub_s, count / orthanc_s
    return {"instances": count, "mb": round(megabytes, 1),
            "hub_instances_per_s": round(hub_rate, 1),
            "orthanc_instances_per_s": round(orthanc_rate, 1),
            "ratio": round(hub_rate / orthanc_rate, 2),
            "hub_mb_per_s": round(megabytes / hub_s, 1),
            "orthanc_mb_per_s": round(megabytes / orthanc_s, 1),
            "forward_instances_per_s": round(count / forward_s, 1)}


def run(small: int = 300, large: int = 40) -> dict[str, Any]:
    """Generate both sets, start the peers, measure; the figures by set."""
    for tool in ("storescu", "storescp", "echoscu"):
        _need(tool)
    with tempfile.TemporaryDirectory(prefix="hub-bench-dicom-") as tmp:
        root = Path(tmp)
        sets = {"small": make_set(root / "small", SMALL_SIZES, small),
                "large": make_set(root / "large", LARGE_SIZES, large)}
        peers = _Peers(root / "run")
        peers.root.mkdir()
        try:
            peers.start()
            result: dict[str, Any] = {name: _measure(peers, root / name, files)
                                      for name, files in sets.items()}
        finally:
            peers.stop()
        result["orthanc"] = _orthanc_version()
        return result


def _orthanc_version() -> str:
    try:
        output = subprocess.run([_need("Orthanc"), "--version"], capture_output=True,
                                text=True, check=False).stdout
    except (BenchError, OSError):
        return "unknown"
    return output.splitlines()[0] if output else "unknown"


