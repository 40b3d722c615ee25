"""A routed CI-SIS document message (ORU/MDM with its CDA), as its destinations read it.

The repository and MSSanté destinations both take such a message from a
delivery job; one that does not parse, or is not a CI-SIS document message,
can never be delivered, so it parks with the reason.
"""

from __future__ import annotations

from hub.errors import MappingError, ParseError, PermanentDeliveryError
from hub.hl7.er7 import Message, parse
from mappings.hl7v2 import DocumentMessage, map_document_message


def read_document_job(payload: bytes) -> tuple[Message, DocumentMessage]:
    """The parsed message and its mapping; PermanentDeliveryError when it is neither."""
    try:
        message = parse(payload)
    except ParseError as exc:
        raise PermanentDeliveryError(f"not an HL7 v2 message: {exc}") from exc
    try:
        return message, map_document_message(message)
    except MappingError as exc:
        raise PermanentDeliveryError(f"not a CI-SIS document message: {exc}") from exc
