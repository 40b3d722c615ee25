"""CDA R2 documents (CI-SIS models) -> XDS DocumentEntry metadata and FHIR R4B.

Entry point: :func:`map_cda`. The modules follow the document: ``header``
(XDS attributes), ``patient`` (recordTarget), ``lab`` (CR-BIO results),
``fhir`` (MHD DocumentReference), ``tables`` (the ANS correspondence tables).
"""

from mappings.cda.document import LAB_FORMAT_CODE, CdaMapping, map_cda, parse_cda
from mappings.cda.header import class_code_for, format_code_for
from mappings.cda.model import Author, Code, DocumentEntry, Organization, Person, RelatedDocument

__all__ = [
    "LAB_FORMAT_CODE",
    "Author",
    "CdaMapping",
    "Code",
    "DocumentEntry",
    "Organization",
    "Person",
    "RelatedDocument",
    "class_code_for",
    "format_code_for",
    "map_cda",
    "parse_cda",
]
