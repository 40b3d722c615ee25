"""The embedded broker on PostgreSQL: the broker contract, case for case.

The cases are those of :mod:`tests.hub.broker.test_contract`, collected here a
second time; this module overrides its ``make_broker`` fixture with one id,
``embedded-postgresql``: every broker made is an :class:`EmbeddedBroker` on
one fresh PostgreSQL database (see :mod:`tests.support.databases`), so a
"restart" is a new broker and a new ``Database`` on the same rows. A case
added to the contract runs here without a change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from hub.broker.base import Broker
from hub.broker.embedded import EmbeddedBroker
from hub.db.engine import Database
from tests.hub.broker import test_contract
from tests.hub.broker.conftest import BrokerFactory
from tests.support.databases import database_url

CASES = {name: case for name, case in vars(test_contract).items() if name.startswith("test_")}
globals().update(CASES)


async def _abandon(broker: Broker) -> None:
    """A dying process leaves its rows behind; the next broker takes them over."""


@pytest.fixture
async def embedded_postgresql_factory(
    request: pytest.FixtureRequest,
) -> AsyncIterator[Callable[[], Awaitable[Broker]]]:
    """``await factory()``: a started EmbeddedBroker on this test's PostgreSQL database."""
    async with database_url(request, "postgresql") as url:
        opened: list[tuple[EmbeddedBroker, Database]] = []

        async def factory() -> Broker:
            database = await Database.open(url)
            opened.append((EmbeddedBroker(database), database))
            await database.upgrade()
            await opened[-1][0].start()
            return opened[-1][0]

        try:
            yield factory
        finally:
            for broker, database in opened:
                await broker.close()
                await database.close()


@pytest.fixture(params=["embedded-postgresql"])
def make_broker(request: pytest.FixtureRequest, embedded_postgresql_factory: Any) -> BrokerFactory:
    """The contract's broker factory, on PostgreSQL (overrides the conftest's)."""
    return BrokerFactory(embedded_postgresql_factory, crash=_abandon)


def test_every_contract_case_is_collected_here() -> None:
    assert len(CASES) >= 10
    assert all(callable(case) for case in CASES.values())
