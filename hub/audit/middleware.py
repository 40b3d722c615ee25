"""HTTP audit: one record per request whose access rule touches patient data or
administers the hub, written before the response leaves.

The ASGI middleware holds ``http.response.start`` until the record is
stored; if the audit trail cannot store it, the client gets 503 instead and
none of the data is sent (an access to patient data is refused rather than
left unrecorded). Who and which rule come from ``request.state`` (set by
:func:`hub.api.auth.authorise`), which patients and entities from the
handler's :func:`hub.audit.context.note`.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.audit.context import STATE_KEY, AuditNote
from hub.audit.errors import AuditUnavailable
from hub.audit.record import AuditRecord, outcome_of
from hub.audit.store import AuditTrail

log = logging.getLogger(__name__)


def http_record(scope: Scope, status: int) -> AuditRecord | None:
    """The record of one request, None when its rule asks for none."""
    state: dict[str, Any] = scope.get("state") or {}
    rule = state.get("access_rule")
    if rule is None or getattr(rule, "audit", None) is None:
        return None
    principal = state.get("principal")
    note: AuditNote = state.get(STATE_KEY) or AuditNote()
    client = scope.get("client") or ("", 0)
    return AuditRecord(
        recorded_at=time.time(), interface="http", action=rule.action,
        outcome=outcome_of(status),
        principal_id=principal.id if principal else "anonymous",
        principal_name=principal.name if principal else "",
        principal_kind=principal.kind if principal else "",
        roles=tuple(sorted(principal.roles)) if principal else (),
        address=str(client[0]), method=scope.get("method", ""), path=scope.get("path", ""),
        query=(scope.get("query_string") or b"").decode("latin-1"), status=status,
        patients=tuple(note.patients), entities=tuple(note.entities),
        purpose=note.purpose, break_glass=note.break_glass)


class AuditMiddleware:
    """Records audited requests; 503 when the record cannot be stored."""

    def __init__(self, app: ASGIApp, trail: Any) -> None:
        self.app = app
        self.trail = trail  # AuditTrail, or a callable returning one (built at start)

    def _trail(self) -> AuditTrail | None:
        trail = self.trail() if callable(self.trail) else self.trail
        return trail if isinstance(trail, AuditTrail) else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = False

        async def audited_send(message: Message) -> None:
            nonlocal refused
            if refused:
                return
            if message["type"] == "http.response.start":
                refused = not await self._store(scope, int(message["status"]))
                if refused:
                    await _unavailable(scope, send)
                    return
            await send(message)

        await self.app(scope, receive, audited_send)

    async def _store(self, scope: Scope, status: int) -> bool:
        record = http_record(scope, status)
        if record is None:
            return True
        trail = self._trail()
        if trail is None:
            return False
        try:
            await trail.record(record)
        except AuditUnavailable as exc:
            log.error("%s %s refused: %s", scope.get("method"), scope.get("path"), exc)
            return False
        return True


async def _unavailable(scope: Scope, send: Send) -> None:
    fhir = str(scope.get("path", "")).startswith("/fhir")
    if fhir:
        body: dict[str, Any] = {"resourceType": "OperationOutcome", "issue": [{
            "severity": "error", "code": "transient",
            "diagnostics": "the audit trail is unavailable: access refused, retry later"}]}
        kind = b"application/fhir+json"
    else:
        body = {"error": "the audit trail is unavailable: access refused, retry later"}
        kind = b"application/json"
    payload = json.dumps(body).encode("utf-8")
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", kind), (b"retry-after", b"1"),
                            (b"content-length", str(len(payload)).encode("ascii"))]})
    await send({"type": "http.response.body", "body": payload})
