"""FHIR R4B fragments (as dicts) in the shape FR Core expects, built from HL7 v2 values.

The code systems and extensions named here are those of the FR Core
implementation guide (Interop'Santé): identifier types ``fr-core-cs-v2-0203``
(INS-NIR, INS-NIA, INS-NIR-TEST, INS-NIR-DEMO), the identity reliability
extension with its RNIV status (``fr-core-cs-identity-status``), the birth list
of given names and the INSEE code of the birthplace.
"""

from __future__ import annotations

from typing import Any

from mappings.hl7v2.datatypes import HL7_NULL, XAD, XPN, XTN
from mappings.hl7v2.identity_event import INS_OIDS, IdentityStatus, PatientIdentifier, Zfd

__all__ = [
    "FR_CORE",
    "V2_0203",
    "address",
    "coding_system",
    "contact_point",
    "human_name",
    "identifier",
    "patient_extensions",
]

FR_CORE = "https://hl7.fr/ig/fhir/core"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
FR_V2_0203 = f"{FR_CORE}/CodeSystem/fr-core-cs-v2-0203"
IDENTITY_RELIABILITY = f"{FR_CORE}/StructureDefinition/fr-core-identity-reliability"
IDENTITY_STATUS = f"{FR_CORE}/CodeSystem/fr-core-cs-identity-status"
FR_V2_0445 = f"{FR_CORE}/CodeSystem/fr-core-cs-v2-0445"
METHOD_COLLECTION = f"{FR_CORE}/CodeSystem/fr-core-cs-method-collection"
MODE_VALIDATION = f"{FR_CORE}/CodeSystem/fr-core-cs-mode-validation-identity"
BIRTH_LIST_GIVEN_NAME = f"{FR_CORE}/StructureDefinition/fr-core-birth-list-given-name"
INSEE_CODE = f"{FR_CORE}/StructureDefinition/fr-core-address-insee-code"
INSEE_COMMUNES = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
FINESS_OID = "1.2.250.1.71.4.2.2"

_STATUS_DISPLAY = {
    IdentityStatus.PROVISIONAL: "Identité provisoire",
    IdentityStatus.RECOVERED: "Identité récupérée",
    IdentityStatus.VALIDATED: "Identité validée",
    IdentityStatus.QUALIFIED: "Identité qualifiée",
}
_V2_TYPES = frozenset({"PI", "AN", "VN", "NH", "MR", "PT", "SS", "PPN", "DL", "NI", "NNFRA"})
_VALIDATION_MODES = frozenset({"CN", "PA", "CS", "AV", "AN", "CC"})
_METHODS = frozenset({"SM", "CV", "INSI", "CB", "RFID", "AV"})
_NAME_USE = {"L": "official", "D": "usual", "S": "anonymous"}
_ADDRESS_USE = {"H": "home", "O": "work", "B": "work", "C": "temp", "BA": "old"}
_TEL_USE = {"PRN": "home", "WPN": "work", "ORN": "home", "PRS": "mobile", "EMR": "temp"}
_CODING_SYSTEMS = {
    "LN": "http://loinc.org",
    "SCT": "http://snomed.info/sct",
    "UCUM": "http://unitsofmeasure.org",
    "HL70078": "http://terminology.hl7.org/CodeSystem/v2-0078",
}


def coding_system(name: str) -> str | None:
    """The FHIR system URI for a v2 coding system name (CE-3), an OID, or None."""
    if name in _CODING_SYSTEMS:
        return _CODING_SYSTEMS[name]
    if name and name.replace(".", "").isdigit() and "." in name:
        return f"urn:oid:{name}"
    return None


def _type(item: PatientIdentifier) -> dict[str, Any] | None:
    if item.type_code == "INS" and item.authority_oid in INS_OIDS:
        return {"coding": [{"system": FR_V2_0203, "code": INS_OIDS[item.authority_oid][1]}]}
    if item.type_code in _V2_TYPES:
        return {"coding": [{"system": V2_0203, "code": item.type_code}]}
    if item.type_code:
        return {"text": item.type_code}
    return None


def identifier(item: PatientIdentifier) -> dict[str, Any]:
    """A FHIR Identifier: ``urn:oid:`` system when CX-4 is an OID, else the assigner."""
    result: dict[str, Any] = {"value": item.value}
    if item.type_code == "INS":
        result["use"] = "official"
    elif item.type_code == "PI":
        result["use"] = "usual"
    kind = _type(item)
    if kind:
        result["type"] = kind
    if item.system:
        result["system"] = item.system
    elif item.authority_id or item.authority_name:
        result["assigner"] = _assigner(item)
    return result


def _assigner(item: PatientIdentifier) -> dict[str, Any]:
    """Authority without OID: a FINESS (Appendix N.1 FR, CX-4.3 ``M``/``N``) or a name."""
    assigner: dict[str, Any] = {}
    if item.authority_id:
        assigner["identifier"] = {"system": f"urn:oid:{FINESS_OID}", "value": item.authority_id}
    if item.authority_name:
        assigner["display"] = item.authority_name
    return assigner


def human_name(name: XPN) -> dict[str, Any] | None:
    """A HumanName; the XPN-3 list goes in the FR Core birth-list-given-name extension."""
    if name.family == HL7_NULL or not (name.family or name.given):
        return None
    result: dict[str, Any] = {}
    if name.type_code in _NAME_USE:
        result["use"] = _NAME_USE[name.type_code]
    if name.family:
        result["family"] = name.family
    if name.given:
        result["given"] = [name.given]
    if name.prefix:
        result["prefix"] = [name.prefix]
    if name.further_given and name.type_code == "L":
        result["extension"] = [{"url": BIRTH_LIST_GIVEN_NAME, "valueString": name.further_given}]
    return result


def address(item: XAD) -> dict[str, Any] | None:
    """An Address for any XAD but the birthplace (BDL)."""
    result: dict[str, Any] = {}
    if item.type_code in _ADDRESS_USE:
        result["use"] = _ADDRESS_USE[item.type_code]
    lines = [line for line in (item.street, item.other) if line]
    if lines:
        result["line"] = lines
    for key, value in (
        ("city", item.city),
        ("state", item.state),
        ("postalCode", item.postal_code),
        ("country", item.country),
        ("district", item.county),
    ):
        if value:
            result[key] = value
    return result if set(result) - {"use"} else None


def contact_point(tel: XTN) -> dict[str, Any] | None:
    """A ContactPoint: e-mail for ``Internet``/``X.400`` (XTN-4), else phone/fax (XTN-12)."""
    if tel.equipment in ("Internet", "X.400") or tel.use == "NET":
        value, system = tel.address, "email"
    else:
        value, system = tel.number, "fax" if tel.equipment == "FX" else "phone"
    if not value:
        return None
    result: dict[str, Any] = {"system": system, "value": value}
    use = "mobile" if tel.equipment == "CP" else _TEL_USE.get(tel.use)
    if use:
        result["use"] = use
    return result


def _reliability(
    status: IdentityStatus, attributes: tuple[str, ...], zfd: Zfd | None
) -> dict[str, Any]:
    """FR Core identity reliability: RNIV status, attributes as comments, ZFD-5/6/7."""
    parts: list[dict[str, Any]] = []
    if zfd and zfd.identity_method in _METHODS:
        parts.append(_coding_part("methodCollection", METHOD_COLLECTION, zfd.identity_method))
    if zfd and zfd.insi_query_date:
        parts.append({"url": "dateInterrogationINSi", "valueDate": zfd.insi_query_date})
    status_coding = {
        "system": IDENTITY_STATUS,
        "code": status.value,
        "display": _STATUS_DISPLAY[status],
    }
    parts.append({"url": "identityStatus", "valueCoding": status_coding})
    for code in attributes:
        parts.append(
            {
                "url": "comment",
                "valueCodeableConcept": {"coding": [{"system": FR_V2_0445, "code": code}]},
            }
        )
    if zfd and zfd.evidence_type in _VALIDATION_MODES:
        parts.append(_coding_part("validationMode", MODE_VALIDATION, zfd.evidence_type))
    return {"url": IDENTITY_RELIABILITY, "extension": parts}


def _coding_part(url: str, system: str, code: str | None) -> dict[str, Any]:
    return {"url": url, "valueCoding": {"system": system, "code": code}}


def _birth_place(addresses: tuple[XAD, ...]) -> dict[str, Any] | None:
    """patient-birthPlace from the XAD typed BDL; XAD-9 is the INSEE (COG) code."""
    place = next((item for item in addresses if item.type_code == "BDL"), None)
    if place is None:
        return None
    value: dict[str, Any] = {}
    if place.county:
        coding = {"system": INSEE_COMMUNES, "code": place.county}
        value["extension"] = [{"url": INSEE_CODE, "valueCoding": coding}]
        value["district"] = place.county
    if place.city:
        value["city"] = place.city
    if place.postal_code:
        value["postalCode"] = place.postal_code
    if place.country:
        value["country"] = place.country
    return {"url": BIRTH_PLACE, "valueAddress": value} if value else None


def patient_extensions(
    status: IdentityStatus, attributes: tuple[str, ...], addresses: tuple[XAD, ...], zfd: Zfd | None
) -> list[dict[str, Any]]:
    """Patient extensions: identity reliability (always) and birthplace (when sent)."""
    extensions = [_reliability(status, attributes, zfd)]
    place = _birth_place(addresses)
    if place:
        extensions.append(place)
    return extensions
