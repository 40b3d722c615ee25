"""The SRRI's admin API: the review queue and the history of an identity.

``GET /api/identity/reviews`` lists pairs waiting for a person, each with
both records' traits and the score field by field; ``POST
/api/identity/reviews/{id}/decision`` links them or keeps them apart, with
who and why. Manual decisions are never undone by the matcher.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from hub.api.errors import ApiError, not_found
from identity.component import IdentityComponent
from identity.store import StoredRecord, split_key

router = APIRouter(prefix="/api/identity", tags=["identity"])


class ReviewDecision(BaseModel):
    """A person's decision on a review."""

    decision: Literal["link", "apart"] = Field(description="link the pair or keep it apart")
    by: str = Field(min_length=1, max_length=128, description="who decides")
    reason: str = Field(min_length=1, max_length=2000, description="why")


def _component(request: Request) -> IdentityComponent:
    for component in request.app.state.hub.components:
        if isinstance(component, IdentityComponent):
            return component
    raise ApiError(503, "the identity component is not running")


def record_view(stored: StoredRecord | None) -> dict[str, Any] | None:
    """One side of a pair, for display."""
    if stored is None:
        return None
    rec = stored.record
    t = rec.traits
    return {
        "authority": rec.authority, "ipp": rec.ipp, "identity_id": stored.identity_id,
        "provenance": stored.provenance, "status": rec.status.value,
        "qualified": rec.qualified, "ins": rec.ins.value if rec.ins else None,
        "attributes": sorted(a.value for a in rec.attributes), "active": stored.active,
        "birth_name": t.birth_name, "given_names": list(t.given_names),
        "used_name": t.used_name, "birth_date": t.birth_date, "sex": t.sex.value,
        "birthplace": t.birthplace,
    }


async def _review_view(component: IdentityComponent, row: Any) -> dict[str, Any]:
    store = component.store
    return {
        "id": row.id, "kind": row.kind, "status": row.status, "score": row.score,
        "opened_at": row.opened_at, "decided_at": row.decided_at,
        "decided_by": row.decided_by, "reason": row.reason,
        "explanation": json.loads(row.explanation),
        "incoming": record_view(await store.get(split_key(row.record_key))),
        "stored": record_view(await store.get(split_key(row.other_key))),
    }


@router.get("/reviews", summary="Pairs waiting for a decision")
async def list_reviews(
    request: Request,
    status: Annotated[str, Query(pattern="^(open|linked|separated|all)$")] = "open",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Reviews (open by default), oldest first, with both sides and the explanation."""
    component = _component(request)
    rows = await component.store.reviews(None if status == "all" else status, limit)
    return [await _review_view(component, row) for row in rows]


@router.get("/reviews/{review_id}", summary="One review")
async def show_review(request: Request, review_id: str) -> dict[str, Any]:
    """A review with both sides and the score field by field."""
    component = _component(request)
    row = await component.store.review(review_id)
    if row is None:
        raise not_found("review", review_id)
    return await _review_view(component, row)


@router.post("/reviews/{review_id}/decision", summary="Decide a review")
async def decide_review(request: Request, review_id: str,
                        body: ReviewDecision) -> dict[str, Any]:
    """Link the pair (a manual link) or keep it apart; announces what changed."""
    component = _component(request)
    try:
        applied = await component.service.decide_review(review_id, body.decision, body.by,
                                                        body.reason)
    except KeyError as exc:
        raise not_found("review", review_id) from exc
    except ValueError as exc:
        raise ApiError(409, str(exc), {"review": review_id}) from exc
    await component.announce(applied)
    return {"review": review_id, "decision": body.decision,
            "identity_id": applied.identity_id, "changed": sorted(applied.changed)}


@router.get("/identities/{identity_id}", summary="A regional identity and its history")
async def show_identity(request: Request, identity_id: str) -> dict[str, Any]:
    """Its records (merged-away ones included) and its log."""
    component = _component(request)
    members = await component.store.members(identity_id)
    if not members:
        raise not_found("identity", identity_id)
    log_rows = await component.store.log(identity_id=identity_id)
    return {
        "identity_id": identity_id,
        "records": [record_view(m) for m in members],
        "log": [{"at": e.at, "kind": e.kind, "record": e.record_key, "detail": e.detail,
                 "message_id": e.message_id} for e in log_rows],
    }
