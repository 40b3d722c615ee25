"""``hub users`` and ``hub clients`` on the configured database, then used against a hub."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner, Result

from hub.app import Hub
from hub.cli import app
from hub.config import load_settings

PASSWORD = "correct horse battery staple"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A hub.yaml on ``tmp_path`` (SQLite under it, ports 0, no credential cache)."""
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump({
        "data_dir": str(tmp_path / "var"), "mllp": {"port": 0}, "http": {"port": 0},
        "admin_token": "cli-token-0123456789", "routes_dir": str(tmp_path / "routes"),
        "auth": {"credential_cache_s": 0, "failed_login_delay_s": 0}}), encoding="utf-8")
    (tmp_path / "routes").mkdir()
    (tmp_path / "routes" / "none.yaml").write_text("routes: []\n", encoding="utf-8")
    return path


def hub_cli(config: Path, *args: str, stdin: str | None = None) -> Result:
    """Run ``hub --config <config> args...`` in-process."""
    return CliRunner().invoke(app, ["--config", str(config), *args], input=stdin)


def test_users_add_list_rotate_disable(config: Path) -> None:
    added = hub_cli(config, "users", "add", "alice", "--role", "operator", "--role", "auditor",
                    "--name", "Alice Martin", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert PASSWORD not in added.output
    listed = hub_cli(config, "users", "list", "--json")
    (user,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (user["login"], user["roles"], user["disabled"]) == (
        "alice", ["auditor", "operator"], False)
    assert "hash" not in listed.stdout
    rotated = hub_cli(config, "users", "rotate", "alice", "--password-stdin",
                      stdin="a brand new passphrase\n")
    assert rotated.exit_code == 0, rotated.output
    assert hub_cli(config, "users", "disable", "alice").exit_code == 0
    assert json.loads(hub_cli(config, "users", "list", "--json").stdout)["disabled"] is True


def test_a_password_is_asked_twice_at_a_prompt(config: Path) -> None:
    mismatch = hub_cli(config, "users", "add", "bob", "--role", "operator",
                       stdin=f"{PASSWORD}\nsomething else entirely\n{PASSWORD}\n{PASSWORD}\n")
    assert mismatch.exit_code == 0, mismatch.output
    assert "do not match" in mismatch.output
    short = hub_cli(config, "users", "add", "carol", "--role", "operator",
                    "--password-stdin", stdin="short\n")
    assert short.exit_code == 2
    assert "at least 12" in short.output


@pytest.mark.parametrize(("args", "message"), [
    (["users", "add", "dave", "--role", "root", "--password-stdin"], "role 'root'"),
    (["users", "disable", "nobody"], "user 'nobody' is not known"),
    (["clients", "rotate", "nothing"], "client 'nothing' is not known"),
    (["clients", "add", "x", "--role", "operator", "--scope", "all"], "scope 'all'"),
], ids=["role", "user", "client", "scope"])
def test_refusals_exit_2_naming_the_value(config: Path, args: list[str], message: str) -> None:
    result = hub_cli(config, *args, stdin=PASSWORD + "\n")
    assert result.exit_code == 2
    assert message in result.output


async def test_a_client_key_from_the_cli_works_until_rotated(config: Path) -> None:
    added = await asyncio.to_thread(
        hub_cli, config, "clients", "add", "supervision", "--role", "operator",
        "--establishment", "1630000042", "--scope", "system/*.read")
    assert added.exit_code == 0, added.output
    key = added.stdout.strip()
    assert key.startswith("hk_")
    listing = await asyncio.to_thread(hub_cli, config, "clients", "list", "--json")
    (listed,) = [json.loads(line) for line in listing.stdout.splitlines()]
    assert listed["establishments"] == ["1630000042"] and key not in json.dumps(listed)
    hub = Hub(load_settings(config))
    await hub.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{hub.http_port}") as http:
            headers = {"Authorization": f"Bearer {key}"}
            assert (await http.get("/api/queues", headers=headers)).status_code == 200
            rotated = await asyncio.to_thread(hub_cli, config, "clients", "rotate",
                                              "supervision")
            new_key = rotated.stdout.strip()
            assert (await http.get("/api/queues", headers=headers)).status_code == 401
            new = {"Authorization": f"Bearer {new_key}"}
            assert (await http.get("/api/queues", headers=new)).status_code == 200
            disabled = await asyncio.to_thread(hub_cli, config, "clients", "disable",
                                               "supervision")
            assert disabled.exit_code == 0
            assert (await http.get("/api/queues", headers=new)).status_code == 401
    finally:
        await hub.stop()
