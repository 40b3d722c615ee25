"""The hub's exception tree.

Every error the hub raises derives from :class:`HubError`. Connectors turn
these into their protocol's answer in one place each (MLLP: AE/AR + ERR,
HTTP: status + body, AMQP: ack/park).

::

    HubError
    ├── ConfigError            a setting or route file is invalid (names the key)
    ├── StorageError           journal, blob store or broker could not commit
    ├── MessageError           the input itself is wrong (permanent)
    │   ├── FramingError       MLLP frame is malformed or too large
    │   ├── ParseError         HL7 ER7 cannot be parsed (carries segment/field, table 0357 code)
    │   ├── DuplicateConflict  same sender + control id, different content
    │   └── MappingError       content cannot be mapped (names the element or field)
    └── DeliveryError          a destination refused or failed
        ├── TransientDeliveryError  retry with backoff (timeout, AE, connection refused)
        └── PermanentDeliveryError  park with the reason (AR, rejected by configuration)
"""

from __future__ import annotations


class HubError(Exception):
    """Root of every error raised by the hub."""


class ConfigError(HubError):
    """A configuration value or route file is invalid.

    ``key`` is the dotted path of the offending setting (``mllp.port``,
    ``routes/adt.yaml: routes[2].when``).
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


class StorageError(HubError):
    """The journal, blob store or broker could not durably store something.

    The sender must get a negative answer (AR, 503, 0xA700) and retry.
    """


class MessageError(HubError):
    """The input is wrong and retrying it unchanged cannot succeed."""


class FramingError(MessageError):
    """An MLLP frame is malformed (bytes outside a frame, missing end) or too large."""


class ParseError(MessageError):
    """An HL7 v2 message cannot be parsed or fails a required rule.

    ``location`` is the ERR-2 location (``MSH^1^9`` style: segment id,
    sequence, field), ``code`` an HL7 table 0357 code (``100`` segment
    sequence error, ``101`` required field missing, ``102`` data type error,
    ``103`` table value not found, ``200`` unsupported message type, ``201``
    unsupported event code, ``203`` unsupported version id, ``207``
    application internal error).
    """

    def __init__(
        self,
        message: str,
        *,
        segment: str | None = None,
        field: int | None = None,
        code: str = "207",
        reject: bool = False,
        sequence: int = 1,
    ) -> None:
        super().__init__(message)
        self.segment = segment
        self.sequence = sequence  # ERR-2.2: which occurrence of the segment
        self.field = field
        self.code = code
        # reject=True: the message cannot even be identified (MSH unusable):
        # answered AR instead of AE (HL7 v2.5 2.9.2).
        self.reject = reject


class DuplicateConflict(MessageError):
    """A message reuses a sender's control id (MSH-10) with different content."""


class MappingError(MessageError):
    """A message or document cannot be mapped to the canonical model.

    ``location`` names where: an HL7 field path (``PID-3[2].4``, ``OBX[1]-5``),
    an XPath-like CDA element path (``/ClinicalDocument/recordTarget``) or a
    DICOM keyword (``StudyInstanceUID``).
    """

    def __init__(self, message: str, *, location: str | None = None) -> None:
        super().__init__(f"{location}: {message}" if location else message)
        self.location = location


class DeliveryError(HubError):
    """A delivery to a destination failed."""


class TransientDeliveryError(DeliveryError):
    """The destination may accept the same delivery later: retry with backoff."""


class PermanentDeliveryError(DeliveryError):
    """The destination will never accept this delivery as is: park it with the reason."""
