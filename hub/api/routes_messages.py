"""The journal through HTTP: search, show, raw bytes, replay, resend."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from hub.api.deps import BlobsDep, HubDep, JournalDep
from hub.api.errors import ApiError, not_found, unknown_destination
from hub.api.models import MessageDetail, MessagePage, Replayed, Resent
from hub.api.shapes import decode_raw, message_detail, parse_instant, with_iso_times
from hub.audit.context import note
from hub.journal import STATUSES, Journal, SearchFilter

HL7_MEDIA_TYPE = "application/hl7-v2"

router = APIRouter(prefix="/api/messages", tags=["messages"])


def _status(value: str | None) -> str | None:
    if value is None or value in STATUSES:
        return value
    raise ApiError(
        422,
        f"status {value!r} is not one of: {', '.join(STATUSES)}",
        {"status": value, "valid": list(STATUSES)},
    )


def _instant(value: str | None, name: str) -> float | None:
    return None if value is None else parse_instant(value, name)


async def _record(journal: Journal, message_id: str) -> dict[str, Any]:
    record = await journal.get(message_id)
    if record is None:
        raise not_found("message", message_id)
    return record


@router.get("", response_model=MessagePage, summary="Search the journal, newest first")
async def list_messages(
    request: Request,
    journal: JournalDep,
    since: Annotated[str | None, Query(description="ISO-8601 or epoch seconds, inclusive")] = None,
    until: Annotated[str | None, Query(description="ISO-8601 or epoch seconds, exclusive")] = None,
    source: Annotated[str | None, Query(description="inbound source name")] = None,
    status: Annotated[str | None, Query(description=f"one of {', '.join(STATUSES)}")] = None,
    control_id: Annotated[str | None, Query(description="MSH-10 as sent")] = None,
    patient: Annotated[str | None, Query(description="IPP@authority, or IPP alone")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[str | None, Query(description="the `next` of the previous page")] = None,
) -> dict[str, Any]:
    """Messages matching every given criterion; page with ``before=<next>``."""
    criteria = SearchFilter(
        since=_instant(since, "since"), until=_instant(until, "until"), source=source,
        status=_status(status), control_id=control_id, patient=patient, limit=limit,
        before_id=before,
    )
    rows = await journal.search(criteria)
    note(request, patients=["|".join(reversed(r["patient_key"].rsplit("@", 1)))
                            for r in rows if r.get("patient_key")],
         entities=[f"message/{r['id']}" for r in rows])
    following = rows[-1]["id"] if len(rows) == limit else None
    return {"items": [with_iso_times(r) for r in rows], "next": following}


@router.get("/{message_id}", response_model=MessageDetail,
            summary="One message with its events and deliveries")
async def show_message(
    request: Request,
    message_id: str,
    journal: JournalDep,
    blobs: BlobsDep,
    raw: Annotated[bool, Query(description="add the message text and its charset")] = False,
) -> dict[str, Any]:
    """The journal record; with ``raw=true`` also the decoded message text."""
    detail = message_detail(await _record(journal, message_id))
    note(request, patients=["|".join(reversed(str(detail.get("patient_key")).rsplit("@", 1)))]
         if detail.get("patient_key") else [], entities=[f"message/{message_id}"])
    if raw:
        detail["raw"], detail["charset"] = decode_raw(await blobs.get(detail["sha256"]))
    return detail


@router.get("/{message_id}/raw", response_class=Response,
            summary="The exact bytes received",
            responses={200: {"content": {HL7_MEDIA_TYPE: {}}}})
async def raw_message(request: Request, message_id: str, journal: JournalDep,
                      blobs: BlobsDep) -> Response:
    """The message exactly as received (the charset is the one MSH-18 declares)."""
    record = await _record(journal, message_id)
    note(request, patients=["|".join(reversed(str(record.get("patient_key")).rsplit("@", 1)))]
         if record.get("patient_key") else [], entities=[f"message/{message_id}"])
    payload = await blobs.get(record["sha256"])
    return Response(payload, media_type=HL7_MEDIA_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{message_id}.hl7"'})


@router.post("/{message_id}/replay", status_code=202, response_model=Replayed,
             summary="Run a stored message through the pipeline again, as a new message")
async def replay_message(message_id: str, hub: HubDep) -> Replayed:
    """The new message records ``replay_of``; deliveries follow today's routes."""
    try:
        new_id = await hub.replay(message_id)
    except KeyError:
        raise not_found("message", message_id) from None
    return Replayed(replayed=message_id, new_id=new_id)


@router.post("/{message_id}/resend", status_code=202, response_model=Resent,
             summary="Deliver a message to one destination again")
async def resend_message(
    message_id: str,
    hub: HubDep,
    destination: Annotated[str, Query(description="a configured destination name")],
) -> Resent:
    """Queue one more delivery, even when the destination already has it."""
    if destination not in hub.workers:
        raise unknown_destination(destination, hub.workers)
    try:
        await hub.resend(message_id, destination)
    except KeyError:
        raise not_found("message", message_id) from None
    return Resent(resent=message_id, destination=destination)

