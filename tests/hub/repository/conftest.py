"""Fixtures of the repository tests: the service on SQLite and on PostgreSQL.

``repository`` is a :class:`hub.repository.store.Repository` on a migrated
database (``db_url`` is parametrised over both dialects, see
:mod:`tests.support.databases`) whose patient directory can be told that two
identifiers belong to the same person (``directory.link``), as the identity
service does after a merge.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.blobs import BlobStore
from hub.db.engine import Database
from hub.patients import Identifier, PatientView
from hub.repository.model import Action, Filing, PatientIdentifiers, Submission, Visibility
from hub.repository.store import Repository
from mappings.cda import map_cda
from tests.support.databases import DIALECTS, database_url

INS_SYSTEM = "urn:oid:1.2.250.1.213.1.4.10"
IPP_SYSTEM = "urn:oid:1.2.250.1.999.42.1"


class LinkingDirectory:
    """A patient directory whose cross-references the test sets."""

    def __init__(self) -> None:
        self.groups: list[set[Identifier]] = []

    def link(self, *identifiers: Identifier) -> None:
        """Declare ``identifiers`` the same patient (a merge seen by the repository)."""
        self.groups.append(set(identifiers))

    async def lookup(self, identifier: Identifier) -> PatientView | None:
        """Nothing beyond equivalents is needed here."""
        return None

    async def equivalents(self, identifier: Identifier) -> tuple[Identifier, ...]:
        """The identifier and those linked to it."""
        found = {identifier}
        for group in self.groups:
            if identifier in group:
                found |= group
        return tuple(sorted(found))


@pytest.fixture(params=DIALECTS)
async def db_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """SQLite, or a fresh PostgreSQL database."""
    async with database_url(request) as url:
        yield url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A migrated database, closed afterwards."""
    database = await Database.open(db_url)
    try:
        await database.upgrade()
        yield database
    finally:
        await database.close()


@pytest.fixture
def directory() -> LinkingDirectory:
    """The patient directory the repository asks."""
    return LinkingDirectory()


@pytest.fixture
def repository(db: Database, tmp_path: Path, directory: LinkingDirectory) -> Repository:
    """The service under test."""
    return Repository(db, BlobStore(db, tmp_path / "blobs"), directory)


def filing(content: bytes, action: Action = Action.INITIAL, *,
           visibility: Visibility | None = None, qualified: bool = True,
           strict: bool = False) -> Filing:
    """A filing of ``content`` as the HL7 destination builds it (IPP and INS)."""
    mapping = map_cda(content)
    ids = tuple((str(i.system), str(i.value)) for i in mapping.patient.identifier or [])
    ins = next((i for i in ids if i[0] == INS_SYSTEM), None)
    return Filing(mapping, content, PatientIdentifiers(ids, ins, qualified), action,
                  visibility or Visibility(), strict_replacement=strict)


SUBMISSION = Submission("test", "1.2.250.1.999.42.9")
