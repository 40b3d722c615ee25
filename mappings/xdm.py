"""IHE XDM packages (ITI TF-1 16, ITI TF-3 4.2.3 and 4.2.5): build and read ``IHE_XDM.zip``.

The layout is the one IHE XDM dictates and the ANS MSSanté guides take up
("Guide d'intégration des MSSanté clients", attachment ``IHE_XDM.zip``)::

    README.TXT                       who made the package (ITI TF-1 16.1.1)
    INDEX.HTM                        a human entry point listing the documents
    IHE_XDM/SUBSET01/METADATA.XML    ebRIM SubmitObjectsRequest (ITI TF-3 4.2.5)
    IHE_XDM/SUBSET01/DOC0001.XML     the documents, named by the URI slot

``METADATA.XML`` carries one ``RegistryPackage`` (the SubmissionSet, with
submissionTime, sourceId, uniqueId, patientId and intendedRecipient), one
``ExtrinsicObject`` per document (DocumentEntry: uniqueId, patientId, type,
class, format, confidentiality, creationTime, authors, hash, size, URI...)
and one ``HasMember`` association per document (ITI TF-3 4.2.3).

:func:`read_xdm` is the receiving side: it refuses unsafe archives (paths
outside the archive, too many or too large members), parses the metadata
with the hardened parser (:func:`mappings.xml.parse_xml`) and checks each
document's SHA-1 ``hash`` and ``size`` against its bytes. Every refusal is a
:class:`hub.errors.MappingError` naming the member. Pure: bytes in, models out.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape as html_escape
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from lxml import etree

from hub.errors import MappingError
from mappings.cda.model import Author, Code, DocumentEntry
from mappings.xml import parse_xml

__all__ = [
    "MAX_MEMBERS",
    "MAX_PACKAGE_BYTES",
    "XdmDocument",
    "XdmEntry",
    "XdmPackage",
    "XdmSubmission",
    "build_xdm",
    "metadata_xml",
    "read_xdm",
]

LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
NS = {"lcm": LCM, "rim": RIM}
SUBSET = "IHE_XDM/SUBSET01"
METADATA = f"{SUBSET}/METADATA.XML"
MAX_PACKAGE_BYTES = 64 * 1024 * 1024
"""Largest uncompressed package :func:`read_xdm` accepts (all members together)."""
MAX_MEMBERS = 1000

# ITI TF-3 Table 4.2.5-1 / 4.2.3: object types, classification schemes, identification schemes.
STABLE_DOCUMENT = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c1-b2b3b9a9a12e"
DE_CLASS = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
DE_CONFIDENTIALITY = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
DE_FORMAT = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
DE_FACILITY = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
DE_PRACTICE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
DE_TYPE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
SS_CONTENT_TYPE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
REPOSITORY_SLOT = "urn:grades:hub:repositoryReference"
"""Extra metadata (ITI TF-3 4.2.3.1.6: a slot name under ``urn:``, not ``urn:ihe:``)."""


@dataclass(frozen=True, slots=True)
class XdmDocument:
    """One document to package: its bytes and its DocumentEntry metadata."""

    content: bytes
    entry: DocumentEntry
    repository_reference: str | None = None
    """Where the hub's repository keeps it (a URL): the extra slot :data:`REPOSITORY_SLOT`."""


@dataclass(frozen=True, slots=True)
class XdmSubmission:
    """The SubmissionSet attributes (ITI TF-3 4.2.3.3)."""

    unique_id: str
    source_id: str
    submission_time: str
    patient_id: str | None
    intended_recipients: tuple[str, ...] = ()
    """XON|XCN|XTN values; an MSSanté mailbox is ``|^^Internet^<address>`` (ITI TF-3 4.2.3.3.8)."""
    content_type: Code | None = None
    author_institution: str | None = None
    title: str | None = None
    sender: str = "regional hub"


@dataclass(frozen=True, slots=True)
class XdmEntry:
    """One document read from a package, checked against its metadata."""

    path: str
    content: bytes
    unique_id: str
    hash: str
    size: int
    mime_type: str
    patient_id: str | None
    type_code: Code | None
    class_code: Code | None
    format_code: Code | None
    creation_time: str | None
    title: str | None


@dataclass(frozen=True, slots=True)
class XdmPackage:
    """A package read by :func:`read_xdm`."""

    submission_unique_id: str
    source_id: str
    patient_id: str | None
    intended_recipients: tuple[str, ...]
    documents: tuple[XdmEntry, ...] = field(default=())


# -- building -------------------------------------------------------------------------


def _attr(value: str) -> str:
    return quoteattr(value)


def _slot(name: str, *values: str | None) -> str:
    kept = [v for v in values if v]
    if not kept:
        return ""
    inner = "".join(f"<rim:Value>{xml_escape(v)}</rim:Value>" for v in kept)
    return f"<rim:Slot name={_attr(name)}><rim:ValueList>{inner}</rim:ValueList></rim:Slot>"


def _name(text: str | None) -> str:
    if not text:
        return ""
    return f"<rim:Name><rim:LocalizedString value={_attr(text)}/></rim:Name>"


def _classification(scheme: str, obj: str, ident: str, code: Code | None) -> str:
    if code is None:
        return ""
    return (f"<rim:Classification id={_attr(ident)} classificationScheme={_attr(scheme)} "
            f"classifiedObject={_attr(obj)} nodeRepresentation={_attr(code.code)}>"
            f"{_slot('codingScheme', code.system or '')}{_name(code.display or code.code)}"
            "</rim:Classification>")


def _external_id(scheme: str, obj: str, ident: str, value: str | None, label: str) -> str:
    if not value:
        return ""
    return (f"<rim:ExternalIdentifier id={_attr(ident)} registryObject={_attr(obj)} "
            f"identificationScheme={_attr(scheme)} value={_attr(value)}>"
            f"{_name(label)}</rim:ExternalIdentifier>")


def _xcn(author: Author) -> str | None:
    person = author.person
    if person is None:
        return None
    given = person.given[0] if person.given else ""
    authority = f"&{person.id_root}&ISO" if person.id_root else ""
    return f"{person.id_extension or ''}^{person.family or ''}^{given}^^^^^^{authority}"


def _xon(author: Author) -> str | None:
    org = author.institution
    if org is None or not org.name:
        return None
    if org.id_root and org.id_extension:
        return f"{org.name}^^^^^&{org.id_root}&ISO^^^^{org.id_extension}"
    return org.name


def _author(scheme: str, obj: str, ident: str, author: Author) -> str:
    slots = (_slot("authorPerson", _xcn(author)) + _slot("authorInstitution", _xon(author))
             + _slot("authorRole", author.role.code if author.role else None)
             + _slot("authorSpecialty", _specialty(author.specialty)))
    return (f"<rim:Classification id={_attr(ident)} classificationScheme={_attr(scheme)} "
            f'classifiedObject={_attr(obj)} nodeRepresentation="">{slots}</rim:Classification>')


def _specialty(code: Code | None) -> str | None:
    return f"{code.code}^{code.display or ''}^{code.system or ''}" if code else None


def _extrinsic(number: int, doc: XdmDocument, patient_id: str | None) -> str:
    e, obj = doc.entry, f"Document{number:02d}"
    parts = [
        _slot("creationTime", e.creation_time), _slot("hash", e.hash),
        _slot("languageCode", e.language_code), _slot("serviceStartTime", e.service_start_time),
        _slot("serviceStopTime", e.service_stop_time), _slot("size", str(e.size)),
        _slot("sourcePatientId", e.source_patient_id), _slot("URI", _doc_name(number)),
        _slot(REPOSITORY_SLOT, doc.repository_reference), _name(e.title),
    ]
    parts += [_author(DE_AUTHOR, obj, f"{obj}-author{i}", a) for i, a in enumerate(e.authors, 1)]
    parts += [
        _classification(DE_CLASS, obj, f"{obj}-class", e.class_code),
        *(_classification(DE_CONFIDENTIALITY, obj, f"{obj}-conf{i}", c)
          for i, c in enumerate(e.confidentiality_codes, 1)),
        _classification(DE_FORMAT, obj, f"{obj}-format", e.format_code),
        _classification(DE_FACILITY, obj, f"{obj}-facility", e.healthcare_facility_type_code),
        _classification(DE_PRACTICE, obj, f"{obj}-practice", e.practice_setting_code),
        _classification(DE_TYPE, obj, f"{obj}-type", e.type_code),
        _external_id(DE_PATIENT_ID, obj, f"{obj}-patient", e.patient_id or patient_id,
                     "XDSDocumentEntry.patientId"),
        _external_id(DE_UNIQUE_ID, obj, f"{obj}-uid", e.unique_id,
                     "XDSDocumentEntry.uniqueId"),
    ]
    return (f"<rim:ExtrinsicObject id={_attr(obj)} mimeType={_attr(e.mime_type)} "
            f"objectType={_attr(STABLE_DOCUMENT)}>{''.join(parts)}</rim:ExtrinsicObject>")


def _submission_set(sub: XdmSubmission) -> str:
    obj = "SubmissionSet01"
    parts = [
        _slot("submissionTime", sub.submission_time),
        _slot("intendedRecipient", *sub.intended_recipients), _name(sub.title),
        (f"<rim:Classification id=\"{obj}-author\" classificationScheme={_attr(SS_AUTHOR)} "
         f"classifiedObject=\"{obj}\" nodeRepresentation=\"\">"
         f"{_slot('authorInstitution', sub.author_institution)}</rim:Classification>"
         if sub.author_institution else ""),
        _classification(SS_CONTENT_TYPE, obj, f"{obj}-content", sub.content_type),
        _external_id(SS_UNIQUE_ID, obj, f"{obj}-uid", sub.unique_id,
                     "XDSSubmissionSet.uniqueId"),
        _external_id(SS_SOURCE_ID, obj, f"{obj}-source", sub.source_id,
                     "XDSSubmissionSet.sourceId"),
        _external_id(SS_PATIENT_ID, obj, f"{obj}-patient", sub.patient_id,
                     "XDSSubmissionSet.patientId"),
    ]
    node = (f"<rim:Classification id=\"{obj}-node\" classifiedObject=\"{obj}\" "
            f"classificationNode={_attr(SUBMISSION_SET_NODE)}/>")
    return f"<rim:RegistryPackage id=\"{obj}\">{''.join(parts)}</rim:RegistryPackage>{node}"


def _association(number: int) -> str:
    return (f"<rim:Association id=\"Association{number:02d}\" associationType={_attr(HAS_MEMBER)} "
            f"sourceObject=\"SubmissionSet01\" targetObject=\"Document{number:02d}\">"
            f"{_slot('SubmissionSetStatus', 'Original')}</rim:Association>")


def _doc_name(number: int) -> str:
    return f"DOC{number:04d}.XML"


def metadata_xml(documents: Sequence[XdmDocument], submission: XdmSubmission) -> bytes:
    """The ``METADATA.XML`` of ``documents``: an ebRIM 3.0 SubmitObjectsRequest (ITI TF-3 4.2.5)."""
    objects = [_submission_set(submission)]
    for number, doc in enumerate(documents, 1):
        objects.append(_extrinsic(number, doc, submission.patient_id))
        objects.append(_association(number))
    text = (f'<?xml version="1.0" encoding="UTF-8"?>\n<lcm:SubmitObjectsRequest '
            f'xmlns:lcm="{LCM}" xmlns:rim="{RIM}"><rim:RegistryObjectList>'
            f"{''.join(objects)}</rim:RegistryObjectList></lcm:SubmitObjectsRequest>\n")
    return text.encode("utf-8")


def _readme(submission: XdmSubmission, count: int) -> bytes:
    lines = [f"IHE XDM package made by {submission.sender}",
             f"Submission set {submission.unique_id}, {count} document(s), "
             f"submitted {submission.submission_time}.",
             "Open INDEX.HTM to list the documents; IHE_XDM/SUBSET01/METADATA.XML describes them.",
             ""]
    return "\r\n".join(lines).encode("utf-8")


def _index(documents: Sequence[XdmDocument]) -> bytes:
    items = "".join(
        f'<li><a href="{SUBSET}/{_doc_name(n)}">{html_escape(d.entry.title or _doc_name(n))}</a>'
        f" ({html_escape(d.entry.unique_id)})</li>" for n, d in enumerate(documents, 1))
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>IHE XDM</title></head>'
            f"<body><h1>Documents</h1><ul>{items}</ul>"
            f'<p><a href="{METADATA}">METADATA.XML</a></p></body></html>').encode()


def build_xdm(documents: Sequence[XdmDocument], submission: XdmSubmission) -> bytes:
    """``IHE_XDM.zip`` holding ``documents`` (see the module docstring); deterministic bytes."""
    if not documents:
        raise MappingError("an XDM package needs at least one document", location="documents")
    members = [("README.TXT", _readme(submission, len(documents))),
               ("INDEX.HTM", _index(documents)),
               (METADATA, metadata_xml(documents, submission))]
    members += [(f"{SUBSET}/{_doc_name(n)}", d.content) for n, d in enumerate(documents, 1)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data, compresslevel=6)
    return buffer.getvalue()


# -- reading --------------------------------------------------------------------------


def _safe_members(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise MappingError(f"{len(infos)} members, more than {MAX_MEMBERS}", location="IHE_XDM.zip")
    total, members = 0, {}
    for info in infos:
        name = info.filename
        normal = posixpath.normpath(name)
        if name.startswith(("/", "\\")) or normal.startswith("..") or "\\" in name:
            raise MappingError(f"member path {name!r} leaves the archive", location=name)
        total += info.file_size
        if total > MAX_PACKAGE_BYTES:
            raise MappingError(f"package larger than {MAX_PACKAGE_BYTES} bytes uncompressed",
                               location=name)
        if not info.is_dir():
            members[normal.upper()] = info
    return members


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The member's bytes, never more than its declared size (a lying header is refused)."""
    with archive.open(info) as handle:
        data = handle.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise MappingError("member size differs from its header", location=info.filename)
    return data


def _values(element: etree._Element, slot: str) -> list[str]:
    path = f"rim:Slot[@name='{slot}']/rim:ValueList/rim:Value"
    return [(v.text or "").strip() for v in element.findall(path, NS)]


def _value(element: etree._Element, slot: str) -> str | None:
    values = _values(element, slot)
    return values[0] if values else None


def _external(element: etree._Element, scheme: str) -> str | None:
    for ext in element.findall("rim:ExternalIdentifier", NS):
        if ext.get("identificationScheme") == scheme:
            return ext.get("value")
    return None


def _code(element: etree._Element, scheme: str) -> Code | None:
    for item in element.findall("rim:Classification", NS):
        if item.get("classificationScheme") == scheme:
            return Code(item.get("nodeRepresentation") or "", _value(item, "codingScheme"),
                        _title(item))
    return None


def _title(element: etree._Element) -> str | None:
    name = element.find("rim:Name/rim:LocalizedString", NS)
    return name.get("value") if name is not None else None


def _entry(extrinsic: etree._Element, members: dict[str, zipfile.ZipInfo],
           archive: zipfile.ZipFile) -> XdmEntry:
    where = f"METADATA.XML ExtrinsicObject {extrinsic.get('id')!r}"
    uri = _value(extrinsic, "URI")
    if not uri:
        raise MappingError("DocumentEntry has no URI slot naming its file", location=where)
    path = posixpath.normpath(posixpath.join(SUBSET, uri))
    info = members.get(path.upper())
    if info is None or path.startswith(".."):
        raise MappingError(f"URI {uri!r} names no file of the package", location=where)
    content = _read_member(archive, info)
    declared_hash, declared_size = _value(extrinsic, "hash"), _value(extrinsic, "size")
    actual_hash = hashlib.sha1(content).hexdigest()
    if declared_hash is None or declared_hash.lower() != actual_hash:
        raise MappingError(f"hash {declared_hash!r} does not match the file's SHA-1 "
                           f"{actual_hash}", location=f"{where} hash")
    if declared_size is None or declared_size != str(len(content)):
        raise MappingError(f"size {declared_size!r} does not match the file's {len(content)} "
                           "bytes", location=f"{where} size")
    unique_id = _external(extrinsic, DE_UNIQUE_ID)
    if not unique_id:
        raise MappingError("DocumentEntry has no uniqueId", location=where)
    return XdmEntry(info.filename, content, unique_id, actual_hash, len(content),
                    extrinsic.get("mimeType") or "application/octet-stream",
                    _external(extrinsic, DE_PATIENT_ID), _code(extrinsic, DE_TYPE),
                    _code(extrinsic, DE_CLASS), _code(extrinsic, DE_FORMAT),
                    _value(extrinsic, "creationTime"), _title(extrinsic))


def _open(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise MappingError(f"not a ZIP archive: {exc}", location="IHE_XDM.zip") from None


def read_xdm(data: bytes) -> XdmPackage:
    """Read and check an ``IHE_XDM.zip`` (layout, metadata, hash and size of every document)."""
    with _open(data) as archive:
        members = _safe_members(archive)
        for required in ("README.TXT", "INDEX.HTM", METADATA):
            if required.upper() not in members:
                raise MappingError(f"{required} is missing (IHE ITI TF-1 16.1)", location=required)
        root = parse_xml(_read_member(archive, members[METADATA.upper()]), what="METADATA.XML")
        if root.tag != f"{{{LCM}}}SubmitObjectsRequest":
            raise MappingError("root is not an ebRIM lcm:SubmitObjectsRequest",
                               location="METADATA.XML")
        objects = root.find("rim:RegistryObjectList", NS)
        if objects is None:
            raise MappingError("no RegistryObjectList", location="METADATA.XML")
        package = objects.find("rim:RegistryPackage", NS)
        extrinsics = objects.findall("rim:ExtrinsicObject", NS)
        if package is None or not extrinsics:
            raise MappingError("a SubmissionSet and at least one DocumentEntry are required",
                               location="METADATA.XML")
        entries = tuple(_entry(e, members, archive) for e in extrinsics)
    return XdmPackage(_external(package, SS_UNIQUE_ID) or "", _external(package, SS_SOURCE_ID)
                      or "", _external(package, SS_PATIENT_ID),
                      tuple(_values(package, "intendedRecipient")), entries)
