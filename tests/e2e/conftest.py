"""Fixtures shared by the end-to-end tests.

Each test module starts its own hub subprocess in a module-scoped ``hub``
fixture (one hub per module keeps the suite fast); :func:`api` gives each
test an authenticated client of that hub's admin API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.api import HubApi
from tests.support.hubproc import HubProcess


@pytest.fixture
async def api(hub: HubProcess) -> AsyncIterator[HubApi]:
    """The admin API of the module's hub."""
    client = HubApi(hub)
    try:
        yield client
    finally:
        await client.close()

