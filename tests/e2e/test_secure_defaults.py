"""Secure defaults, through the real ``hub`` command in a subprocess.

A listener bound to every interface (``0.0.0.0``, port 0) without TLS is
refused by ``hub run`` and by ``hub config check`` naming the key, unless
its ``allow_plaintext`` waives TLS, which ``hub config check`` then reports
as a warning together with the other weak settings (patient data in logs,
test INS accepted, a secret written in the settings file, an OpenID Connect
issuer without https, sources bound to certificates on a listener that
verifies none). Warnings do not change the exit status.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from connectors.mllp.client import MLLPClient
from hub.hl7.er7 import parse
from tests.e2e.messages import adt
from tests.support.hubproc import ADMIN_TOKEN, HubProcess, free_port

ROUTES = """\
routes:
  - name: everything
    when: {}
    action: deliver
    to: [drop]
"""


def config(directory: Path, **settings: Any) -> Path:
    """A settings file whose one route drops everything in a file destination."""
    routes = directory / "routes"
    routes.mkdir(parents=True, exist_ok=True)
    (routes / "routes.yaml").write_text(ROUTES, encoding="utf-8")
    tree: dict[str, Any] = {
        "data_dir": str(directory / "var"), "routes_dir": str(routes),
        "mllp": {"host": "0.0.0.0", "port": 0}, "http": {"port": 0},
        "destinations": {"drop": {"type": "file", "directory": "drop"}},
    }
    tree.update(settings)
    path = directory / "hub.yaml"
    path.write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
    return path


def hub(path: Path | None, *command: str, cwd: Path | None = None,
        timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``hub [--config PATH] COMMAND...`` without HUB_* variables from this process."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd or (path.parent if path else "/"))}
    config = ["--config", str(path)] if path else []
    return subprocess.run([sys.executable, "-m", "hub.cli", *config, *command],
                          capture_output=True, text=True, timeout=timeout_s, env=env,
                          cwd=cwd, check=False)


def warnings(result: subprocess.CompletedProcess[str]) -> list[str]:
    lines = " ".join(result.stderr.split()).split("warning: ")[1:]
    return [line.strip() for line in lines]


def test_hub_run_refuses_a_plaintext_listener_on_every_interface(tmp_path: Path) -> None:
    result = hub(config(tmp_path), "run")
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert "mllp.host: '0.0.0.0' is not a loopback address and mllp.tls is not set" in message
    assert "mllp.allow_plaintext" in message
    assert not (tmp_path / "var" / "hub.db").exists()  # refused before anything started


def test_config_check_lists_each_plaintext_listener(tmp_path: Path) -> None:
    path = config(tmp_path, http={"host": "0.0.0.0", "port": 0},
                  components=["imaging"], dicom={"enabled": True, "host": "::", "port": 0})
    result = hub(path, "config", "check")
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    for key, host in (("mllp", "0.0.0.0"), ("http", "0.0.0.0"), ("dicom", "::")):
        assert f"{key}.host: '{host}' is not a loopback address and {key}.tls is not set" \
            in message


def test_config_check_warns_about_weak_settings_and_still_passes(tmp_path: Path) -> None:
    path = config(
        tmp_path, mllp={"host": "0.0.0.0", "port": 0, "allow_plaintext": True},
        admin_token=ADMIN_TOKEN, log_patient_data=True, ins_test_mode=True,
        database_url="postgresql+asyncpg://hub:secret@127.0.0.1:5432/hub",
        auth={"oidc": {"issuer": "http://idp.example/realms/hub", "audience": "hub"}},
        sources=[{"name": "chu-x-gam", "sending_facility": "CHU-X",
                  "certificate": {"subject": "CN=gam.chu-x,O=CHU X"}}])
    result = hub(path, "config", "check")
    assert result.returncode == 0, result.stderr
    assert "configuration OK" in result.stdout
    found = warnings(result)
    expected = ["mllp.allow_plaintext: TLS is waived on '0.0.0.0'",
                "mllp.tls: sources chu-x-gam are bound to client certificates",
                "log_patient_data: true", "ins_test_mode: true",
                "auth.oidc.issuer: 'http://idp.example/realms/hub' is not https",
                "admin_token is written in the settings file",
                "database_url holds a password in the settings file"]
    for start in expected:
        assert [w for w in found if w.startswith(start)], (start, found)
    assert len(found) == len(expected), found
    assert "secret" not in result.stdout + result.stderr  # the password is never printed


def test_the_shipped_settings_check_without_warnings(tmp_path: Path) -> None:
    result = hub(None, "config", "check", cwd=tmp_path)  # no ./hub.yaml: the shipped one
    assert result.returncode == 0, result.stderr
    assert warnings(result) == []


def test_a_waived_listener_on_every_interface_starts_and_answers(tmp_path: Path) -> None:
    mllp_port, http_port = free_port("0.0.0.0"), free_port()
    path = config(tmp_path, admin_token=ADMIN_TOKEN,
                  mllp={"host": "0.0.0.0", "port": mllp_port, "allow_plaintext": True},
                  http={"port": http_port})
    with HubProcess(path) as process:
        async def send() -> str:
            async with MLLPClient("127.0.0.1", process.mllp_port) as client:
                ack = await client.send(adt("A01", "WAIVED-0001", "770001"))
            return parse(ack).first("MSA-1")

        assert asyncio.run(send()) == "AA"
