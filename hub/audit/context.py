"""What a request handler tells the audit trail about the patient data it touched.

The HTTP audit middleware records each request an access rule marks as
touching patient data; who and when it knows from the request, but which
patients and which documents or messages only the handler knows. A handler
calls :func:`note` before it returns its response; the middleware reads
:func:`noted` once the handler is done and writes the record before the
response leaves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

STATE_KEY = "audit_note"


@dataclass
class AuditNote:
    """Patients (``system|value`` identifiers), entities (``DocumentReference/12``,
    ``message/<id>``), the purpose of use and a break-glass reason."""

    patients: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    purpose: str | None = None
    break_glass: str | None = None


def noted(request: Any) -> AuditNote:
    """The note of ``request`` (a Starlette Request), created empty on first use."""
    note_ = getattr(request.state, STATE_KEY, None)
    if note_ is None:
        note_ = AuditNote()
        setattr(request.state, STATE_KEY, note_)
    return note_


def note(request: Any, *, patients: Iterable[str] = (), entities: Iterable[str] = (),
         purpose: str | None = None, break_glass: str | None = None) -> None:
    """Add what ``request`` touched; repeated values are kept once."""
    current = noted(request)
    current.patients.extend(p for p in patients if p and p not in current.patients)
    current.entities.extend(e for e in entities if e and e not in current.entities)
    if purpose:
        current.purpose = purpose
    if break_glass:
        current.break_glass = break_glass
