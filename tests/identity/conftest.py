"""Helpers for identity tests: records built from a few traits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.app import Hub
from hub.config import Settings
from identity.ins import NIR_OID, Ins, ins_key
from identity.model import Attribute, LocalRecord, Sex, Status, Traits, make_record
from tests.hub.conftest import ADMIN_TOKEN
from tests.support.databases import DIALECTS, database_url


def nir(body: str) -> str:
    """A NIR with its correct key."""
    return f"{body}{ins_key(body):02d}"


INS_A = nir("1800375056123")
INS_B = nir("2850613201045")


def person(authority: str = "1.2.250.1.999.1", ipp: str = "1", *,
           status: Status = Status.PROV, ins: str | None = None,
           attributes: frozenset[Attribute] = frozenset(), **traits: Any) -> LocalRecord:
    """A local record of Jean-Pierre MARTIN, born 1980-03-14 in Paris 5e, unless overridden."""
    values: dict[str, Any] = {
        "birth_name": "MARTIN", "given_names": ("JEAN-PIERRE", "PAUL"),
        "birth_date": "19800314", "sex": Sex.MALE, "birthplace": "75105", "postcode": "75005",
    }
    values.update(traits)
    return make_record(authority, ipp, Traits(**values), status=status,
                       attributes=attributes, ins=Ins(ins, NIR_OID) if ins else None)


# -- the SRRI inside a running hub (real MLLP and HTTP sockets) -----------------

ROUTES = """\
routes:
  - name: identity-updates
    when: {source: srri, message_type: ADT, trigger: A31}
    action: deliver
    to: [updates]
    final: true
  - name: adt-to-srri
    when: {message_type: ADT}
    action: deliver
    to: [srri]
"""

Fhir = Callable[..., Awaitable[httpx.Response]]
"""Calls the hub's HTTP API with the admin token: ``await fhir(method, path, **kwargs)``."""


@pytest.fixture(params=DIALECTS)
async def db_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    async with database_url(request) as url:
        yield url


@pytest.fixture
async def srri_hub(tmp_path: Path, db_url: str) -> AsyncIterator[Hub]:
    """A hub with the SRRI on SQLite and on PostgreSQL (the same code)."""
    routes = tmp_path / "routes"
    routes.mkdir()
    (routes / "routes.yaml").write_text(ROUTES, encoding="utf-8")
    hub = Hub(Settings.model_validate({
        "data_dir": str(tmp_path / "var"), "database_url": db_url, "routes_dir": str(routes),
        "mllp": {"port": 0}, "http": {"port": 0}, "admin_token": ADMIN_TOKEN,
        "components": ["identity"], "ins_test_mode": True,
        "destinations": {"srri": {"type": "srri"},
                         "updates": {"type": "file", "directory": str(tmp_path / "updates")}},
    }))
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


@pytest.fixture
async def fhir(srri_hub: Hub) -> Fhir:
    base = f"http://127.0.0.1:{srri_hub.http_port}"

    async def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
        async with httpx.AsyncClient(base_url=base, timeout=10,
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as c:
            return await c.request(method, path, **kwargs)

    return call
