"""Conversions between the journal's values and the API's JSON."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hub.api.errors import ApiError
from hub.broker.base import ParkedMessage
from hub.errors import ParseError
from hub.hl7.er7 import detect_charset

TIME_FIELDS = frozenset({"received_at", "updated_at", "at", "parked_at"})
"""Journal columns holding epoch seconds, shown as ISO-8601 UTC."""


def iso_utc(epoch: float) -> str:
    """``1714552200.123`` -> ``2024-05-01T08:30:00.123Z``."""
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_instant(value: str, name: str) -> float:
    """Epoch seconds from ISO-8601 (UTC when no offset is given) or epoch seconds."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(number):
            return number
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(
            422,
            f"{name} is {value!r}: expected ISO-8601 (2024-05-01T08:30:00Z) or epoch seconds",
            {name: value},
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def with_iso_times(row: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a journal row with its time columns as ISO-8601 strings."""
    return {
        key: iso_utc(value) if key in TIME_FIELDS and isinstance(value, int | float) else value
        for key, value in row.items()
    }


def message_detail(record: Mapping[str, Any]) -> dict[str, Any]:
    """A journal record with events and deliveries, times as ISO-8601."""
    shaped = with_iso_times(record)
    shaped["events"] = [with_iso_times(e) for e in record.get("events", [])]
    shaped["deliveries"] = [with_iso_times(d) for d in record.get("deliveries", [])]
    return shaped


def decode_raw(payload: bytes) -> tuple[str, str]:
    """The message as text and the codec used: MSH-18 when usable, else UTF-8.

    Bytes the codec refuses are replaced (U+FFFD): this is for reading; the
    exact bytes are served by ``/api/messages/{id}/raw``.
    """
    try:
        charset = detect_charset(payload)
    except ParseError:
        charset = "utf-8"
    return payload.decode(charset, "replace"), charset


def parked_item(parked: ParkedMessage, destination: str) -> dict[str, Any]:
    """A parked delivery as listed by ``/api/parked``."""
    headers = parked.headers
    return {
        "key": parked.message_id,
        "message_id": headers.get("message_id", parked.message_id),
        "destination": headers.get("destination", destination),
        "queue": parked.queue,
        "reason": parked.reason,
        "parked_at": iso_utc(parked.parked_at),
        "source": headers.get("source"),
        "control_id": headers.get("control_id"),
    }
