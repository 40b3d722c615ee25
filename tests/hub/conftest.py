"""Shared fixtures for hub tests: settings on a temporary directory, a started Hub.

The default set-up is one file destination ``archive`` and one route sending
every message there. ``make_settings`` takes overrides (for instance an
``mllp`` destination) and the route text.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from connectors.mllp.client import MLLPClient
from hub.app import Hub
from hub.config import Settings

ADMIN_TOKEN = "test-token-0123456789"

ROUTE_ALL_TO_ARCHIVE = """\
routes:
  - name: everything-to-archive
    when: {}
    action: deliver
    to: [archive]
"""


def adt_a01(control_id: str, ipp: str = "12345", processing: str = "P") -> bytes:
    """A minimal PAM-style ADT^A01 (HL7 v2.5), segments ending with CR."""
    return (
        f"MSH|^~\\&|GAM|CHU-TEST|HUB|ARS|20240501083000||ADT^A01^ADT_A01|{control_id}|"
        f"{processing}|2.5|||||FRA|8859/1\r"
        "EVN||20240501083000\r"
        f"PID|||{ipp}^^^CHU-TEST&1.2.250.1.71.4.2.2&ISO^PI||TEST^PATIENT\r"
        "PV1||I\r"
    ).encode("iso-8859-1")


def free_port() -> int:
    """A TCP port nobody listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    """Build hub settings on ``tmp_path``; keyword arguments override top-level keys."""

    def factory(routes: str = ROUTE_ALL_TO_ARCHIVE, **overrides: Any) -> Settings:
        routes_dir = tmp_path / "routes"
        routes_dir.mkdir(exist_ok=True)
        (routes_dir / "routes.yaml").write_text(routes, encoding="utf-8")
        tree: dict[str, Any] = {
            "data_dir": str(tmp_path / "var"),
            "mllp": {"port": 0},
            "http": {"port": 0},
            "admin_token": ADMIN_TOKEN,
            "routes_dir": str(routes_dir),
            "destinations": {"archive": {"type": "file", "directory": str(tmp_path / "out")}},
            "pipeline": {"prefetch": 16, "lanes": 4},
        }
        tree.update(overrides)
        return Settings.model_validate(tree)

    return factory


HubFactory = Callable[..., Awaitable[Hub]]


@pytest.fixture
async def start_hub(make_settings: SettingsFactory) -> AsyncIterator[HubFactory]:
    """Start hubs from ``make_settings`` arguments; every one is stopped afterwards."""
    started: list[Hub] = []

    async def factory(**kwargs: Any) -> Hub:
        hub = Hub(make_settings(**kwargs))
        await hub.start()
        started.append(hub)
        return hub

    yield factory
    for hub in reversed(started):
        await hub.stop()


@pytest.fixture
async def hub(start_hub: HubFactory) -> Hub:
    """A started hub with the default set-up."""
    return await start_hub()


async def send_mllp(port: int, *payloads: bytes) -> list[bytes]:
    """Send messages to the hub's MLLP listener; return the ACKs."""
    client = MLLPClient("127.0.0.1", port, response_timeout_s=10)
    try:
        return [await client.send(p) for p in payloads]
    finally:
        await client.close()


async def wait_for(
    probe: Callable[[], Awaitable[Any]], timeout_s: float = 10.0, interval_s: float = 0.05
) -> Any:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s (last: {value!r})")
        await asyncio.sleep(interval_s)


@pytest.fixture(name="adt_a01")
def adt_a01_fixture() -> Callable[..., bytes]:
    """:func:`adt_a01`, for test modules (conftest is not importable)."""
    return adt_a01


@pytest.fixture(name="send_mllp")
def send_mllp_fixture() -> Callable[..., Awaitable[list[bytes]]]:
    """:func:`send_mllp`, for test modules."""
    return send_mllp


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., Awaitable[Any]]:
    """:func:`wait_for`, for test modules."""
    return wait_for


@pytest.fixture(name="free_port")
def free_port_fixture() -> Callable[[], int]:
    """:func:`free_port`, for test modules."""
    return free_port
