"""CDA R2 header -> XDS DocumentEntry metadata.

Where each attribute comes from follows the CI-SIS mapping of the CDA header
to XDS (volet "Partage de documents de santé", table "Fiche"):

==============================  ===================================================================
uniqueId                        ``ClinicalDocument/id`` (``root^extension``)
typeCode                        ``ClinicalDocument/code``
classCode                       deduced from typeCode (ASS_X04)
formatCode                      templateId (ASS_A11) or ``nonXMLBody/text/@mediaType`` (ASS_A12)
creationTime                    ``ClinicalDocument/effectiveTime``
confidentialityCode             ``ClinicalDocument/confidentialityCode``
languageCode, title             ``languageCode/@code``, ``title``
serviceStart/StopTime           ``documentationOf/serviceEvent/effectiveTime/low|high``
healthcareFacilityTypeCode      ``componentOf/encompassingEncounter/location/
                                healthCareFacility/code``
practiceSettingCode             ``documentationOf/serviceEvent/performer/assignedEntity/
                                representedOrganization/standardIndustryClassCode``
author*                         ``author/assignedAuthor``
legalAuthenticator              ``legalAuthenticator/assignedEntity``
==============================  ===================================================================
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from mappings.cda import tables
from mappings.cda.model import Author, DocumentEntry, Organization, Person, RelatedDocument
from mappings.cda.nodes import (
    Code,
    Element,
    InstanceId,
    error_at,
    find,
    findall,
    read_code,
    read_ii,
    read_ts,
    template_ids,
    text_of,
)

_DIGITS = re.compile(r"^[0-9]+$")  # str.isdigit() also accepts "¹" and "٣"

__all__ = [
    "class_code_for",
    "format_code_for",
    "map_author",
    "map_document_entry",
    "map_legal_authenticator",
    "map_patient_ids",
    "read_body",
]


def _required_ii(root: Element, name: str) -> InstanceId:
    element = find(root, f"v3:{name}")
    ii = read_ii(element)
    if ii is None:
        where = element if element is not None else root
        detail = "is missing" if element is None else "has no @root"
        raise error_at(where, f"{name} {detail}: the document has no uniqueId",
                       None if element is not None else name)
    return ii


def _required_code(root: Element, name: str, what: str) -> Code:
    element = find(root, f"v3:{name}")
    code = read_code(element)
    if code is None:
        raise error_at(root if element is None else element,
                       f"{name} is missing or has no @code: the document has no {what}",
                       name if element is None else None)
    return code


def _cx(ii: InstanceId, type_code: str) -> str:
    return f"{ii.extension}^^^&{ii.root}&ISO^{type_code}"


def map_patient_ids(root: Element) -> tuple[str | None, str]:
    """XDS patientId (the INS) and sourcePatientId (the IPP, else the INS).

    CI-SIS: patientId is the INS matricule as CX with type ``NH``; the local
    identifiers of ``recordTarget/patientRole/id`` are the source ids.
    """
    role = find(root, "v3:recordTarget/v3:patientRole")
    if role is None:
        raise error_at(root, "recordTarget/patientRole is missing: the document has no patient",
                       "recordTarget/patientRole")
    ids = [ii for e in findall(role, "v3:id") if (ii := read_ii(e)) and ii.extension]
    if not ids:
        raise error_at(role, "patientRole has no id with @root and @extension: "
                       "the patient cannot be identified", "id")
    ins = next((ii for ii in ids if ii.root in tables.INS_TYPES), None)
    local = next((ii for ii in ids if ii.root not in tables.INS_TYPES), None)
    patient_id = _cx(ins, "NH") if ins else None
    source = _cx(local, "PI") if local else _cx(ids[0], "NH")
    return patient_id, source


def read_body(root: Element) -> tuple[str, str | None, bytes | None]:
    """``("structured", None, None)`` or ``("nonXML", mediaType, decoded content)``.

    CDA R2 4.3.2: a nonXMLBody's text is an ED, ``text/plain`` unless told,
    Base64 when ``@representation="B64"``. The content is decoded here so a
    corrupt payload is refused with the element named.
    """
    if find(root, "v3:component/v3:structuredBody") is not None:
        return "structured", None, None
    text = find(root, "v3:component/v3:nonXMLBody/v3:text")
    if text is None:
        raise error_at(root, "component has neither structuredBody nor nonXMLBody/text",
                       "component")
    media_type = (text.get("mediaType") or "text/plain").strip()
    payload = (text.text or "").strip()
    if text.get("representation") != "B64":
        return "nonXML", media_type, payload.encode("utf-8")
    try:
        content = base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError):
        raise error_at(text, "nonXMLBody/text is declared B64 but is not valid Base64") from None
    if media_type == "application/pdf" and not content.startswith(b"%PDF-"):
        raise error_at(text, "nonXMLBody/text is declared application/pdf but does not "
                       "start with %PDF-")
    return "nonXML", media_type, content


def format_code_for(root: Element, body: str, media_type: str | None) -> Code:
    """formatCode per ASS_A11 (structured body: templateId) or ASS_A12 (nonXMLBody: mediaType).

    A CI-SIS model (templateId under ``1.2.250.1.213.``) is preferred to the
    IHE profile it derives from (APSR: ``urn:ihe:palm:apsr:2016`` rather
    than ``urn:ihe:pat:apsr:all:2010``); otherwise document order decides.
    """
    loaded = tables.ans_tables()
    if body == "nonXML":
        code = loaded.media_type_formats.get(media_type or "")
        if code is None:
            text = find(root, "v3:component/v3:nonXMLBody/v3:text")
            raise error_at(root if text is None else text,
                           f"@mediaType {media_type!r} has no XDS formatCode (ASS_A12 knows "
                           f"{', '.join(sorted(loaded.media_type_formats))})")
        return Code(code, tables.IHE_FORMAT_SYSTEM, tables.FORMAT_DISPLAYS.get(code))
    declared = template_ids(root)
    known = [t for t in declared if t in loaded.model_formats]
    if not known:
        raise error_at(root, _unknown_model(declared), "templateId")
    chosen = next((t for t in known if t.startswith(_CISIS_MODELS)), known[0])
    row = loaded.model_formats[chosen]
    return Code(row.code, row.system, tables.FORMAT_DISPLAYS.get(row.code))


_CISIS_MODELS = "1.2.250.1.213."


def _unknown_model(declared: list[str]) -> str:
    named = ", ".join(declared) if declared else "none"
    return (f"the document's model is not in the CI-SIS catalogue: no templateId ({named}) "
            f"is a CDA model of ASS_A11 ({tables.ans_tables().versions[_A11]}), so the "
            "document has no XDS formatCode")


_A11 = "ASS_A11-CorresModeleCDA-XdsFormatCode-CISIS"


def class_code_for(type_code: Code) -> Code | None:
    """classCode deduced from the typeCode (ASS_X04); ``None`` for a type the table lacks."""
    loaded = tables.ans_tables()
    found = loaded.class_by_type.get(type_code.code)
    if found is None:
        return None
    return Code(found, tables.CLASS_SYSTEM, loaded.class_displays.get(found))


def _type_code(root: Element) -> Code:
    code = _required_code(root, "code", "typeCode")
    if code.display:
        return code
    return Code(code.code, code.system, tables.ans_tables().type_displays.get(code.code))


def _person(entity: Element, person_path: str) -> Person:
    ii = read_ii(find(entity, "v3:id"))
    name = find(entity, f"{person_path}/v3:name")
    family = text_of(find(name, "v3:family")) if name is not None else None
    given = tuple(t for g in findall(name, "v3:given") if (t := text_of(g))) \
        if name is not None else ()
    prefix = text_of(find(name, "v3:prefix")) if name is not None else None
    return Person(ii.root if ii else None, ii.extension if ii else None, family, given, prefix)


def _organization(element: Element | None) -> Organization | None:
    if element is None:
        return None
    ii = read_ii(find(element, "v3:id"))
    return Organization(ii.root if ii else None, ii.extension if ii else None,
                        text_of(find(element, "v3:name")))


def map_author(author: Element) -> Author:
    """authorPerson / Institution / Specialty / Role of one ``author`` (CI-SIS mapping)."""
    assigned = find(author, "v3:assignedAuthor")
    if assigned is None:
        raise error_at(author, "author has no assignedAuthor", "assignedAuthor")
    has_person = find(assigned, "v3:assignedPerson") is not None
    time = read_ts(find(author, "v3:time"))
    return Author(
        person=_person(assigned, "v3:assignedPerson") if has_person else None,
        institution=_organization(find(assigned, "v3:representedOrganization")),
        specialty=read_code(find(assigned, "v3:code")),
        role=read_code(find(author, "v3:functionCode")),
        time=time.xds if time else None,
    )


def map_legal_authenticator(root: Element) -> Person | None:
    """legalAuthenticator from ``legalAuthenticator/assignedEntity``."""
    entity = find(root, "v3:legalAuthenticator/v3:assignedEntity")
    return _person(entity, "v3:assignedPerson") if entity is not None else None


def _service_times(root: Element) -> tuple[str | None, str | None]:
    for event in findall(root, "v3:documentationOf/v3:serviceEvent"):
        time = find(event, "v3:effectiveTime")
        if time is None:
            continue
        low, high = read_ts(find(time, "v3:low")), read_ts(find(time, "v3:high"))
        if low or high:
            return (low.xds if low else None), (high.xds if high else None)
    return None, None


def _practice_setting(root: Element) -> Code | None:
    for path in (
        "v3:documentationOf/v3:serviceEvent/v3:performer/v3:assignedEntity/"
        "v3:representedOrganization/v3:standardIndustryClassCode",
        "v3:author/v3:assignedAuthor/v3:representedOrganization/v3:standardIndustryClassCode",
    ):
        code = read_code(find(root, path))
        if code is not None:
            return code
    return None


def _related_documents(root: Element) -> tuple[RelatedDocument, ...]:
    related: list[RelatedDocument] = []
    for element in findall(root, "v3:relatedDocument"):
        parent_id = find(element, "v3:parentDocument/v3:id")
        ii = read_ii(parent_id)
        if ii is None:
            raise error_at(element, "relatedDocument has no parentDocument/id with @root",
                           "parentDocument/id")
        related.append(RelatedDocument(element.get("typeCode") or "", ii.unique_id))
    return tuple(related)


def _version_number(root: Element) -> int | None:
    element = find(root, "v3:versionNumber")
    if element is None or not element.get("value"):
        return None
    raw = element.get("value") or ""
    if not _DIGITS.match(raw.strip()):
        raise error_at(element, f"@value {raw!r} is not a version number (positive integer)")
    return int(raw)


def _language(root: Element) -> str | None:
    element = find(root, "v3:languageCode")
    return element.get("code") if element is not None else None


def map_document_entry(root: Element, data: bytes) -> DocumentEntry:
    """Every XDS DocumentEntry attribute the CDA document ``root`` (bytes ``data``) carries.

    hash is the SHA-1 of the document bytes in lower-case hex and size their
    count (IHE ITI TF-3 4.2.3.2: hash, size).
    """
    unique_id = _required_ii(root, "id").unique_id
    patient_id, source_patient_id = map_patient_ids(root)
    type_code = _type_code(root)
    created = read_ts(find(root, "v3:effectiveTime"))
    if created is None:
        raise error_at(root, "effectiveTime is missing or has no @value: the document has no "
                       "creationTime", "effectiveTime")
    body, media_type, _content = read_body(root)
    start, stop = _service_times(root)
    related = _related_documents(root)
    set_id = read_ii(find(root, "v3:setId"))
    return DocumentEntry(
        unique_id=unique_id,
        patient_id=patient_id,
        source_patient_id=source_patient_id,
        class_code=class_code_for(type_code),
        type_code=type_code,
        format_code=format_code_for(root, body, media_type),
        confidentiality_codes=tuple(
            c for e in findall(root, "v3:confidentialityCode") if (c := read_code(e))),
        creation_time=created.xds,
        service_start_time=start,
        service_stop_time=stop,
        healthcare_facility_type_code=read_code(find(
            root, "v3:componentOf/v3:encompassingEncounter/v3:location/"
            "v3:healthCareFacility/v3:code")),
        practice_setting_code=_practice_setting(root),
        authors=tuple(map_author(a) for a in findall(root, "v3:author")),
        legal_authenticator=map_legal_authenticator(root),
        language_code=_language(root),
        title=text_of(find(root, "v3:title")),
        hash=hashlib.sha1(data).hexdigest(),
        size=len(data),
        set_id=set_id.unique_id if set_id else None,
        version_number=_version_number(root),
        replaces=next((r.unique_id for r in related if r.type_code == "RPLC"), None),
        related_documents=related,
        body="structured" if body == "structured" else "nonXML",
        body_media_type=media_type,
        template_ids=tuple(template_ids(root)),
    )
