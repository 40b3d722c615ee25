"""The SRRI service: applies identity events, decides, keeps the link graph and the log.

One identity event (from one ADT message) is applied in one transaction:
the local record's traits, its blocking keys, its link, the log entries and
any review opened. Events are applied one at a time (the ``srri``
destination has a single lane), so two records of the same person arriving
together cannot both create an identity.

What each event does (IHE PAM France, ITI-30/31):

- create/update: the record is stored; a new record is decided by the
  matcher (link, review, new, collision); a known record whose link came
  from the matcher is decided again with its new traits, a link made by a
  person (``manual``) or by the source (A24, A37: ``source``) stays;
- A40 merge (same authority): the absorbed IPP (MRG-1) becomes an inactive
  record pointing at the survivor, and the records linked to its identity
  follow the survivor's identity: the source says they are one person;
- A47 identifier change: the record is carried over to the new IPP, keeping
  its link; an INS change or removal on the same IPP is an update (a
  demoted identity loses the INS tier and is decided again);
- A24 link / A37 unlink: the second record joins / leaves the first one's
  identity, as the source says (``source`` provenance, never undone by the
  matcher); an unlink also marks the pair as kept apart.

Every changed regional identity is returned so the caller can announce it
(ADT^A31, PIX update style).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hub.db.committer import Op
from hub.journal import new_message_id
from identity.convert import first_local, same_authority, to_record
from identity.matching.decide import Scorer
from identity.model import (
    Decision,
    LocalRecord,
    Outcome,
    PairResult,
    Traits,
    make_record,
)
from identity.store import (
    Context,
    IdentityStore,
    StoredRecord,
    record_key,
    split_key,
    stored_blocks,
)
from mappings.hl7v2.identity_event import IdentityEvent, IdentityEventKind

log = logging.getLogger(__name__)

AUTO = "auto"
MANUAL = "manual"
SOURCE = "source"


@dataclass(slots=True)
class Applied:
    """What applying one event did."""

    outcome: str
    identity_id: str | None
    changed: set[str] = field(default_factory=set)
    detail: str = ""


class _Frequencies:
    """Name frequencies read from the store for one decision."""

    def __init__(self, counts: dict[str, int], total: int) -> None:
        self._counts = counts
        self._total = total

    def frequency(self, field: str, value: str) -> float | None:
        if not self._total or not value:
            return None
        return (self._counts.get(field, 0) + 1) / (self._total + 1)


def explain(pair: PairResult) -> dict[str, Any]:
    """A pair's score field by field, for the review queue."""
    return {
        "score": round(pair.score, 2), "rule": pair.rule, "vetoes": list(pair.vetoes),
        "collision": pair.collision,
        "fields": [{"field": f.field, "level": f.level, "weight": round(f.weight, 2)}
                   for f in pair.fields],
    }


class IdentityService:
    """Applies identity events to the store and answers cross-reference questions."""

    def __init__(self, store: IdentityStore, scorer: Scorer, *, test_mode: bool = False) -> None:
        self.store = store
        self.scorer = scorer
        self.test_mode = test_mode

    # -- events -----------------------------------------------------------------

    async def apply(self, event: IdentityEvent, message_id: str | None = None) -> Applied:
        """Apply one identity event (see the module docstring)."""
        converted = to_record(event, test_mode=self.test_mode)
        ops: list[Op] = []
        if converted.ins_problem:
            ops.append(self.store.event("ins-refused", converted.record.key, None,
                                        converted.ins_problem, message_id))
        record = converted.record
        if event.kind is IdentityEventKind.IDENTIFIER_CHANGE:
            applied = await self._change_identifier(record, event, ops, message_id)
        else:
            applied = await self._upsert(record, ops, message_id)
        if event.kind is IdentityEventKind.MERGE:
            await self._merge(record, applied, event, ops, message_id)
        elif event.kind in (IdentityEventKind.LINK, IdentityEventKind.UNLINK):
            await self._link_or_unlink(record, applied, event, ops, message_id)
        await self.store.commit(ops)
        return applied

    def _decide(self, record: LocalRecord, context: Context) -> Decision:
        found = [c.candidate for c in context.candidates
                 if c.identity_id not in context.kept_apart]
        self.scorer.frequencies = _Frequencies(context.counts, context.total)
        return self.scorer.decide(record, found)

    async def _upsert(self, record: LocalRecord, ops: list[Op],
                      message_id: str | None) -> Applied:
        # One read for the whole decision: the record as stored, its candidates,
        # what is kept apart from it and the name counts (IdentityStore.context).
        context = await self.store.context(record)
        decision = self._decide(record, context)
        if context.existing is None:
            return self._create(record, decision, ops, message_id)
        return await self._update(context.existing, record, decision, ops, message_id)

    def _create(self, record: LocalRecord, decision: Decision, ops: list[Op],
                message_id: str | None) -> Applied:
        st = self.store
        if decision.outcome is Outcome.LINK and decision.identity_id is not None:
            identity, outcome = decision.identity_id, "linked"
        else:
            identity, outcome = new_message_id(), decision.outcome.value
            ops.append(st.new_identity(identity))
            ops.append(st.event("identity-created", record.key, identity, "", message_id))
        stored = StoredRecord(record, identity, AUTO, decision.score, decision.rule, True, None)
        ops += st.save(stored, new=True)
        ops += st.names(record, +1)
        ops.append(st.event("record-created", record.key, identity, decision.rule, message_id))
        ops.append(st.event("linked", record.key, identity,
                            f"{decision.outcome.value} score={decision.score}", message_id))
        ops += self._reviews(record, decision, message_id)
        return Applied(outcome, identity, {identity}, decision.rule)

    async def _update(self, existing: StoredRecord, record: LocalRecord, decision: Decision,
                      ops: list[Op], message_id: str | None) -> Applied:
        st = self.store
        identity = existing.identity_id
        changed = {identity}
        target = identity
        if existing.active and existing.provenance == AUTO:
            target = await self._target_after_update(existing, decision)
        if target != identity:
            if target not in decision.review_identities and decision.identity_id != target:
                ops.append(st.new_identity(target))
            ops.append(st.event("unlinked", record.key, identity, "re-decided on update",
                                message_id))
            ops.append(st.event("linked", record.key, target,
                                f"{decision.outcome.value} score={decision.score}", message_id))
            changed.add(target)
        score = decision.score if target != identity else existing.score
        stored = replace(existing, record=record, identity_id=target, score=score)
        ops += st.save(stored, new=False, old_blocks=stored_blocks(existing))
        ops += st.names(existing.record, -1) + st.names(record, +1)
        ops.append(st.event("record-updated", record.key, target, "", message_id))
        ops += await self._new_reviews(record, decision, message_id)
        return Applied("updated", target, changed, decision.rule)

    async def _target_after_update(self, existing: StoredRecord, decision: Decision) -> str:
        """Where an automatically linked record belongs once its traits changed."""
        if decision.outcome is Outcome.LINK and decision.identity_id is not None:
            return decision.identity_id
        others = [m for m in await self.store.members(existing.identity_id)
                  if m.active and m.record.key != existing.record.key]
        # Alone in its identity: it stays. With others it no longer matches: it leaves.
        return existing.identity_id if not others else new_message_id()

    def _reviews(self, record: LocalRecord, decision: Decision,
                 message_id: str | None) -> list[Op]:
        if decision.outcome not in (Outcome.REVIEW, Outcome.COLLISION, Outcome.LINK):
            return []
        kind = "collision" if decision.outcome is Outcome.COLLISION else "review"
        ops: list[Op] = []
        for pair in _best_pairs(decision.pairs, decision.review_identities, kind):
            ops.append(self.store.open_review(new_message_id(), kind, record.key,
                                              pair.candidate, pair.score, explain(pair)))
            ops.append(self.store.event("collision" if kind == "collision" else
                                        "review-opened", record.key, pair.identity_id,
                                        f"with {record_key(pair.candidate)}", message_id))
        return ops

    async def _new_reviews(self, record: LocalRecord, decision: Decision,
                           message_id: str | None) -> list[Op]:
        """Reviews for pairs not already waiting."""
        waiting = {(row.record_key, row.other_key)
                   for row in await self.store.open_reviews_of(record.key)}
        mine = record_key(record.key)
        ops = self._reviews(record, decision, message_id)
        keep: list[Op] = []
        for i in range(0, len(ops), 2):
            params = ops[i].params
            pair = (params["record_key"], params["other_key"])
            if pair not in waiting and (pair[1], mine) not in waiting:
                keep += ops[i:i + 2]
        return keep

    # -- merges, identifier changes, links ---------------------------------------

    async def _merge(self, survivor: LocalRecord, applied: Applied, event: IdentityEvent,
                     ops: list[Op], message_id: str | None) -> None:
        ipp = same_authority(event.prior, survivor.authority)
        if ipp is None or ipp == survivor.ipp or applied.identity_id is None:
            ops.append(self.store.event("merge-ignored", survivor.key, applied.identity_id,
                                        "MRG-1 names no other IPP of the same authority",
                                        message_id))
            return
        target = applied.identity_id
        absorbed = await self.store.get((survivor.authority, ipp))
        if absorbed is None:
            tomb = make_record(survivor.authority, ipp, Traits())
            stored = StoredRecord(tomb, target, SOURCE, None, "A40", False,
                                  record_key(survivor.key))
            ops += self.store.save(stored, new=True)
        else:
            await self._absorb(absorbed, survivor, target, applied, ops, message_id)
        ops.append(self.store.event("merged", (survivor.authority, ipp), target,
                                    f"into {record_key(survivor.key)}", message_id))

    async def _absorb(self, absorbed: StoredRecord, survivor: LocalRecord, target: str,
                      applied: Applied, ops: list[Op], message_id: str | None) -> None:
        """The absorbed record goes inactive; its identity's records follow the survivor."""
        old_identity = absorbed.identity_id
        ops += self.store.save(replace(absorbed, identity_id=target, provenance=SOURCE,
                                       rule="A40", active=False,
                                       merged_into=record_key(survivor.key)),
                               new=False, old_blocks=stored_blocks(absorbed))
        if absorbed.active:
            ops += self.store.names(absorbed.record, -1)
        if old_identity == target:
            return
        applied.changed.add(old_identity)
        for member in await self.store.members(old_identity):
            if member.record.key in (absorbed.record.key, survivor.key):
                continue
            ops += self.store.save(replace(member, identity_id=target), new=False,
                                   old_blocks=stored_blocks(member))
            ops.append(self.store.event("linked", member.record.key, target,
                                        "follows an A40 merge", message_id))

    async def _change_identifier(self, record: LocalRecord, event: IdentityEvent,
                                 ops: list[Op], message_id: str | None) -> Applied:
        ipp = same_authority(event.prior, record.authority)
        prior = await self.store.get((record.authority, ipp)) if ipp else None
        current = await self.store.get(record.key)
        if prior is None or ipp == record.ipp or current is not None:
            # Same IPP (an INS change or removal) or nothing to carry over: an update.
            return await self._upsert(record, ops, message_id)
        st = self.store
        carried = replace(prior, record=record, active=True, merged_into=None)
        ops += st.save(carried, new=True)
        ops += st.names(record, +1)
        ops += st.save(replace(prior, active=False, merged_into=record_key(record.key)),
                       new=False, old_blocks=stored_blocks(prior))
        if prior.active:
            ops += st.names(prior.record, -1)
        ops.append(st.event("identifier-changed", record.key, prior.identity_id,
                            f"from {record_key(prior.record.key)}", message_id))
        return Applied("identifier-changed", prior.identity_id, {prior.identity_id})

    async def _link_or_unlink(self, record: LocalRecord, applied: Applied,
                              event: IdentityEvent, ops: list[Op],
                              message_id: str | None) -> None:
        found = first_local(event.other)
        other = await self.store.get(found) if found else None
        if other is None or applied.identity_id is None:
            ops.append(self.store.event(f"{event.kind.value}-ignored", record.key,
                                        applied.identity_id, "second patient unknown",
                                        message_id))
            return
        if event.kind is IdentityEventKind.LINK:
            target, rule = applied.identity_id, "A24"
        else:
            target, rule = self._split_target(other, applied), "A37"
            ops.append(self.store.open_review(new_message_id(), "source", other.record.key,
                                              record.key, None, {"rule": rule}))
            ops.append(self.store.close_review(ops[-1].params["id"], "separated",
                                               "source", "A37 unlink"))
        if target != other.identity_id:
            if target not in applied.changed and event.kind is IdentityEventKind.UNLINK:
                ops.append(self.store.new_identity(target))
            applied.changed |= {target, other.identity_id}
        ops += self.store.save(replace(other, identity_id=target, provenance=SOURCE, rule=rule),
                               new=False, old_blocks=stored_blocks(other))
        ops.append(self.store.event("linked" if rule == "A24" else "unlinked",
                                    other.record.key, target, rule, message_id))

    @staticmethod
    def _split_target(other: StoredRecord, applied: Applied) -> str:
        return new_message_id() if other.identity_id == applied.identity_id \
            else other.identity_id

    # -- review queue ---------------------------------------------------------------

    async def decide_review(self, review_id: str, choice: str, by: str,
                            reason: str) -> Applied:
        """A person's decision: ``link`` the pair or keep it ``apart``. Never undone
        by the matcher: the link is ``manual``, a separation excludes the pair."""
        row = await self.store.review(review_id)
        if row is None:
            raise KeyError(review_id)
        if row.status != "open":
            raise ValueError(f"review {review_id} is already {row.status}")
        if choice not in ("link", "apart"):
            raise ValueError(f"decision is {choice!r}, expected 'link' or 'apart'")
        incoming = await self.store.get(split_key(row.record_key))
        other = await self.store.get(split_key(row.other_key))
        if incoming is None or other is None:
            raise KeyError(row.record_key if incoming is None else row.other_key)
        ops: list[Op] = [self.store.close_review(
            review_id, "linked" if choice == "link" else "separated", by, reason)]
        applied = Applied(choice, incoming.identity_id, {incoming.identity_id})
        if choice == "link":
            target = other.identity_id
        elif incoming.identity_id == other.identity_id:
            target = new_message_id()
            ops.append(self.store.new_identity(target))
        else:
            target = incoming.identity_id
        if target != incoming.identity_id or choice == "link":
            ops += self.store.save(replace(incoming, identity_id=target, provenance=MANUAL,
                                           rule=f"review by {by}"[:64]),
                                   new=False, old_blocks=stored_blocks(incoming))
            applied.changed.add(target)
            applied.identity_id = target
        ops.append(self.store.event("review-decided", incoming.record.key, target,
                                    json.dumps({"review": review_id, "choice": choice,
                                                "by": by, "reason": reason}), None))
        await self.store.commit(ops)
        return applied


def _best_pairs(pairs: Sequence[PairResult], identities: Sequence[str],
                kind: str) -> list[PairResult]:
    """The best-scoring pair of each identity to review (collisions: every colliding pair)."""
    if kind == "collision":
        return [p for p in pairs if p.collision]
    best: dict[str, PairResult] = {}
    for pair in pairs:
        if pair.identity_id in identities and (
                pair.identity_id not in best or pair.score > best[pair.identity_id].score):
            best[pair.identity_id] = pair
    return list(best.values())
