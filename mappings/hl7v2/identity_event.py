"""What an identity feed tells the identity service (SRRI), independent of HL7 and FHIR.

Every PAM France ADT event the hub maps yields one :class:`IdentityEvent`:
who sent it (the assigning authority and the local IPP), the identity traits
as the source holds them, the INS and whether the source qualified it, the
PID-32 codes, and for merges, identifier changes and links the other
identifiers involved. The identity service decides what to do with it; this
module only carries the facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "INS_OIDS",
    "IdentityEvent",
    "IdentityEventKind",
    "IdentityStatus",
    "IdentityTraits",
    "Ins",
    "PatientIdentifier",
    "Zfd",
]

INS_OIDS: dict[str, tuple[str, str]] = {
    "1.2.250.1.213.1.4.8": ("NIR", "INS-NIR"),
    "1.2.250.1.213.1.4.9": ("NIA", "INS-NIA"),
    "1.2.250.1.213.1.4.10": ("NIR-TEST", "INS-NIR-TEST"),
    "1.2.250.1.213.1.4.11": ("NIR-DEMO", "INS-NIR-DEMO"),
}
"""INS assigning authorities (Appendix N.1 FR) -> (kind, FR Core identifier type code)."""


class IdentityEventKind(StrEnum):
    """What the event asks of the identity service (IHE PAM ITI-30 / ITI-31)."""

    CREATE = "create"
    UPDATE = "update"
    MERGE = "merge"
    IDENTIFIER_CHANGE = "identifier-change"
    LINK = "link"
    UNLINK = "unlink"


class IdentityStatus(StrEnum):
    """The four RNIV confidence statuses (RNIV 1, EXI SI 07), exclusive of each other."""

    PROVISIONAL = "PROV"
    RECOVERED = "RECUP"
    VALIDATED = "VALI"
    QUALIFIED = "QUAL"


@dataclass(frozen=True, slots=True)
class PatientIdentifier:
    """One CX of PID-3 or MRG-1: value, assigning authority (CX-4) and type (CX-5).

    ``authority_id_type`` is CX-4.3 (``ISO`` for an OID, ``M``/``N`` for a
    FINESS, Appendix N.1 FR).

    ``value`` is ``""`` only in :attr:`IdentityEvent.cleared`, where the
    source sent ``""`` to delete the identifier (HL7 v2.5 2.5.3).
    """

    value: str
    authority_oid: str | None
    authority_name: str
    authority_id: str
    type_code: str
    authority_id_type: str = ""

    @property
    def authority(self) -> str:
        """The authority key: its OID, else its universal id (a FINESS), else its name."""
        return self.authority_oid or self.authority_id or self.authority_name

    @property
    def system(self) -> str | None:
        """``urn:oid:<authority OID>`` when the authority is an OID."""
        return f"urn:oid:{self.authority_oid}" if self.authority_oid else None


@dataclass(frozen=True, slots=True)
class Ins:
    """An INS (matricule INS) as sent in PID-3 with CX-5 ``INS``.

    ``kind`` is ``NIR``, ``NIA``, ``NIR-TEST`` or ``NIR-DEMO`` after the OID
    (Appendix N.1 FR). ``qualified`` is True only when PID-32 holds ``VALI``
    (PAM France 6.6.1 and 6.6.15) and no attribute forbids it.
    """

    value: str
    oid: str
    kind: str
    qualified: bool


@dataclass(frozen=True, slots=True)
class IdentityTraits:
    """The identity traits of the RNIV as the source sent them.

    ``birth_name`` is XPN-1 of the type L name, ``birth_given_names`` the
    XPN-3 list split on blanks, ``first_given_name`` its XPN-2; ``used_name``
    and ``used_given_name`` come from the type D name. ``used_name_cleared``
    is True when the type D name was sent as ``""`` (PAM France 6.6.2).
    """

    birth_name: str | None = None
    first_given_name: str | None = None
    birth_given_names: tuple[str, ...] = ()
    used_name: str | None = None
    used_given_name: str | None = None
    used_name_cleared: bool = False
    birth_date: str | None = None
    sex: str | None = None
    birthplace_insee: str | None = None


@dataclass(frozen=True, slots=True)
class Zfd:
    """ZFD, complément démographique (PAM France 6.18), raw codes kept as sent."""

    lunar_date: str | None = None
    gestation_weeks: str | None = None
    sms_consent: bool | None = None
    birth_date_corrected: bool | None = None
    identity_method: str | None = None
    insi_query_date: str | None = None
    evidence_type: str | None = None
    evidence_expiry: str | None = None


@dataclass(frozen=True, slots=True)
class IdentityEvent:
    """One identity fact from an ADT message, for the identity service.

    ``authority`` and ``ipp`` name the local record. ``identifiers`` is every
    PID-3 identifier (the INS included whatever its status: the identity
    service checks it); ``prior`` holds the MRG-1 identifiers of an A40 merge
    or an A47 change; ``other`` the second patient's identifiers of an A24
    link or an A37 unlink. ``reliability_codes`` is PID-32 as sent,
    ``attributes`` the identity attributes among them (DOUT, FICT, HOMA...).
    """

    kind: IdentityEventKind
    trigger: str
    control_id: str
    recorded_at: str | None
    authority: str
    ipp: str
    identifiers: tuple[PatientIdentifier, ...]
    traits: IdentityTraits
    ins: Ins | None
    status: IdentityStatus
    reliability_codes: tuple[str, ...]
    attributes: tuple[str, ...] = ()
    cleared: tuple[PatientIdentifier, ...] = ()
    prior: tuple[PatientIdentifier, ...] = ()
    other: tuple[PatientIdentifier, ...] = ()
    zfd: Zfd | None = None
    sending_facility: str = field(default="")

    @property
    def qualified(self) -> bool:
        """True when the source sent a qualified INS (RNIV status QUAL)."""
        return self.ins is not None and self.ins.qualified
