"""Code tables for CDA R2 to XDS and FHIR (data only).

The ANS correspondence tables and value sets are data files under
``mappings/cda/data``, one per published table, each carrying its name, OID,
canonical URL and version; they are read once, at first use:

* ``ASS_A11-CorresModeleCDA-XdsFormatCode-CISIS`` (OID 1.2.250.1.213.1.1.4.331):
  formatCode of a structured body from the document's templateId (the CDA
  model). Two published versions are kept, 20260629120000 (ans.fr.terminologies
  1.12.0) and 5.0.0 (1.6.0): each lists models the other does not (TROD, FT-SU,
  FR-SU only in 5.0.0; CVA, PPS-PAERPA, DLU-DOM, MSO only in 20260629120000),
  and a document written under either version is filed;
* ``ASS_A12-CorresMediaTypeCDANonStructure-XdsFormatCode-CISIS``: formatCode of
  a nonXMLBody from ``nonXMLBody/text/@mediaType``;
* ``ASS_X04-CorrespondanceType-Classe-CISIS`` (OID 1.2.250.1.213.1.1.4.249):
  classCode (``TRE_A03-ClasseDocument``) from the typeCode (``ClinicalDocument/code``);
* ``JDV_J06-XdsClassCode-CISIS``, ``JDV_J07-XdsTypeCode-CISIS``,
  ``JDV_J10-XdsFormatCode-CISIS``: the value sets of classCode (with the
  displays), typeCode (with the displays) and formatCode.

formatCode systems: ``TRE_A11-IheFormatCode`` (1.3.6.1.4.1.19376.1.2.3) and
``TRE_A06-FormatCodeComplementaire`` (1.2.250.1.213.1.1.4.2.282), as the
ConceptMap group of each row says.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final

# -- the ANS tables -------------------------------------------------------------

IHE_FORMAT_SYSTEM: Final = "1.3.6.1.4.1.19376.1.2.3"
FR_FORMAT_SYSTEM: Final = "1.2.250.1.213.1.1.4.2.282"
CLASS_SYSTEM: Final = "1.2.250.1.213.1.1.4.1"
LOINC: Final = "2.16.840.1.113883.6.1"
TYPE_DOC_COMPLEMENTAIRE: Final = "1.2.250.1.213.1.1.4.12"
"""``TRE_A05-TypeDocComplementaire``: the typeCodes of J07 that are not LOINC."""

XDS_SD_TEMPLATE: Final = "1.3.6.1.4.1.19376.1.2.20"
"""IHE XDS-SD: the model of every CDA level 1 document (TRE_R221)."""


@dataclass(frozen=True, slots=True)
class FormatRow:
    """One row of ASS_A11: a CDA model's formatCode, its code system, the table version."""

    code: str
    system: str
    version: str


@dataclass(frozen=True, slots=True)
class Tables:
    """The ANS tables as loaded from ``mappings/cda/data`` (see the module docstring)."""

    model_formats: dict[str, FormatRow]
    media_type_formats: dict[str, str]
    class_by_type: dict[str, str]
    class_displays: dict[str, str]
    type_displays: dict[str, str]
    format_codes: frozenset[str]
    versions: dict[str, str]


def _read(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        resources.files("mappings.cda").joinpath("data", f"{name}.json").read_text("utf-8"))
    return data


def _model_formats(table: dict[str, Any]) -> dict[str, FormatRow]:
    # Versions are listed newest first: a templateId takes the formatCode of
    # the newest version that lists it.
    rows: dict[str, FormatRow] = {}
    for version in table["versions"]:
        for group in version["group"]:
            if group["source"].endswith("TRE-R221-ModeleDocumentCDANonStructure"):
                continue  # level 1: the formatCode depends on the mediaType (ASS_A12)
            for template, code in group["element"]:
                rows.setdefault(template, FormatRow(code, group["target_oid"], version["version"]))
    return rows


def _concepts(value_set: dict[str, Any]) -> dict[str, str]:
    return {code: display for include in value_set["include"]
            for code, display in include["concept"]}


@cache
def ans_tables() -> Tables:
    """The ANS tables, read once from the package data."""
    a11 = _read("ASS_A11-CorresModeleCDA-XdsFormatCode-CISIS")
    a12 = _read("ASS_A12-CorresMediaTypeCDANonStructure-XdsFormatCode-CISIS")
    x04 = _read("ASS_X04-CorrespondanceType-Classe-CISIS")
    j06 = _read("JDV_J06-XdsClassCode-CISIS")
    j07 = _read("JDV_J07-XdsTypeCode-CISIS")
    j10 = _read("JDV_J10-XdsFormatCode-CISIS")
    class_by_type = {code: target for group in x04["group"]
                     if group["target_oid"] == CLASS_SYSTEM for code, target in group["element"]}
    versions = {a11["table"]: ", ".join(v["version"] for v in a11["versions"])}
    versions |= {t["table"]: t["version"] for t in (a12, x04, j06, j07, j10)}
    return Tables(
        model_formats=_model_formats(a11),
        media_type_formats=dict(a12["element"]),
        class_by_type=class_by_type,
        class_displays=_concepts(j06),
        type_displays=_concepts(j07),
        format_codes=frozenset(c for i in j10["include"] for c in i["concept"]),
        versions=versions,
    )


FORMAT_DISPLAYS: Final[dict[str, str]] = {
    "urn:ihe:lab:xd-lab:2008": "Compte rendu structuré d'examens de biologie médicale",
    "urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013": "Compte-rendu d'imagerie médicale",
    "urn:asip:ci-sis:ldl-ses:2017": "Lettre de Liaison à la sortie de l'établissement de santé",
    "urn:ihe:iti:xds-sd:pdf:2008": "Document à corps non structuré en Pdf/A-1",
    "urn:ihe:iti:xds-sd:text:2008": "Document à corps non structuré en texte brut",
}
"""Displays of a few formatCodes (JDV_J10 publishes codes without displays)."""

# -- identifiers --------------------------------------------------------------

INS_TYPES: Final[dict[str, str]] = {
    "1.2.250.1.213.1.4.8": "INS-NIR",
    "1.2.250.1.213.1.4.9": "INS-NIA",
    "1.2.250.1.213.1.4.10": "INS-NIR-TEST",
    "1.2.250.1.213.1.4.11": "INS-NIR-DEMO",
}
"""Assigning authorities of the INS (NIR, NIA, test and demonstration spaces)
and the FR Core identifier type of each (fr-core-cs-v2-0203)."""

FR_CORE_IDENTIFIER_TYPE: Final = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
V2_IDENTIFIER_TYPE: Final = "http://terminology.hl7.org/CodeSystem/v2-0203"

# -- code systems ---------------------------------------------------------------

FHIR_SYSTEMS: Final[dict[str, str]] = {
    "2.16.840.1.113883.6.1": "http://loinc.org",
    "2.16.840.1.113883.6.8": "http://unitsofmeasure.org",
    "2.16.840.1.113883.6.96": "http://snomed.info/sct",
    "2.16.840.1.113883.5.1": "http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender",
    "2.16.840.1.113883.5.25": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
    "2.16.840.1.113883.5.83": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
    "2.16.840.1.113883.5.4": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
    "2.16.840.1.113883.18.311": "http://terminology.hl7.org/CodeSystem/v2-0487",
    IHE_FORMAT_SYSTEM: "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode",
    FR_FORMAT_SYSTEM: (
        "https://mos.esante.gouv.fr/NOS/TRE_A06-FormatCodeComplementaire/FHIR/"
        "TRE-A06-FormatCodeComplementaire"
    ),
    CLASS_SYSTEM: "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument",
}
"""OIDs used in CDA documents -> canonical FHIR code system URIs; others become ``urn:oid:``."""

UCUM: Final = "http://unitsofmeasure.org"

ADMINISTRATIVE_GENDERS: Final[dict[str, str]] = {
    "M": "male",
    "F": "female",
    "U": "unknown",
    "UN": "other",
}
"""CDA administrativeGenderCode -> FHIR Patient.gender."""

OBSERVATION_STATUSES: Final[dict[str, str]] = {
    "completed": "final",
    "active": "preliminary",
    "aborted": "cancelled",
    "nullified": "entered-in-error",
}
"""CDA statusCode of a result -> FHIR Observation.status (others: ``unknown``)."""

# -- templates ------------------------------------------------------------------

LAB_REPORT_DATA_PROCESSING_ENTRY: Final = "1.3.6.1.4.1.19376.1.3.1"
LAB_SPECIMEN_COLLECTION: Final = "1.3.6.1.4.1.19376.1.3.1.2"
