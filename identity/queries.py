"""The read side of the SRRI: cross-references (PIX), demographic search (PDQ), match.

Identifiers are ``(system, value)``: ``urn:oid:<authority>`` with the IPP for a
local record, ``urn:oid:1.2.250.1.213.1.4.8`` (or ``.9``, ``.10``, ``.11``)
with the matricule for an INS, and the hub's own regional system with the
regional identity id.

An INS finds a patient only through records that hold it *qualified*; a
merged-away IPP (A40, A47) still finds the identity it was merged into, but
is not listed among the identifiers of that identity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hub.patients import Identifier, PatientView
from identity.errors import SearchTooBroad
from identity.ins import NIA_OID, NIR_OID, TEST_MODE_OIDS
from identity.matching.decide import Scorer, Thresholds
from identity.matching.deterministic import InsVerdict
from identity.model import LocalRecord, Status
from identity.search import (
    FAMILY,
    GIVEN,
    DateCriterion,
    family_names,
    given_names,
    starts_any,
)
from identity.store import IdentityStore, StoredRecord

INS_SYSTEMS = {f"urn:oid:{oid}" for oid in (NIR_OID, NIA_OID, *TEST_MODE_OIDS)}


def system_of(authority: str) -> str:
    """``urn:oid:<authority>`` for an OID authority, else the authority as it is."""
    return f"urn:oid:{authority}" if authority[:1].isdigit() else authority


def authority_of(system: str) -> str:
    """The authority key of a system URI (the OID without ``urn:oid:``)."""
    return system.removeprefix("urn:oid:")


@dataclass(frozen=True, slots=True)
class Match:
    """One candidate of a ``$match``: its identity, score and grade."""

    identity_id: str
    record: StoredRecord
    score: float
    grade: str  # certain | probable | possible


class IdentityQueries:
    """PIX, PDQ and match over the store; also the hub's :class:`PatientDirectory`."""

    def __init__(self, store: IdentityStore, scorer: Scorer, regional_system: str) -> None:
        self.store = store
        self.scorer = scorer
        self.regional_system = regional_system

    async def resolve(self, identifier: Identifier) -> str | None:
        """The regional identity an identifier belongs to, None when unknown."""
        system, value = identifier
        if system == self.regional_system:
            members = await self.store.members(value)
            return value if members else None
        if system in INS_SYSTEMS:
            holders = [s for s in await self.store.by_ins(value)
                       if s.record.qualified and s.active]
            ids = {s.identity_id for s in holders}
            return ids.pop() if len(ids) == 1 else None
        stored = await self.store.get((authority_of(system), value))
        return stored.identity_id if stored else None

    async def knows_domain(self, system: str) -> bool:
        """The system is a patient identifier domain of this server: the regional
        system, an INS system, or the authority of some record received."""
        if system == self.regional_system or system in INS_SYSTEMS:
            return True
        return await self.store.knows_authority(authority_of(system))

    async def view(self, identity_id: str) -> PatientView:
        """Every current identifier of a regional identity."""
        return self._view(identity_id, await self.store.members(identity_id))

    def _view(self, identity_id: str, members: Sequence[StoredRecord]) -> PatientView:
        """:meth:`view` from the identity's records (read once by the caller)."""
        active = [m for m in members if m.active]
        identifiers: list[Identifier] = [(self.regional_system, identity_id)]
        identifiers += [(system_of(m.record.authority), m.record.ipp) for m in active]
        ins = sorted({(f"urn:oid:{m.record.ins.oid}", m.record.ins.value)
                      for m in active if m.record.qualified and m.record.ins})
        identifiers += ins
        return PatientView(identity_id, tuple(identifiers), ins[0] if len(ins) == 1 else None)

    async def lookup(self, identifier: Identifier) -> PatientView | None:
        """:class:`hub.patients.PatientDirectory`: the patient of an identifier."""
        identity_id = await self.resolve(identifier)
        return await self.view(identity_id) if identity_id else None

    async def equivalents(self, identifier: Identifier) -> tuple[Identifier, ...]:
        """:class:`hub.patients.PatientDirectory`: every identifier of the same patient."""
        identity_id = await self.resolve(identifier)
        if identity_id is None:
            return (identifier,)
        members = await self.store.members(identity_id)
        merged = [(system_of(m.record.authority), m.record.ipp)
                  for m in members if not m.active]
        found = self._view(identity_id, members).identifiers
        return tuple(dict.fromkeys((identifier, *found, *merged)))

    async def local_identifiers(self, identity_id: str) -> tuple[Identifier, ...]:
        """The identifiers a regional Patient id (PDQm, PIXm ``targetId``) stands for in
        local systems: each current member's ``(urn:oid:<authority>, IPP)``, the
        merged-away IPPs (A40, A47) that still point to it, and the qualified INS;
        empty when the id is unknown. A document search by ``patient`` (ITI-67) looks
        documents up by these."""
        members = await self.store.members(identity_id)
        if not members:
            return ()
        view = self._view(identity_id, members)
        merged = [(system_of(m.record.authority), m.record.ipp) for m in members
                  if not m.active]
        local = [i for i in view.identifiers if i[0] != self.regional_system]
        return tuple(dict.fromkeys((*local, *merged)))

    async def shown(self, identity_id: str) -> tuple[StoredRecord, PatientView] | None:
        """The record shown for an identity (a qualified one first, then the latest) and
        its :meth:`view`, from one read; None when it has no current record."""
        members = await self.store.members(identity_id)
        active = [m for m in members if m.active]
        if not active:
            return None
        representative = sorted(active, key=lambda m: (not m.record.qualified,
                                                        m.record.status is Status.PROV))[0]
        return representative, self._view(identity_id, members)

    async def search(self, criteria: PatientSearch, *, offset: int = 0,
                     count: int = 50) -> SearchPage:
        """Identity ids whose records match every criterion (PDQm ITI-78), sorted,
        with their total: the page ``[offset, offset + count)`` of them.

        Only the rows the criteria select are read (a birth date block, name
        prefix ranges, the members of the identities named); each record found
        is then checked criterion by criterion (:mod:`identity.search`).
        """
        records = await self._search_records(criteria)
        hits = sorted({s.identity_id for s in records
                       if s.active and criteria.matches(s.record)})
        return SearchPage(len(hits), hits[offset:offset + count] if count else [])

    async def _search_records(self, criteria: PatientSearch) -> list[StoredRecord]:
        if criteria.identity_ids is not None:
            found = [await self.store.members(i) for i in sorted(criteria.identity_ids)]
            return [s for group in found for s in group]
        keys: set[str] | None = None
        for selected in await self._selections(criteria):
            keys = selected if keys is None else keys & selected
        if keys is None:
            raise SearchTooBroad(
                "the search needs _id, identifier, a birthdate (day), family or given "
                f"selecting at most {SEARCH_LIMIT} records", parameter=criteria.broadest)
        return await self.store.get_many(keys)

    async def _selections(self, criteria: PatientSearch) -> list[set[str]]:
        """Record key sets selected by the indexed criteria (a set too big is left out:
        the other criteria select, and every criterion is checked on each record)."""
        out: list[set[str]] = []
        for d in criteria.birthdates:
            if d.exact_day:
                out.append(await self.store.block_members([f"d:{d.exact_day}"]))
        groups = [(FAMILY, g) for g in criteria.families] + [(GIVEN, g) for g in criteria.givens]
        for kind, group in groups:
            found = await self.store.prefix_members([kind + p for p in group], SEARCH_LIMIT)
            if found is not None:
                out.append(found)
        return out

    async def match(self, record: LocalRecord, *, only_certain: bool = False,
                    limit: int = 10) -> list[Match]:
        """Candidates for a patient (PDQm ITI-119 ``$match``), best first, graded."""
        found = await self.store.candidates(record)
        t: Thresholds = self.scorer.thresholds
        best: dict[str, Match] = {}
        for stored in found:
            pair = self.scorer.score(record, stored.candidate)
            if pair.vetoes or pair.collision:
                continue
            grade = "certain" if pair.rule == InsVerdict.MATCH.value or pair.score >= t.auto else \
                "probable" if pair.score >= t.review else "possible"
            if grade == "possible" and pair.score < 0:
                continue
            seen = best.get(stored.identity_id)
            if seen is None or pair.score > seen.score:
                best[stored.identity_id] = Match(stored.identity_id, stored, pair.score, grade)
        ranked = sorted(best.values(), key=lambda m: -m.score)
        if only_certain:
            ranked = [m for m in ranked if m.grade == "certain"]
        return ranked[:limit]


SEARCH_LIMIT = 10_000
"""Most records a patient search reads before it is refused as too broad."""


@dataclass(frozen=True, slots=True)
class PatientSearch:
    """PDQm criteria in search form (:mod:`identity.search`): every tuple is an AND of
    criteria, each inner tuple of names an OR (FHIR's comma)."""

    families: tuple[tuple[str, ...], ...] = ()
    givens: tuple[tuple[str, ...], ...] = ()
    birthdates: tuple[DateCriterion, ...] = ()
    genders: frozenset[str] | None = None
    """Any of ``M``, ``F``, ``O``, ``U`` (HL7 table 0001); None: not restricted."""
    identity_ids: frozenset[str] | None = None
    """The identities ``_id`` or ``identifier`` name (None: not restricted)."""

    @property
    def broadest(self) -> str:
        """The parameter to narrow when the search is too broad."""
        return "family" if self.families else "given" if self.givens else "birthdate"

    def matches(self, record: LocalRecord) -> bool:
        """Every criterion holds for the record (FHIR R4 search semantics)."""
        families, givens = family_names(record), given_names(record)
        return (all(starts_any(g, families) for g in self.families)
                and all(starts_any(g, givens) for g in self.givens)
                and all(d.matches(record.normalized.birth_date) for d in self.birthdates)
                and (self.genders is None or record.normalized.sex.value in self.genders))


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of a patient search and the number of identities found in all."""

    total: int
    identity_ids: list[str]
