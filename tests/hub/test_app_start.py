"""Starting the hub on a port that is taken: a clear error naming the setting."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hub.app import Hub
from hub.errors import ConfigError
from tests.hub.conftest import SettingsFactory


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


async def test_a_taken_mllp_port_is_a_config_error_and_nothing_stays_running(
    make_settings: SettingsFactory, taken_port: int
) -> None:
    hub = Hub(make_settings(mllp={"port": taken_port}, http={"enabled": False}))
    with pytest.raises(ConfigError) as caught:
        await hub.serve_forever()
    assert caught.value.key == "mllp.port"
    assert str(taken_port) in str(caught.value)
    assert hub.ready is False


def test_hub_run_on_a_taken_port_exits_1_naming_the_key(tmp_path: Path, taken_port: int) -> None:
    routes = tmp_path / "routes"
    routes.mkdir()
    (routes / "r.yaml").write_text("routes: []\n")
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({
        "data_dir": str(tmp_path / "var"), "routes_dir": str(routes),
        "admin_token": "test-token-0123456789", "mllp": {"port": taken_port},
        "http": {"port": 0},
    }))
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "--config", str(config), "run"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    assert "mllp.port" in result.stderr
    assert "Traceback" not in result.stderr
