"""The SRRI store's stored normalised traits and its one-read decision context,
on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hub.db.engine import Database
from identity.codec import normalized_from_json, normalized_json
from identity.model import Sex, Traits, normalize_traits
from identity.store import IdentityStore, StoredRecord, record_key
from tests.identity.conftest import person
from tests.support.databases import DIALECTS, database_url

TRAITS = (
    Traits(),
    Traits(birth_name="de La Fontaine", given_names=("Jean-Pierre", "Marie"),
           used_name="D'Artagnan", used_given_name="JP", birth_date="1980-03-14",
           sex=Sex.MALE, birthplace="2A004", address="12 rue de l'Église",
           postcode="20 000", city="Ajaccio", national_id="180032A004123"),
    Traits(birth_name="Œdipe", given_names=("Zoé",), sex=Sex.FEMALE),
)


@pytest.mark.parametrize("traits", TRAITS)
def test_stored_normalised_traits_read_back_equal(traits: Traits) -> None:
    normalized = normalize_traits(traits)
    assert normalized_from_json(normalized_json(normalized)) == normalized


@pytest.fixture(params=DIALECTS)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[IdentityStore]:
    async with database_url(request) as url:
        db = await Database.open(url)
        try:
            await db.upgrade()
            yield IdentityStore(db)
        finally:
            await db.close()


async def _stored(store: IdentityStore, stored: StoredRecord) -> None:
    await store.commit([*store.save(stored, new=True), *store.names(stored.record, +1)])


async def test_context_reads_record_candidates_kept_apart_and_names(
        store: IdentityStore) -> None:
    mine = person(ipp="1")
    twin = person(ipp="2", given_names=("PAUL",))
    gone = person(ipp="3")
    await _stored(store, StoredRecord(mine, "I1", "auto", None, "r", True, None))
    await _stored(store, StoredRecord(twin, "I2", "auto", None, "r", True, None))
    await store.commit(store.save(StoredRecord(gone, "I1", "source", None, "A40", False,
                                               record_key(mine.key)), new=True))
    review = store.open_review("R1", "review", mine.key, twin.key, 12.0, {})
    await store.commit([review, store.close_review("R1", "separated", "me", "twins")])

    context = await store.context(mine)

    assert context.existing is not None and context.existing.record == mine
    assert [c.record for c in context.candidates] == [twin]
    assert context.kept_apart == {"I2"}
    assert context.counts == {"birth_name": 2, "given_name": 1}
    assert context.total == 2


async def test_context_of_an_unknown_record_without_keys_is_empty(
        store: IdentityStore) -> None:
    context = await store.context(person(ipp="9", birth_name=None, given_names=(),
                                         birth_date=None, postcode=None, birthplace=None))
    assert context.existing is None
    assert context.candidates == [] and context.kept_apart == set()
    assert context.counts == {} and context.total == 0
