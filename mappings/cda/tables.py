"""Code tables for CDA R2 to XDS and FHIR (data only).

Sources, all published by the ANS in the "Nomenclatures des Objets de
Santé" (NOS) and the Terminologies de Santé implementation guide:

* ``ASS_A11-CorresModeleCDA-XdsFormatCode-CISIS`` (urn:oid:1.2.250.1.213.1.1.4.331):
  when the CDA body is structured, formatCode comes from the document's
  templateId (the CDA model);
* ``ASS_A12-CorresMediaTypeCDANonStructure-XdsFormatCode-CISIS``: when the
  body is a nonXMLBody, formatCode comes from ``nonXMLBody/text/@mediaType``;
* ``JDV_J10-XdsFormatCode-CISIS`` / ``JDV_J60-FormatCode-DMP``: the value
  sets those codes belong to, with their code systems ``TRE_A11-IheFormatCode``
  (1.3.6.1.4.1.19376.1.2.3) and ``TRE_A06-FormatCodeComplementaire``
  (1.2.250.1.213.1.1.4.2.282);
* ``ASS_X04-CorrespondanceType-Classe-CISIS``: classCode (``TRE_A03-ClasseDocument``,
  1.2.250.1.213.1.1.4.1) deduced from the document type (``ClinicalDocument/code``).
  Only the types the hub routes today are listed; others get no classCode.
"""

from __future__ import annotations

from typing import Final

# -- formatCode ---------------------------------------------------------------

IHE_FORMAT_SYSTEM: Final = "1.3.6.1.4.1.19376.1.2.3"
FR_FORMAT_SYSTEM: Final = "1.2.250.1.213.1.1.4.2.282"

CISIS_MODEL_FORMAT_CODES: Final[dict[str, str]] = {
    # CI-SIS models (templateId 1.2.250.1.213.1.1.1.x), ASS_A11
    "1.2.250.1.213.1.1.1.55": "urn:ihe:lab:xd-lab:2008",  # BIO-CR-BIO
    "1.2.250.1.213.1.1.1.45": "urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013",  # IMG-CR-IMG
    "1.2.250.1.213.1.1.1.29": "urn:asip:ci-sis:ldl-ses:2017",  # LDL-SES
    "1.2.250.1.213.1.1.1.21": "urn:asip:ci-sis:ldl-ees:2017",  # LDL-EES
    "1.2.250.1.213.1.1.1.13": "urn:asip:ci-sis:vsm:2012",  # VSM
    "1.2.250.1.213.1.1.1.22": "urn:asip:ci-sis:dlu:2015",  # DLU
    "1.2.250.1.213.1.1.1.37": "urn:asip:ci-sis:vac:2019",  # VAC
    "1.2.250.1.213.1.1.1.46": "urn:asip:ci-sis:vac-note:2021",  # VAC-NOTE
    "1.2.250.1.213.1.1.1.39": "urn:ihe:pharm:pre:2010",  # PRE
    "1.2.250.1.213.1.1.1.54": "urn:ihe:pharm:dis:2010",  # DIS
    "1.2.250.1.213.1.1.1.40": "urn:asip:ci-sis:cr-anest:2020",  # CR-ANEST
    "1.2.250.1.213.1.1.1.41": "urn:asip:ci-sis:cr-cpa:2020",  # CR-CPA
    "1.2.250.1.213.1.1.1.47": "urn:ans:ci-sis:img-da:2022",  # IMG-DA
    "1.2.250.1.213.1.1.1.51": "urn:ihe:pcc:ips:2020",  # IPS
    "1.2.250.1.213.1.1.1.52": "urn:ans:ci-sis:bio-ep-bio:2022",  # BIO-EP-BIO
    "1.2.250.1.213.1.1.1.57": "urn:ihe:palm:apsr:2016",  # APSR
}
"""templateId of a CI-SIS model -> formatCode (ASS_A11). Checked before the IHE ones."""

IHE_MODEL_FORMAT_CODES: Final[dict[str, str]] = {
    "1.3.6.1.4.1.19376.1.3.3": "urn:ihe:lab:xd-lab:2008",  # IHE PALM XD-LAB
    "1.3.6.1.4.1.19376.1.8.1.1.1": "urn:ihe:pat:apsr:all:2010",  # IHE APSR generic
}
"""templateId of an IHE content profile -> formatCode (ASS_A11)."""

MEDIA_TYPE_FORMAT_CODES: Final[dict[str, str]] = {
    "application/pdf": "urn:ihe:iti:xds-sd:pdf:2008",
    "text/plain": "urn:ihe:iti:xds-sd:text:2008",
    "text/rtf": "urn:ihe:iti-fr:xds-sd:rtf:2010",
    "image/jpeg": "urn:ihe:iti-fr:xds-sd:jpeg:2010",
    "image/tiff": "urn:ihe:iti-fr:xds-sd:tiff:2010",
}
"""nonXMLBody/text/@mediaType -> formatCode (ASS_A12)."""

FORMAT_DISPLAYS: Final[dict[str, str]] = {
    "urn:ihe:lab:xd-lab:2008": "Compte rendu structuré d'examens de biologie médicale",
    "urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013": "Compte-rendu d'imagerie médicale",
    "urn:asip:ci-sis:ldl-ses:2017": "Lettre de Liaison à la sortie de l'établissement de santé",
    "urn:ihe:iti:xds-sd:pdf:2008": "Document à corps non structuré en Pdf/A-1",
    "urn:ihe:iti:xds-sd:text:2008": "Document à corps non structuré en texte brut",
}

# -- classCode ----------------------------------------------------------------

CLASS_SYSTEM: Final = "1.2.250.1.213.1.1.4.1"

CLASS_CODES_BY_TYPE: Final[dict[str, tuple[str, str]]] = {
    "11502-2": ("10", "Compte rendu"),  # CR d'examens biologiques
    "18748-4": ("10", "Compte rendu"),  # CR d'imagerie médicale
    "11490-0": ("10", "Compte rendu"),  # Lettre de liaison à la sortie
    "11488-4": ("10", "Compte rendu"),  # CR de consultation
    "34112-3": ("10", "Compte rendu"),  # CR d'hospitalisation
    "60591-5": ("11", "Synthèse"),  # Synthèse médicale (VSM)
    "57833-6": ("42", "Prescription"),  # Prescription de médicaments
}
"""LOINC document type -> (classCode, display) per ASS_X04 (TRE_A03-ClasseDocument)."""

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
