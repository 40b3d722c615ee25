"""Users, clients and tokens on SQLite and PostgreSQL: hashing, rotation, disabling."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from hub.auth.model import ActsAs, Role
from hub.auth.store import NewClient, PrincipalError, PrincipalStore
from hub.db.engine import Database
from hub.db.tables import auth_clients, auth_users
from tests.support.databases import DIALECTS, database_url

PASSWORD = "correct horse battery staple"


@pytest.fixture(params=DIALECTS)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[PrincipalStore]:
    """A store on a fresh, migrated database (ids ``sqlite`` and ``postgresql``)."""
    async with database_url(request) as url:
        db = await Database.open(url)
        try:
            await db.upgrade()
            yield PrincipalStore(db)
        finally:
            await db.close()


async def test_a_password_is_kept_as_an_argon2id_hash(store: PrincipalStore) -> None:
    user = await store.add_user("alice", "Alice", ["operator"], PASSWORD)
    assert user.roles == {Role.OPERATOR}
    (row,) = await store.db.fetch(select(auth_users))
    assert row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash
    assert await store.check_password("alice", PASSWORD) == user
    assert await store.check_password("alice", PASSWORD + "x") is None
    assert await store.check_password("bob", PASSWORD) is None


async def test_rotating_a_password_closes_the_sessions(store: PrincipalStore) -> None:
    await store.add_user("alice", "", ["operator"], PASSWORD)
    session = await store.open_token("session", "alice", 60)
    assert (await store.token_subject(session) or ())[:2] == ("session", "alice")
    await store.set_password("alice", "another long password")
    assert await store.token_subject(session) is None
    assert await store.check_password("alice", PASSWORD) is None
    assert await store.check_password("alice", "another long password") is not None


async def test_a_disabled_user_cannot_log_in(store: PrincipalStore) -> None:
    await store.add_user("alice", "", ["operator"], PASSWORD)
    session = await store.open_token("session", "alice", 60)
    await store.disable_user("alice")
    assert await store.check_password("alice", PASSWORD) is None
    assert await store.token_subject(session) is None
    assert (await store.users())[0].disabled


async def test_an_expired_token_is_not_valid(store: PrincipalStore) -> None:
    await store.add_user("alice", "", ["operator"], PASSWORD)
    token = await store.open_token("session", "alice", -1)
    assert await store.token_subject(token) is None


async def test_an_api_key_is_stored_only_as_its_sha256(store: PrincipalStore) -> None:
    client, key = await store.add_client(NewClient(
        "lab", ["document-source"], ["system/DocumentReference.write"], ["1630000042"],
        acts_as="professional"))
    assert key.startswith("hk_") and len(key) > 40
    (row,) = await store.db.fetch(select(auth_clients))
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in repr(tuple(row))
    found = await store.client_by_key(key)
    assert found == client
    principal = client.principal()
    assert principal.id == "client:lab" and principal.acts_as is ActsAs.PROFESSIONAL
    assert principal.establishments == ("1630000042",)


async def test_rotating_an_api_key_invalidates_the_old_one(store: PrincipalStore) -> None:
    _, old = await store.add_client(NewClient("lab", ["document-reader"]))
    token = await store.open_token("access", "lab", 60)
    new = await store.rotate_key("lab")
    assert new != old
    assert await store.client_by_key(old) is None
    rotated = await store.client_by_key(new)
    assert rotated is not None and rotated.name == "lab"
    assert await store.token_subject(token) is None


async def test_a_disabled_client_is_refused(store: PrincipalStore) -> None:
    _, key = await store.add_client(NewClient("pacs", ["document-reader"],
                                              cert_sha256="AB:" * 31 + "AB"))
    assert await store.client_by_certificate("ab" * 32) is not None
    await store.disable_client("pacs")
    assert await store.client_by_key(key) is None
    assert await store.client_by_certificate("ab" * 32) is None


@pytest.mark.parametrize(("new", "message"), [
    (NewClient("Lab", ["operator"]), "client name 'Lab'"),
    (NewClient("lab", ["superuser"]), "role 'superuser'"),
    (NewClient("lab", ["operator"], scopes=["system/*.everything"]), "scope"),
    (NewClient("lab", ["operator"], acts_as="doctor"), "acts-as 'doctor'"),
    (NewClient("lab", ["operator"], patients=["12345"]), "patient '12345'"),
    (NewClient("lab", ["operator"], cert_sha256="abc"), "fingerprint 'abc'"),
], ids=["name", "role", "scope", "acts-as", "patient", "fingerprint"])
async def test_a_bad_client_is_refused_naming_the_value(
        store: PrincipalStore, new: NewClient, message: str) -> None:
    with pytest.raises(PrincipalError, match=message):
        await store.add_client(new)


async def test_names_are_unique_and_passwords_long_enough(store: PrincipalStore) -> None:
    await store.add_user("alice", "", ["operator"], PASSWORD)
    with pytest.raises(PrincipalError, match="already exists"):
        await store.add_user("alice", "", ["operator"], PASSWORD)
    with pytest.raises(PrincipalError, match="at least 12"):
        await store.add_user("bob", "", ["operator"], "short")
    with pytest.raises(PrincipalError, match="'carol' is not known"):
        await store.disable_user("carol")
