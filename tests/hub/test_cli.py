"""The ``hub`` command line: offline commands in-process, the rest against a hub subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from hub.cli import app
from hub.cli_send import split_messages

REPO = Path(__file__).parents[2]

ROUTES = """\
routes:
  - name: drop-training
    when:
      fields:
        "MSH-11.1": {equals: T}
    action: filter
    reason: training messages are not forwarded
  - name: adt-to-archive
    when:
      message_type: ADT
    action: deliver
    to: [archive]
"""


def adt(control_id: str, processing: str = "P") -> str:
    """An ADT^A01 with LF line ends, as a text editor saves it."""
    return (
        f"MSH|^~\\&|GAM|CHU-TEST|HUB|ARS|20240501083000||ADT^A01^ADT_A01|{control_id}|"
        f"{processing}|2.5\n"
        "EVN||20240501083000\n"
        f"PID|||{control_id}-IPP^^^CHU-TEST^PI||TEST^PATIENT\n"
    )


@pytest.fixture(autouse=True)
def _no_hub_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's HUB_* variables must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("HUB_"):
            monkeypatch.delenv(name)


def write_config(tmp_path: Path, routes: str = ROUTES, **overrides: Any) -> Path:
    """A hub.yaml on ``tmp_path`` with ports 0 and one file destination ``archive``."""
    routes_dir = tmp_path / "routes"
    routes_dir.mkdir(exist_ok=True)
    (routes_dir / "routes.yaml").write_text(routes, encoding="utf-8")
    tree: dict[str, Any] = {
        "data_dir": str(tmp_path / "var"),
        "routes_dir": str(routes_dir),
        "mllp": {"port": 0},
        "http": {"port": 0},
        "destinations": {"archive": {"type": "file", "directory": str(tmp_path / "out")}},
    }
    tree.update(overrides)
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return path


def squeezed(text: str) -> str:
    """``text`` without any whitespace: a folded path reads whole again."""
    return "".join(text.split())


def run_cli(*args: str) -> Result:
    """Run the CLI in-process."""
    return CliRunner().invoke(app, list(args))


# -- offline commands ---------------------------------------------------------------


def test_config_check_prints_a_summary(tmp_path: Path) -> None:
    config = write_config(tmp_path, admin_token="test-token-0123456789")
    result = run_cli("--config", str(config), "config", "check")
    assert result.exit_code == 0, result.output
    assert "configuration OK" in result.output
    assert "destination archive" in result.output
    assert "2 in" in result.output
    assert "test-token-0123456789" not in result.output


def test_config_check_masks_passwords(tmp_path: Path) -> None:
    config = write_config(tmp_path, database_url="postgresql+asyncpg://hub:s3cret@db:5432/hub")
    result = run_cli("--config", str(config), "config", "check")
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output
    assert "hub:***@db:5432" in result.output


@pytest.mark.parametrize(
    ("overrides", "named"),
    [({"mllp": {"port": "abc"}}, "mllp.port"), ({"http": {"prot": 1}}, "http.prot"),
     ({"admin_token": "short"}, "admin_token")],
    ids=["bad-value", "unknown-key", "short-token"],
)
def test_config_check_names_the_bad_key(
    tmp_path: Path, overrides: dict[str, Any], named: str
) -> None:
    result = run_cli("--config", str(write_config(tmp_path, **overrides)), "config", "check")
    assert result.exit_code == 1
    assert named in result.output


def test_config_check_lists_every_problem_hub_run_refuses(tmp_path: Path) -> None:
    """A misspelt component, a destination type of a component not enabled and a route to
    an unknown destination: the check lists all three in one pass, and ``hub run`` refuses
    to start with the same three."""
    config = write_config(
        tmp_path, routes=ROUTES.replace("[archive]", "[archive, nowhere]"),
        components=["identiy"],
        destinations={"archive": {"type": "file", "directory": str(tmp_path / "out")},
                      "srri": {"type": "srri"}})
    checked = run_cli("--config", str(config), "config", "check")
    assert checked.exit_code == 1, checked.output
    expected = ["unknown component 'identiy'", "destinations.srri.type",
                "unknown destination 'nowhere'"]
    for text in expected:
        assert text in checked.output, checked.output
    assert "3 problems" in checked.output
    started = subprocess.run([sys.executable, "-m", "hub.cli", "--config", str(config), "run"],
                             capture_output=True, text=True, timeout=60, cwd=tmp_path,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    assert started.returncode != 0
    for text in expected:
        assert text in started.stderr, started.stderr


def test_init_writes_a_configuration_that_checks_and_refuses_to_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "site"
    written = run_cli("init", str(target))
    assert written.exit_code == 0, written.output
    assert (target / "hub.yaml").is_file()
    assert {p.name for p in (target / "routes").iterdir()} >= {"adt.yaml", "documents.yaml",
                                                              "acknowledgements.yaml"}
    monkeypatch.chdir(target)
    checked = run_cli("config", "check")
    assert checked.exit_code == 0, checked.output
    assert str((target / "hub.yaml").resolve()) in squeezed(checked.output)
    again = run_cli("init", str(target))
    assert again.exit_code == 1 and "not overwriting" in again.output


def test_outside_a_checkout_the_shipped_configuration_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HUB_CONFIG", raising=False)
    monkeypatch.delenv("HUB_ROUTES_DIR", raising=False)
    checked = run_cli("config", "check")
    assert checked.exit_code == 0, checked.output
    assert "hub.yaml shipped with the hub" in checked.output
    assert "shipped with the hub" in checked.output.split("routes", 1)[1]


def test_a_missing_routes_dir_names_the_path_and_the_fix(tmp_path: Path) -> None:
    config = write_config(tmp_path, routes_dir=str(tmp_path / "nope"))
    checked = run_cli("--config", str(config), "config", "check")
    assert checked.exit_code == 1
    assert str((tmp_path / "nope").resolve()) in squeezed(checked.output)
    assert "`hub init DIR`" in checked.output


def test_config_check_reports_route_problems(tmp_path: Path) -> None:
    config = write_config(tmp_path, routes=ROUTES.replace("[archive]", "[nowhere]"))
    result = run_cli("--config", str(config), "config", "check")
    assert result.exit_code == 1
    assert "routes.yaml" in result.output
    assert "nowhere" in result.output


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    result = run_cli("--config", str(tmp_path / "absent.yaml"), "config", "check")
    assert result.exit_code == 1
    assert "not found" in result.output


def test_routes_check_explains_a_message(tmp_path: Path) -> None:
    message = tmp_path / "a01.hl7"
    message.write_text(adt("ROUTE-1"), encoding="utf-8")
    config = write_config(tmp_path)
    result = run_cli("--config", str(config), "routes", "check", "--message", str(message))
    assert result.exit_code == 0, result.output
    assert "2 route(s) OK" in result.output
    assert "deliver to archive" in result.output
    assert "matched: adt-to-archive" in result.output
    assert "none equal 'T'" in result.output


def test_routes_check_shows_a_filter_decision(tmp_path: Path) -> None:
    message = tmp_path / "training.hl7"
    message.write_text(adt("ROUTE-2", processing="T"), encoding="utf-8")
    config = write_config(tmp_path)
    result = run_cli("--config", str(config), "routes", "check", "--message", str(message))
    assert result.exit_code == 0, result.output
    assert "filter: training messages are not forwarded" in result.output


def test_routes_check_reports_an_unparseable_message(tmp_path: Path) -> None:
    message = tmp_path / "broken.hl7"
    message.write_text("MSH|^~\\&|GAM|CHU|HUB|ARS|20240501||^|X-1|P|2.5\n", encoding="utf-8")
    result = run_cli("--config", str(write_config(tmp_path)), "routes", "check",
                 "--message", str(message))
    assert result.exit_code == 1
    assert "MSH-9" in result.output


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    result = run_cli("--config", str(write_config(tmp_path)), "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert re.search(r"at revision \w+", result.output)
    assert "revision None" not in result.output
    assert (tmp_path / "var" / "hub.db").is_file()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"MSH|a\nPID|b\n", [b"MSH|a\rPID|b\r"]),
        (b"\xef\xbb\xbfMSH|a\r\nPID|b\r\n\r\nMSH|c\rPID|d", [b"MSH|a\rPID|b\r", b"MSH|c\rPID|d\r"]),
        (b"\x0bMSH|a\rPID|b\r\x1c\r", [b"MSH|a\rPID|b\r"]),
        (b"\n\n", []),
    ],
    ids=["lf", "bom-crlf-two", "mllp-framed", "blank"],
)
def test_split_messages(data: bytes, expected: list[bytes]) -> None:
    assert split_messages(data) == expected


def test_split_messages_refuses_text_before_msh() -> None:
    with pytest.raises(ValueError, match="line 1"):
        split_messages(b"hello\nMSH|a\n")


def test_bench_runs_a_real_hub_and_prints_its_figures() -> None:
    """A short real run: spawned hub, MLLP senders, MLLP sink, JSON figures."""
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "bench", "mllp", "--messages", "300",
         "--connections", "3", "--json"],
        capture_output=True, timeout=180, check=False,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    figures = json.loads(result.stdout.decode().strip().splitlines()[-1])
    assert figures["messages"] == 300
    assert figures["failures"] == 0
    assert figures["delivered"] == 300
    assert figures["acked_per_s"] > 0
    assert 0 < figures["ack_p50_ms"] <= figures["ack_p99_ms"]
    assert figures["rss_mb"] > 0


def test_admin_commands_need_a_token_and_say_where_they_looked(tmp_path: Path) -> None:
    result = run_cli("--config", str(write_config(tmp_path)), "messages", "list")
    assert result.exit_code == 2
    assert "no admin token" in result.output
    assert str((tmp_path / "var" / "admin.token").resolve()) in squeezed(result.output)


# -- against a running hub ---------------------------------------------------------


class RunningHub:
    """``python -m hub.cli run`` in a subprocess, with the ports it announced."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path, config: Path) -> None:
        self.process = process
        self.log = log
        self.config = config
        self.mllp_port, self.http_port = self._wait_started()

    def _wait_started(self, timeout_s: float = 30.0) -> tuple[int, int]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = re.search(r"hub started: mllp \S+:(\d+), http \S+:(\d+)", self.text())
            if found:
                return int(found[1]), int(found[2])
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"hub did not start:\n{self.text()}")

    def text(self) -> str:
        """What the hub wrote on stderr."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    @property
    def url(self) -> str:
        """Base URL of its API."""
        return f"http://127.0.0.1:{self.http_port}"

    def cli(self, *args: str) -> Result:
        """Run a CLI command against this hub."""
        return run_cli("--config", str(self.config), *args)

    def stop(self) -> int:
        """SIGINT, then the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


@pytest.fixture
def running_hub(tmp_path: Path) -> Iterator[RunningHub]:
    """A hub subprocess with no configured admin token (it writes admin.token)."""
    config = write_config(tmp_path)
    log = tmp_path / "hub.stderr"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["PYTHONPATH"] = str(REPO)  # this checkout's code, whatever is installed
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "--config", str(config), "run"],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=stderr,
        )
    running = None
    try:
        running = RunningHub(process, log, config)
        yield running
    finally:
        if running is None:
            process.kill()
            process.wait()
        else:
            running.stop()


def _json_lines(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def _wait_listed(running: RunningHub, count: int, status: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        result = running.cli("messages", "list", "--json", "--url", running.url)
        assert result.exit_code == 0, result.output
        items = _json_lines(result)
        if len([i for i in items if i["status"] == status]) >= count:
            return items
        assert time.monotonic() < deadline, items
        time.sleep(0.1)


def test_send_list_show_and_stop(running_hub: RunningHub, tmp_path: Path) -> None:
    batch = tmp_path / "batch.hl7"
    batch.write_text(adt("CLI-1") + "\n" + adt("CLI-2"), encoding="utf-8")
    sent = running_hub.cli("send", "hl7", str(batch), "--port", str(running_hub.mllp_port))
    assert sent.exit_code == 0, sent.output
    assert "CLI-1" in sent.stdout and "CLI-2" in sent.stdout
    assert sent.stdout.count("AA") == 2

    items = _wait_listed(running_hub, 2, "delivered")
    assert {i["control_id"] for i in items} == {"CLI-1", "CLI-2"}
    for item in items:
        assert {"id", "source", "control_id", "status", "received_at"} <= set(item)
        assert item["received_at"].endswith("Z")

    shown = running_hub.cli("messages", "show", items[0]["id"], "--json", "--url",
                            running_hub.url)
    assert shown.exit_code == 0, shown.output
    assert [e["stage"] for e in json.loads(shown.stdout)["events"]][:2] == ["received", "routed"]
    raw = running_hub.cli("messages", "show", items[0]["id"], "--raw", "--url", running_hub.url)
    assert raw.stdout_bytes.startswith(b"MSH|") and b"\r" in raw.stdout_bytes

    replayed = running_hub.cli("messages", "replay", items[0]["id"], "--json", "--url",
                               running_hub.url)
    assert replayed.exit_code == 0, replayed.output
    assert json.loads(replayed.stdout)["replayed"] == items[0]["id"]

    assert running_hub.stop() == 0
    assert "hub stopped" in running_hub.text()


def test_send_reports_negative_acks(running_hub: RunningHub, tmp_path: Path) -> None:
    bad = tmp_path / "bad.hl7"
    bad.write_text(adt("CLI-OK") + adt("CLI-BAD").replace("ADT^A01^ADT_A01", ""),
                   encoding="utf-8")
    result = running_hub.cli("send", "hl7", str(bad), "--port", str(running_hub.mllp_port),
                             "--json")
    assert result.exit_code == 1
    outcomes = _json_lines(result)
    assert [o["control_id"] for o in outcomes] == ["CLI-OK", "CLI-BAD"]
    assert outcomes[0]["ack_code"] == "AA"
    assert outcomes[1]["ack_code"] in ("AE", "AR")
    assert "MSH-9" in outcomes[1]["text"]


def test_admin_errors_are_readable(running_hub: RunningHub, free_port: Callable[[], int]) -> None:
    unknown = running_hub.cli("messages", "show", "nope", "--url", running_hub.url)
    assert unknown.exit_code == 2
    assert "message 'nope' not found" in unknown.output

    bad_status = running_hub.cli("messages", "list", "--status", "lost", "--url", running_hub.url)
    assert bad_status.exit_code == 2
    assert "delivered" in bad_status.output

    parked = running_hub.cli("parked", "list", "--json", "--url", running_hub.url)
    assert parked.exit_code == 0 and parked.stdout == ""
    redriven = running_hub.cli("parked", "redrive", "--url", running_hub.url)
    assert redriven.exit_code == 0 and "redriven: 0" in redriven.stdout
    unknown_key = running_hub.cli("parked", "redrive", "--key", "no-such:archive",
                                  "--url", running_hub.url)
    assert unknown_key.exit_code == 2, unknown_key.output
    assert "no parked delivery has the key no-such:archive" in unknown_key.output

    url = f"http://127.0.0.1:{free_port()}"
    down = running_hub.cli("messages", "list", "--url", url)
    assert down.exit_code == 1
    assert f"not running at {url}" in down.output


def test_messages_list_keeps_whole_statuses_at_80_columns(running_hub: RunningHub,
                                                          tmp_path: Path) -> None:
    message = tmp_path / "a01.hl7"
    message.write_text(adt("CLI-WIDTH-1"), encoding="utf-8")
    sent = running_hub.cli("send", "hl7", str(message), "--port", str(running_hub.mllp_port))
    assert sent.exit_code == 0, sent.output
    _wait_listed(running_hub, 1, "delivered")
    listed = CliRunner().invoke(app, ["--config", str(running_hub.config), "messages", "list",
                                      "--url", running_hub.url], env={"COLUMNS": "80"})
    assert listed.exit_code == 0, listed.output
    assert max(len(line) for line in listed.stdout.splitlines()) <= 80
    assert " delivered " in listed.stdout, listed.stdout
