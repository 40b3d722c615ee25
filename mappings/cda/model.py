"""XDS DocumentEntry metadata read from a CDA R2 document.

Attribute names follow IHE ITI TF-3 4.2.3.2 (DocumentEntry metadata); their
source in the CDA header follows the CI-SIS "Partage de documents de santé"
mapping (volet PDSm / DMP, "Mapping XDS, fiche"). Codes keep the OID of their
code system (``system``), as XDS codingScheme does; times are XDS DTM in UTC.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from mappings.cda.nodes import Code

__all__ = ["Author", "Code", "DocumentEntry", "Organization", "Person", "RelatedDocument"]


@dataclass(frozen=True, slots=True)
class Organization:
    """authorInstitution: a structure with its identifier (FINESS, SIRET...) and name."""

    id_root: str | None
    id_extension: str | None
    name: str | None


@dataclass(frozen=True, slots=True)
class Person:
    """A health professional: identifier (RPPS, ADELI, local) and name."""

    id_root: str | None
    id_extension: str | None
    family: str | None
    given: tuple[str, ...] = ()
    prefix: str | None = None


@dataclass(frozen=True, slots=True)
class Author:
    """authorPerson, authorInstitution, authorSpecialty, authorRole of one CDA author."""

    person: Person | None
    institution: Organization | None
    specialty: Code | None
    role: Code | None
    time: str | None


@dataclass(frozen=True, slots=True)
class RelatedDocument:
    """A ``relatedDocument``: its type (RPLC, APND, XFRM) and the parent's uniqueId."""

    type_code: str
    unique_id: str


@dataclass(frozen=True, slots=True)
class DocumentEntry:
    """XDS DocumentEntry attributes of one CDA document (IHE ITI TF-3 4.2.3.2).

    ``patient_id`` is the INS as an XDS CX (``NIR^^^&1.2.250.1.213.1.4.8&ISO^NH``)
    or ``None`` when the document carries no INS; ``source_patient_id`` the
    first local identifier (IPP), the INS when there is none. ``replaces`` is
    the uniqueId named by ``relatedDocument[@typeCode='RPLC']``.
    """

    unique_id: str
    patient_id: str | None
    source_patient_id: str
    class_code: Code | None
    type_code: Code
    format_code: Code
    confidentiality_codes: tuple[Code, ...]
    creation_time: str
    service_start_time: str | None
    service_stop_time: str | None
    healthcare_facility_type_code: Code | None
    practice_setting_code: Code | None
    authors: tuple[Author, ...]
    legal_authenticator: Person | None
    language_code: str | None
    title: str | None
    hash: str
    size: int
    set_id: str | None
    version_number: int | None
    replaces: str | None
    related_documents: tuple[RelatedDocument, ...] = ()
    mime_type: str = "text/xml"
    body: Literal["structured", "nonXML"] = "structured"
    body_media_type: str | None = None
    template_ids: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists), for golden files and logs."""
        return asdict(self)
