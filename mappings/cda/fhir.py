"""XDS DocumentEntry -> FHIR R4B DocumentReference (IHE MHD), and FHIR helpers.

The attribute correspondence is IHE ITI TF-2 / MHD 2.3.2.1 "DocumentEntry
to DocumentReference": uniqueId -> masterIdentifier, typeCode -> type,
classCode -> category, patientId -> subject, author -> author (contained),
legalAuthenticator -> authenticator, RPLC -> relatesTo ``replaces``,
confidentialityCode -> securityLabel, mimeType / languageCode / size / hash /
title / creationTime -> content.attachment, formatCode -> content.format,
serviceStart/StopTime -> context.period, healthcareFacilityTypeCode ->
context.facilityType, practiceSettingCode -> context.practiceSetting.

The attachment carries no ``url``: the repository that stores the bytes
sets it.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, TypeVar

from fhir.resources.R4B.documentreference import DocumentReference
from pydantic import BaseModel, ValidationError

from hub.errors import MappingError
from mappings.cda import tables
from mappings.cda.model import Author, DocumentEntry, Organization, Person
from mappings.cda.nodes import Code, Element, error_at

__all__ = [
    "codeable", "coding", "map_document_reference", "master_identifier", "validated",
    "xds_to_fhir",
]

Model = TypeVar("Model", bound=BaseModel)


def validated(model: type[Model], resource: dict[str, Any], element: Element) -> Model:
    """Build a FHIR model from ``resource``; a validation failure names ``element``."""
    try:
        return model.model_validate(resource)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        value = repr(first.get("input"))[:80]
        raise error_at(element, f"mapped {resource.get('resourceType')} is not valid FHIR "
                       f"R4B at {where or 'root'}: {first.get('msg')} (value {value})") from None


def coding(code: Code) -> dict[str, Any]:
    """FHIR Coding of a CDA code; known OIDs become their canonical URI.

    A ``system`` that is already a URI (it has a colon, an OID never does)
    is kept as is.
    """
    result: dict[str, Any] = {"code": code.code}
    if code.system and ":" in code.system:
        result["system"] = code.system
    elif code.system:
        result["system"] = tables.FHIR_SYSTEMS.get(code.system, f"urn:oid:{code.system}")
    if code.display:
        result["display"] = code.display
    return result


def codeable(code: Code) -> dict[str, Any]:
    """FHIR CodeableConcept holding one Coding."""
    return {"coding": [coding(code)]}


def xds_to_fhir(dtm: str) -> str:
    """XDS DTM (UTC, any precision) -> FHIR date or dateTime."""
    date = "-".join(p for p in (dtm[0:4], dtm[4:6], dtm[6:8]) if p)
    if len(dtm) <= 8:
        return date
    clock = ":".join((dtm[8:10], dtm[10:12] or "00", dtm[12:14] or "00"))
    return f"{date}T{clock}Z"


def _identifier(root: str | None, extension: str | None) -> dict[str, Any] | None:
    if root is None:
        return None
    if extension is None:
        return {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{root}"}
    return {"system": f"urn:oid:{root}", "value": extension}


def master_identifier(unique_id: str) -> dict[str, Any]:
    """FHIR Identifier of an XDS uniqueId (``root^extension``, OID or UUID root)."""
    root, _, extension = unique_id.partition("^")
    if extension:
        return {"system": f"urn:oid:{root}", "value": extension}
    if "-" in root:
        return {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{root.lower()}"}
    return {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{root}"}


def _practitioner(person: Person, resource_id: str) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Practitioner", "id": resource_id}
    if (identifier := _identifier(person.id_root, person.id_extension)) is not None:
        resource["identifier"] = [identifier]
    name: dict[str, Any] = {}
    if person.family:
        name["family"] = person.family
    if person.given:
        name["given"] = list(person.given)
    if person.prefix:
        name["prefix"] = [person.prefix]
    if name:
        resource["name"] = [name]
    return resource


def _organization(org: Organization, resource_id: str) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Organization", "id": resource_id}
    if (identifier := _identifier(org.id_root, org.id_extension)) is not None:
        resource["identifier"] = [identifier]
    if org.name:
        resource["name"] = org.name
    return resource


def _author_resources(author: Author, number: int) -> list[dict[str, Any]]:
    role: dict[str, Any] = {"resourceType": "PractitionerRole", "id": f"author{number}"}
    contained = [role]
    if author.person is not None:
        contained.append(_practitioner(author.person, f"author{number}-person"))
        role["practitioner"] = {"reference": f"#author{number}-person"}
    if author.institution is not None:
        contained.append(_organization(author.institution, f"author{number}-org"))
        role["organization"] = {"reference": f"#author{number}-org"}
    if author.specialty is not None:
        role["specialty"] = [codeable(author.specialty)]
    if author.role is not None:
        role["code"] = [codeable(author.role)]
    return contained


def _hash_base64(hex_digest: str) -> str:
    try:
        return base64.b64encode(binascii.unhexlify(hex_digest)).decode("ascii")
    except binascii.Error as error:
        raise MappingError(f"hash {hex_digest!r} is not hexadecimal", location="hash") from error


def _content(entry: DocumentEntry) -> dict[str, Any]:
    attachment: dict[str, Any] = {"contentType": entry.mime_type, "size": entry.size,
                                  "hash": _hash_base64(entry.hash),
                                  "creation": xds_to_fhir(entry.creation_time)}
    if entry.language_code:
        attachment["language"] = entry.language_code
    if entry.title:
        attachment["title"] = entry.title
    return {"attachment": attachment, "format": coding(entry.format_code)}


def _context(entry: DocumentEntry, patient_ref: str) -> dict[str, Any]:
    context: dict[str, Any] = {"sourcePatientInfo": {"reference": patient_ref}}
    period = {k: xds_to_fhir(v) for k, v in (("start", entry.service_start_time),
                                              ("end", entry.service_stop_time)) if v}
    if period:
        context["period"] = period
    if entry.healthcare_facility_type_code is not None:
        context["facilityType"] = codeable(entry.healthcare_facility_type_code)
    if entry.practice_setting_code is not None:
        context["practiceSetting"] = codeable(entry.practice_setting_code)
    return context


def _participants(entry: DocumentEntry, resource: dict[str, Any]) -> None:
    contained: list[dict[str, Any]] = []
    for number, author in enumerate(entry.authors, start=1):
        contained.extend(_author_resources(author, number))
    if contained:
        resource["author"] = [{"reference": f"#author{n}"}
                              for n in range(1, len(entry.authors) + 1)]
    if entry.legal_authenticator is not None:
        contained.append(_practitioner(entry.legal_authenticator, "authenticator"))
        resource["authenticator"] = {"reference": "#authenticator"}
    if contained:
        resource["contained"] = contained


def map_document_reference(
    entry: DocumentEntry, patient_ref: str, element: Element
) -> DocumentReference:
    """The MHD DocumentReference of ``entry``; ``patient_ref`` references its Patient."""
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "masterIdentifier": master_identifier(entry.unique_id),
        "status": "current",
        "docStatus": "final",
        "type": codeable(entry.type_code),
        "subject": {"reference": patient_ref},
        "content": [_content(entry)],
        "context": _context(entry, patient_ref),
    }
    if entry.class_code is not None:
        resource["category"] = [codeable(entry.class_code)]
    if entry.confidentiality_codes:
        resource["securityLabel"] = [codeable(c) for c in entry.confidentiality_codes]
    if entry.replaces is not None:
        resource["relatesTo"] = [{"code": "replaces",
                                  "target": {"identifier": master_identifier(entry.replaces)}}]
    _participants(entry, resource)
    return validated(DocumentReference, resource, element)
