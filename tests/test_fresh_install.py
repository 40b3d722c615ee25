"""A fresh install without the test extras starts a working hub from any directory.

The README's first command installs the package alone (``pip install .``, no
extras) and runs ``hub run``. This test does the same in a new virtual
environment, from an empty directory outside the checkout: the hub must
start on the configuration shipped in the package, answer ``/healthz``, and
acknowledge an HL7 message sent with ``hub send hl7``. A runtime import that
only the test extras provide fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import venv
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).parents[1]
CHECK_DEPS = REPO.parent / "shared" / "tools" / "check-runtime-deps.py"
ADT = (REPO / "tests" / "data" / "hl7" / "pam_fr_adt_a01.er7")
INSTALL_TIMEOUT_S = 900

pytestmark = [pytest.mark.slow, pytest.mark.timeout(INSTALL_TIMEOUT_S + 120)]


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with the hub installed from this checkout, no extras."""
    root = tmp_path_factory.mktemp("fresh") / "venv"
    venv.EnvBuilder(with_pip=True).create(root)
    python = root / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(REPO)], check=True,
                   timeout=INSTALL_TIMEOUT_S, env=_clean_env())
    return root


def _clean_env() -> dict[str, str]:
    """The environment without the developer's HUB_* settings or this checkout on the path."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("HUB_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}


@pytest.fixture
def started(fresh_venv: Path, tmp_path: Path) -> Iterator[tuple[int, int, Path]]:
    """``hub run`` from an empty directory, ports chosen by the system."""
    log = tmp_path / "hub.log"
    env = {**_clean_env(), "HUB_MLLP_PORT": "0", "HUB_HTTP_PORT": "0"}
    with log.open("wb") as stderr:
        process = subprocess.Popen([str(fresh_venv / "bin" / "hub"), "run"], cwd=tmp_path,
                                   env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        yield (*_ports(process, log), tmp_path)
    finally:
        process.terminate()
        process.wait(timeout=60)


def _ports(process: subprocess.Popen[bytes], log: Path, timeout_s: float = 60) -> tuple[int, int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace")
        found = re.search(r"hub started: mllp \S+:(\d+), http \S+:(\d+)", text)
        if found:
            return int(found[1]), int(found[2])
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"the installed hub did not start:\n{log.read_text()[-4000:]}")


def test_the_runtime_dependencies_cover_every_import(fresh_venv: Path) -> None:
    if not CHECK_DEPS.is_file():
        pytest.skip(f"{CHECK_DEPS} absent: the shared dependency checker is not beside the "
                    "checkout (the hub's start below still exercises the imports)")
    result = subprocess.run([str(fresh_venv / "bin" / "python"), str(CHECK_DEPS), str(REPO)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_hub_run_outside_the_checkout_answers_healthz_and_acks(
    fresh_venv: Path, started: tuple[int, int, Path]
) -> None:
    mllp_port, http_port, directory = started
    health = httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=10)
    assert health.status_code == 200, health.text
    sent = subprocess.run(
        [str(fresh_venv / "bin" / "hub"), "send", "hl7", str(ADT), "--port", str(mllp_port)],
        capture_output=True, text=True, timeout=60, cwd=directory, env=_clean_env())
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert re.search(r"\b(AA|CA)\b", sent.stdout), sent.stdout
    assert (directory / "var" / "hub.db").is_file(), "the data directory is under the cwd"
    assert (directory / "var" / "admin.token").is_file()


def test_config_check_from_an_empty_directory_uses_the_shipped_files(
    fresh_venv: Path, tmp_path: Path
) -> None:
    result = subprocess.run([str(fresh_venv / "bin" / "hub"), "config", "check"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env={**_clean_env(), "COLUMNS": "200"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hub.yaml shipped with the hub" in result.stdout
    routes = next(line for line in result.stdout.splitlines() if line.startswith("routes"))
    assert "shipped with the hub" in routes and "disabled" in routes, routes
