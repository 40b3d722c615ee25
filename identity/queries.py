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
from identity.ins import NIA_OID, NIR_OID, TEST_MODE_OIDS
from identity.matching.decide import Scorer, Thresholds
from identity.matching.deterministic import InsVerdict
from identity.model import LocalRecord, Sex, Status, Traits, make_record
from identity.normalize import name_forms, normalize_birth_date, normalize_given_names
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

    async def search(self, *, family: str | None = None, given: str | None = None,
                     birthdate: str | None = None, gender: str | None = None,
                     limit: int = 50) -> list[str]:
        """Identity ids whose records match every given trait (PDQm ITI-78).

        The query's traits are turned into blocking keys, so only those blocks
        are read; each found record is then checked trait by trait on the
        normalised forms (birth or used name; first or any birth given name).
        """
        probe = make_record("?", "?", Traits(birth_name=family, given_names=(
            (given,) if given else ()), birth_date=birthdate,
            sex=Sex(gender) if gender in ("M", "F", "O", "U") else Sex.UNKNOWN))
        blocks = _search_blocks(probe, family, given, birthdate)
        if not blocks:
            return []
        records = await self.store.get_many(await self.store.block_members(blocks))
        hits = [s for s in records if s.active and _matches(s.record, family, given,
                                                            birthdate, gender)]
        return list(dict.fromkeys(s.identity_id for s in hits))[:limit]

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


def _search_blocks(probe: LocalRecord, family: str | None, given: str | None,
                   birthdate: str | None) -> list[str]:
    n = probe.normalized
    if n.birth_date:
        return [f"d:{n.birth_date}"]
    if family and given and n.birth_name_phonetic and n.given_phonetic:
        return [f"f:{n.birth_name_phonetic}:{n.given_phonetic}"]
    return []


def _matches(record: LocalRecord, family: str | None, given: str | None,
             birthdate: str | None, gender: str | None) -> bool:
    n = record.normalized
    if family:
        wanted = name_forms(family).compact
        if wanted not in (n.birth_name.compact, n.used_name.compact):
            return False
    if given:
        wanted_given = normalize_given_names((given,)).first
        if wanted_given not in (n.given.first, *n.given.items):
            return False
    if birthdate and normalize_birth_date(birthdate.replace("-", "")) != n.birth_date:
        return False
    return not (gender and n.sex.value != gender)
