"""A database URL per test, on SQLite or on a fresh PostgreSQL database.

Use it from a fixture parametrised over :data:`DIALECTS`::

    @pytest.fixture(params=DIALECTS)
    async def db_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
        async with database_url(request) as url:
            yield url

``sqlite`` is a file in the test's ``tmp_path``. ``postgresql`` is a new
database ``hubtest_<test hash><random>`` created through asyncpg on the
administration database (``HUB_TEST_POSTGRES_DSN``, default the local
``postgres`` account on database ``test``) and dropped ``WITH (FORCE)`` at
teardown, whatever the test left connected. When PostgreSQL cannot be
reached the test is skipped with the reason, or fails when ``CI`` is set.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

DIALECTS = ("sqlite", "postgresql")
POSTGRES_ADMIN_DSN = os.environ.get(
    "HUB_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)
CONNECT_TIMEOUT_S = 5.0


def database_name(request: pytest.FixtureRequest) -> str:
    """``hubtest_`` + a hash of the test id + random hex: unique across sessions."""
    digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:8]
    return f"hubtest_{digest}{secrets.token_hex(4)}"


def sqlalchemy_url(admin_dsn: str, database: str) -> str:
    """The asyncpg SQLAlchemy URL of ``database`` on the server of ``admin_dsn``."""
    parts = urlsplit(admin_dsn)
    return urlunsplit(("postgresql+asyncpg", parts.netloc, f"/{database}", parts.query, ""))


def unreachable(reason: str) -> NoReturn:
    """Skip the test, or fail it when ``CI`` is set (services are required there)."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: PostgreSQL is required)")
    pytest.skip(f"{reason} (set CI to make this a failure)")


async def _admin_connection(dsn: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        where = urlsplit(dsn).netloc.rpartition("@")[2]
        unreachable(f"PostgreSQL is not reachable at {where}: {type(exc).__name__}: {exc}")


@asynccontextmanager
async def postgres_database(
    request: pytest.FixtureRequest, admin_dsn: str = POSTGRES_ADMIN_DSN
) -> AsyncIterator[str]:
    """A fresh PostgreSQL database for this test; its SQLAlchemy URL, dropped afterwards."""
    name = database_name(request)
    admin = await _admin_connection(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield sqlalchemy_url(admin_dsn, name)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def sqlite_url(directory: Path, name: str = "hub.db") -> str:
    """The aiosqlite URL of a file in ``directory``."""
    return f"sqlite+aiosqlite:///{(directory / name).as_posix()}"


@asynccontextmanager
async def database_url(
    request: pytest.FixtureRequest, dialect: str | None = None
) -> AsyncIterator[str]:
    """A database URL of ``dialect`` (default ``request.param``) for the requesting test."""
    chosen = dialect or str(request.param)
    if chosen == "sqlite":
        tmp_path: Path = request.getfixturevalue("tmp_path")
        yield sqlite_url(tmp_path)
    elif chosen == "postgresql":
        async with postgres_database(request) as url:
            yield url
    else:
        raise ValueError(f"dialect {chosen!r} is not one of {DIALECTS}")
