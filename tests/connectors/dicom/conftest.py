"""An in-process hub with the imaging component, its DICOM listener and a sink.

``imaging_hub`` builds a :class:`hub.app.Hub` on a temporary directory with
the DICOM listener on a free port, one source ``modality`` (calling AE
``MODALITY``, PatientID authority :data:`AUTHORITY`) and the destinations
and routes a test gives. ``directory`` replaces the patient directory so
that a test decides what the identity service knows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from hub.app import Hub
from hub.config import Settings
from hub.patients import Identifier, PatientView
from tests.support.dicom import StoreScp, need_dcmtk

AUTHORITY = "1.2.250.1.999.1.1"
INS_OID = "1.2.250.1.213.1.4.8"
REGIONAL = "urn:oid:2.25.114077959961030865733295044946271075314"
ADMIN_TOKEN = "test-token-0123456789"


class FakeDirectory:
    """A patient directory answering from a dict (the identity service's contract)."""

    def __init__(self) -> None:
        self.known: dict[Identifier, PatientView] = {}

    async def lookup(self, identifier: Identifier) -> PatientView | None:
        """As :meth:`hub.patients.PatientDirectory.lookup`."""
        return self.known.get(identifier)

    async def equivalents(self, identifier: Identifier) -> tuple[Identifier, ...]:
        """Every identifier of the view ``identifier`` belongs to."""
        for view in self.known.values():
            if identifier in view.identifiers:
                return view.identifiers
        return (identifier,)


def dicom_destination(port: int, aet: str = "SINK", **extra: Any) -> dict[str, Any]:
    """A ``dicom`` destination on 127.0.0.1 with short test retries."""
    return {"type": "dicom", "host": "127.0.0.1", "port": port, "called_ae": aet,
            "timeout_s": 5, "retry": {"max_attempts": 30, "initial_s": 0.1, "max_s": 0.5},
            **extra}


ROUTE_ALL_TO_SINK = """\
routes:
  - name: images-to-sink
    when: {protocol: dicom}
    action: deliver
    to: [sink]
"""

HubFactory = Callable[..., Any]


@pytest.fixture
def sink(tmp_path: Path) -> Any:
    """A storescp on a free port."""
    need_dcmtk()
    scp = StoreScp(tmp_path / "sink").start()
    try:
        yield scp
    finally:
        scp.stop()


def imaging_settings(tmp_path: Path, routes: str, destinations: Mapping[str, Any],
                     **dicom: Any) -> Settings:
    """Settings of a hub with the imaging component, DICOM on a free port."""
    routes_dir = tmp_path / "routes"
    routes_dir.mkdir(exist_ok=True)
    (routes_dir / "routes.yaml").write_text(routes, encoding="utf-8")
    return Settings.model_validate({
        "data_dir": str(tmp_path / "var"), "routes_dir": str(routes_dir),
        "admin_token": ADMIN_TOKEN, "components": ["imaging"],
        "mllp": {"enabled": False}, "http": {"enabled": False},
        "dicom": {"enabled": True, "port": 0, "study_quiet_s": 0.5,
                  "sources": [{"name": "modality", "ae_titles": ["MODALITY"],
                               "patient_id_authority": AUTHORITY, "marker": "CH TEST"}],
                  **dicom},
        "destinations": dict(destinations),
    })


@pytest.fixture
async def start_hub(tmp_path: Path) -> AsyncIterator[HubFactory]:
    """Start hubs; every one is stopped at the end."""
    started: list[Hub] = []

    async def factory(routes: str, destinations: Mapping[str, Any], **dicom: Any) -> Hub:
        hub = Hub(imaging_settings(tmp_path, routes, destinations, **dicom))
        started.append(hub)
        await hub.start()
        return hub

    try:
        yield factory
    finally:
        for hub in reversed(started):
            await hub.stop()


def dicom_port(hub: Hub) -> int:
    """The bound port of the hub's DICOM listener."""
    imaging = next(c for c in hub.components if c.name == "imaging")
    port: int = imaging.dicom_port  # type: ignore[attr-defined]
    return port
