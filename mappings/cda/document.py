"""One CDA R2 document -> XDS metadata and FHIR resources: :func:`map_cda`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient

from hub.errors import MappingError
from mappings.cda.fhir import map_document_reference
from mappings.cda.header import map_document_entry
from mappings.cda.lab import map_lab_report
from mappings.cda.model import DocumentEntry
from mappings.cda.nodes import V3, Element, local_name
from mappings.cda.patient import map_record_target
from mappings.xml import DEFAULT_MAX_BYTES, parse_xml

__all__ = ["LAB_FORMAT_CODE", "CdaMapping", "map_cda", "parse_cda"]

LAB_FORMAT_CODE = "urn:ihe:lab:xd-lab:2008"


@dataclass(frozen=True, slots=True)
class CdaMapping:
    """Everything the hub derives from one CDA document.

    ``report`` and ``observations`` are set for structured laboratory
    reports (formatCode ``urn:ihe:lab:xd-lab:2008``) only.
    """

    entry: DocumentEntry
    document_reference: DocumentReference
    patient: Patient
    report: DiagnosticReport | None = None
    observations: list[Observation] = field(default_factory=list)


XSL = "http://www.w3.org/1999/XSL/Transform"


def parse_cda(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Element:
    """Parse ``data`` with the hardened parser and return its CDA ClinicalDocument.

    The root is the ClinicalDocument, or an ``xsl:stylesheet`` (``xsl:transform``)
    wrapping one: the CI-SIS "auto-presentable" documents of TestContenuCDA
    carry their stylesheet and the document in one file, the ClinicalDocument
    under ``data:Contenu``. Such a document is filed whole; its metadata come
    from the ClinicalDocument inside.
    """
    root = parse_xml(data, max_bytes=max_bytes, what="CDA document")
    if root.tag == f"{{{V3}}}ClinicalDocument":
        return root
    if root.tag in (f"{{{XSL}}}stylesheet", f"{{{XSL}}}transform"):
        inner = next(root.iter(f"{{{V3}}}ClinicalDocument"), None)
        if inner is not None:
            return inner
        raise MappingError(
            f"root element is an XSL {local_name(root)!r} that holds no 'ClinicalDocument' "
            f"in {V3!r}: not an auto-presentable CDA document",
            location=f"/{local_name(root)}",
        )
    namespace = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else "no namespace"
    raise MappingError(
        f"root element is {local_name(root)!r} in {namespace!r}, expected "
        f"'ClinicalDocument' in {V3!r} (or an auto-presentable xsl:stylesheet holding one)",
        location=f"/{local_name(root)}",
    )


def _resource_key(unique_id: str) -> str:
    # FHIR ids allow 64 characters from [A-Za-z0-9-.]: a digest of the
    # uniqueId is stable across replays and never too long.
    return "cda-" + hashlib.sha1(unique_id.encode("utf-8")).hexdigest()[:16]


def map_cda(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES,
            results: bool = True) -> CdaMapping:
    """Map the CDA R2 document ``data`` to XDS metadata and FHIR R4B resources.

    ``results=False`` maps the header only (entry, DocumentReference,
    Patient), without a lab report's DiagnosticReport and Observations: what
    the document repository needs, at about a third of the cost for CR-BIO.

    Raises :class:`hub.errors.MappingError` naming the element when the
    document is not well-formed, hostile, or lacks what the metadata needs.
    """
    root = parse_cda(data, max_bytes=max_bytes)
    entry = map_document_entry(root, data)
    key = _resource_key(entry.unique_id)
    patient = map_record_target(root, f"{key}-patient")
    patient_ref = f"Patient/{patient.id}"
    document_reference = map_document_reference(entry, patient_ref, root)
    if not results or entry.body != "structured" or entry.format_code.code != LAB_FORMAT_CODE:
        return CdaMapping(entry, document_reference, patient)
    report, observations = map_lab_report(root, entry, key, patient_ref)
    return CdaMapping(entry, document_reference, patient, report, observations)
