"""Principals: the authenticated caller of an interface, as every part of the hub sees it.

A principal is built once per request (HTTP) or per connection (MLLP, DICOM)
from the credential presented: the bootstrap admin token, an operator's
login session, a client's API key or certificate, or an OpenID Connect
bearer token. Everything the hub decides about access reads it, never a
header or a field the caller could set to claim more.

Errors::

    HubError
     ├── AuthenticationError   no credential, or one that does not verify (HTTP 401)
     └── AccessDenied          a verified principal without the right (HTTP 403)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from hub.errors import HubError


class Role(StrEnum):
    """What a principal may do (README "Access control" lists each role's rights)."""

    ADMIN = "admin"                          # everything, users and clients included
    OPERATOR = "operator"                    # journal, replay, parked, routes, queues
    AUDITOR = "auditor"                      # the audit trail, no payloads
    IDENTITY_REVIEWER = "identity-reviewer"  # the SRRI review queue and decisions
    DOCUMENT_READER = "document-reader"      # FHIR reads (patients, documents, studies)
    DOCUMENT_SOURCE = "document-source"      # submits documents for its establishments


class ActsAs(StrEnum):
    """Whom a document reader acts as (CI-SIS visibility: MASQUE_PS, INVISIBLE_PATIENT...)."""

    PROFESSIONAL = "professional"
    PATIENT = "patient"
    LEGAL_REPRESENTATIVE = "legal-representative"


PrincipalKind = Literal["admin", "user", "client", "oidc"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    ``id`` is stable and unique (``admin``, ``user:<login>``, ``client:<name>``,
    ``oidc:<issuer>#<subject>``); ``name`` is for display. ``scopes`` are
    SMART-on-FHIR scopes granted by the credential (``patient/DocumentReference.read``,
    ``system/*.read``); an empty set means the roles alone decide.
    ``establishments`` are the assigning authorities (OIDs, FINESS) the
    principal submits for; ``patients`` the identifiers (``system|value``)
    a patient or legal representative may read; ``source`` the inbound
    source a client's credential is bound to.
    """

    id: str
    kind: PrincipalKind
    name: str
    roles: frozenset[Role]
    scopes: frozenset[str] = frozenset()
    establishments: tuple[str, ...] = ()
    acts_as: ActsAs | None = None
    patients: tuple[str, ...] = ()
    source: str | None = None
    address: str = ""

    @property
    def is_person(self) -> bool:
        """A person (an operator's session, an OpenID Connect user), not a system."""
        return self.kind in ("user", "oidc")

    def has(self, role: Role) -> bool:
        """True when the principal holds ``role`` (admin holds every role)."""
        return role in self.roles or Role.ADMIN in self.roles


class AuthenticationError(HubError):
    """No credential, or one that does not verify; ``challenge`` is the RFC 6750 error code."""

    def __init__(self, message: str, challenge: str | None = "invalid_token") -> None:
        super().__init__(message)
        self.challenge = challenge


class AccessDenied(HubError):
    """A verified principal lacks the right; ``needed`` names it."""

    def __init__(self, message: str, needed: str = "") -> None:
        super().__init__(message)
        self.needed = needed


@dataclass(frozen=True, slots=True)
class PeerCertificate:
    """The verified client certificate of a TLS connection (mutual TLS)."""

    fingerprint_sha256: str  # hex, lowercase, of the DER certificate
    subject: str             # RFC 4514 string, for display and logs
