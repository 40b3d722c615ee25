"""The hub as a subprocess, for end-to-end tests; and a minimal launcher of our own.

:class:`HubProcess` starts ``python -m hub.cli --config CONFIG run`` (the
``hub run`` command), or this module's own launcher when
``E2E_HUB_LAUNCHER=module`` (``python -m tests.support.hubproc CONFIG``: the
same :class:`hub.app.Hub` code path, useful while the CLI is unfinished).

Readiness does not depend on what the hub prints: the ports are chosen
before the start (:func:`free_port`, written in the settings file, so that a
restart after a crash listens where the senders expect it), and
:meth:`HubProcess.start` polls the MLLP port and ``GET /readyz`` until both
answer, failing early with the end of the hub's log when the process exits.

Every process is started in its own session; :meth:`HubProcess.kill` sends
SIGKILL (a crash), :meth:`HubProcess.stop` SIGTERM then SIGKILL. Both only
ever signal the process this object started.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar, overload

import httpx
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "e2e-admin-token-0123456789"
LAUNCHER_ENV = "E2E_HUB_LAUNCHER"
T = TypeVar("T")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (bound, then released)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def wait_until(
    probe: Callable[[], T], timeout_s: float, what: str, interval_s: float = 0.05
) -> T:
    """Call ``probe`` until it returns something truthy; AssertionError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s} s (last: {value!r})")
        time.sleep(interval_s)


@overload
async def await_until(probe: Callable[[], Awaitable[T | None]], timeout_s: float, what: str,
                      interval_s: float = ...) -> T: ...


@overload
async def await_until(probe: Callable[[], T | None], timeout_s: float, what: str,
                      interval_s: float = ...) -> T: ...


async def await_until(probe: Callable[[], Any], timeout_s: float, what: str,
                      interval_s: float = 0.05) -> Any:
    """:func:`wait_until` for event-loop code; ``probe`` may be sync or async.

    Returns the first truthy value (typed without ``None``: a probe returns its
    result or ``None``/``False``/empty while waiting)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s} s (last: {value!r})")
        await asyncio.sleep(interval_s)


def mllp_destination(port: int, *, max_attempts: int = 4, initial_s: float = 0.1,
                     max_s: float = 0.5, timeout_s: float = 3.0,
                     **extra: Any) -> dict[str, Any]:
    """Settings of an ``mllp`` destination on 127.0.0.1 with short, test-sized retries."""
    return {
        "type": "mllp", "host": "127.0.0.1", "port": port, "timeout_s": timeout_s,
        "retry": {"max_attempts": max_attempts, "initial_s": initial_s, "max_s": max_s},
        **extra,
    }


def write_config(
    directory: Path,
    *,
    routes: str,
    destinations: Mapping[str, Mapping[str, Any]],
    mllp: Mapping[str, Any] | None = None,
    **settings: Any,
) -> Path:
    """Write ``hub.yaml`` and ``routes/routes.yaml`` under ``directory``; return the file.

    MLLP and HTTP ports are picked free now unless given; ``settings`` adds
    or overrides top-level keys (``broker_url``, ``database_url``...).
    """
    routes_dir = directory / "routes"
    routes_dir.mkdir(parents=True, exist_ok=True)
    (routes_dir / "routes.yaml").write_text(routes, encoding="utf-8")
    tree: dict[str, Any] = {
        "data_dir": str(directory / "var"),
        "routes_dir": str(routes_dir),
        "admin_token": ADMIN_TOKEN,
        "log_level": "INFO",
        "mllp": {"port": free_port(), **(mllp or {})},
        "http": {"port": free_port()},
        "destinations": {name: dict(value) for name, value in destinations.items()},
    }
    tree.update(settings)
    path = directory / "hub.yaml"
    path.write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
    return path


class HubProcess:
    """One hub subprocess on a settings file; restartable on the same ports and data."""

    def __init__(self, config: Path, *, log_path: Path | None = None,
                 launcher: str | None = None) -> None:
        self.config = config
        tree = yaml.safe_load(config.read_text(encoding="utf-8"))
        self.mllp_port: int = int(tree["mllp"]["port"])
        self.http_port: int = int(tree["http"]["port"])
        self.admin_token: str = tree["admin_token"]
        if not self.mllp_port or not self.http_port:
            raise ValueError("HubProcess needs fixed ports in the settings (see write_config)")
        self.log_path = log_path or config.with_name("hub.log")
        self.launcher = launcher or os.environ.get(LAUNCHER_ENV, "cli")
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def base_url(self) -> str:
        """The HTTP API root."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def headers(self) -> dict[str, str]:
        """The admin API's bearer authentication."""
        return {"Authorization": f"Bearer {self.admin_token}"}

    def command(self) -> list[str]:
        """The command line of the chosen launcher."""
        if self.launcher == "module":
            return [sys.executable, "-m", "tests.support.hubproc", str(self.config)]
        if self.launcher != "cli":
            raise ValueError(f"{LAUNCHER_ENV}={self.launcher!r}: expected 'cli' or 'module'")
        return [sys.executable, "-m", "hub.cli", "--config", str(self.config), "run"]

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    # -- life cycle -------------------------------------------------------------

    def start(self, timeout_s: float = 60.0) -> HubProcess:
        """Start the hub and return once MLLP answers and ``/readyz`` is 200."""
        if self.running:
            raise RuntimeError("the hub is already running")
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command(), cwd=REPO_ROOT, env=self._environment(),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_until(self._ready, timeout_s, "hub ready (MLLP port open, /readyz 200)",
                       interval_s=0.1)
        except BaseException:
            self.stop()
            raise
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"the hub exited with {self.process.returncode} while starting:\n"
                f"{self.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", self.mllp_port), timeout=1):
                pass
            response = httpx.get(f"{self.base_url}/readyz", timeout=2)
        except (OSError, httpx.HTTPError):
            return False
        return response.status_code == 200

    @property
    def running(self) -> bool:
        """True while the process lives."""
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        """The process id of the current hub."""
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL (a crash: no cleanup at all) and reap the process."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self, timeout_s: float = 15.0) -> int | None:
        """SIGTERM, wait ``timeout_s``, then SIGKILL; the exit status (None if never started)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the hub's output."""
        if not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> HubProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# -- the launcher: python -m tests.support.hubproc CONFIG ----------------------------


async def _serve(config: Path) -> None:
    from hub.app import Hub
    from hub.config import load_settings

    hub = Hub(load_settings(config))
    task = asyncio.create_task(hub.serve_forever())
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main(argv: list[str] | None = None) -> int:
    """Run a hub on the settings file given as the only argument until SIGTERM/SIGINT."""
    import logging

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tests.support.hubproc CONFIG", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)-7s %(name)s %(message)s")
    asyncio.run(_serve(Path(args[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
