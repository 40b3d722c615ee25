"""CDA ``recordTarget/patientRole`` -> FHIR R4B Patient.

Identifiers: an ``id`` whose root is an INS authority (``1.2.250.1.213.1.4.8``
NIR, ``.9`` NIA, ``.10`` test, ``.11`` demonstration) becomes an identifier
typed with the FR Core INS type (fr-core-cs-v2-0203); every other ``id`` is a
local identifier (IPP) typed ``PI`` with its authority as ``urn:oid:``.

Names follow the CI-SIS "Structuration minimale" rules for the patient:
``family[@qualifier="BR"]`` is the birth name and the unqualified ``given``
the list of birth given names (FHIR ``official``); ``family`` /
``given[@qualifier="CL"]`` are the used name and given name (``usual``).
The birthplace INSEE code (``birthplace/place/addr/county``) is kept in the
standard ``patient-birthPlace`` extension, as ``address.district``.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.patient import Patient

from mappings.cda import tables
from mappings.cda.fhir import validated
from mappings.cda.nodes import (
    Element,
    InstanceId,
    error_at,
    find,
    findall,
    read_code,
    read_ii,
    read_ts,
    text_of,
)

__all__ = ["map_identifier", "map_names", "map_record_target"]

BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
_ADDRESS_USES = {"H": "home", "HP": "home", "WP": "work", "TMP": "temp", "OLD": "old"}
_TELECOM_USES = {"H": "home", "HP": "home", "WP": "work", "MC": "mobile", "TMP": "temp"}
_TELECOM_SYSTEMS = {"tel": "phone", "fax": "fax", "mailto": "email", "http": "url",
                    "https": "url"}


def map_identifier(ii: InstanceId) -> dict[str, Any]:
    """FHIR Identifier of a patient II: INS typed per FR Core, others typed ``PI``."""
    ins_type = tables.INS_TYPES.get(ii.root)
    if ins_type is not None:
        type_ = {"coding": [{"system": tables.FR_CORE_IDENTIFIER_TYPE, "code": ins_type}]}
        return {"use": "official", "type": type_, "system": f"urn:oid:{ii.root}",
                "value": ii.extension}
    type_ = {"coding": [{"system": tables.V2_IDENTIFIER_TYPE, "code": "PI"}]}
    return {"use": "usual", "type": type_, "system": f"urn:oid:{ii.root}", "value": ii.extension}


def _texts(name: Element, part: str, qualifier: str | None) -> list[str]:
    return [t for e in findall(name, f"v3:{part}")
            if e.get("qualifier") == qualifier and (t := text_of(e))]


def _name(family: list[str], given: list[str], use: str) -> dict[str, Any] | None:
    if not family and not given:
        return None
    name: dict[str, Any] = {"use": use}
    if family:
        name["family"] = family[0]
    if given:
        name["given"] = [g for value in given for g in value.split()]
    return name


def map_names(name: Element) -> list[dict[str, Any]]:
    """HumanNames of a patient ``name`` element (birth name first, then used name).

    Without ``BR`` / ``CL`` qualifiers the name is a single ``usual`` name.
    """
    birth_family, used_family = _texts(name, "family", "BR"), _texts(name, "family", "CL")
    birth_given = _texts(name, "given", None) or _texts(name, "given", "BR")
    if not birth_family and not used_family:
        plain = _name(_texts(name, "family", None), birth_given, "usual")
        return [plain] if plain else []
    birth = _name(birth_family, birth_given, "official")
    used = _name(used_family, _texts(name, "given", "CL"), "usual")
    return [n for n in (birth, used) if n is not None]


def _address(addr: Element) -> dict[str, Any] | None:
    number, street = text_of(find(addr, "v3:houseNumber")), text_of(find(addr, "v3:streetName"))
    lines = [t for e in findall(addr, "v3:streetAddressLine") if (t := text_of(e))]
    if street:
        lines.insert(0, f"{number} {street}" if number else street)
    address: dict[str, Any] = {}
    if lines:
        address["line"] = lines
    for key, part in (("postalCode", "postalCode"), ("city", "city"), ("country", "country")):
        if value := text_of(find(addr, f"v3:{part}")):
            address[key] = value
    if use := _ADDRESS_USES.get(addr.get("use") or ""):
        address["use"] = use
    return address or None


def _telecom(element: Element) -> dict[str, Any] | None:
    value = element.get("value") or ""
    scheme, _, rest = value.partition(":")
    system = _TELECOM_SYSTEMS.get(scheme.lower())
    if system is None or not rest:
        return None
    telecom = {"system": system, "value": rest if system != "url" else value}
    if use := _TELECOM_USES.get(element.get("use") or ""):
        telecom["use"] = use
    return telecom


def _birth_place(patient: Element) -> dict[str, Any] | None:
    addr = find(patient, "v3:birthplace/v3:place/v3:addr")
    if addr is None:
        return None
    value = {k: v for k, v in (("city", text_of(find(addr, "v3:city"))),
                                ("district", text_of(find(addr, "v3:county"))),
                                ("postalCode", text_of(find(addr, "v3:postalCode"))))
             if v}
    return {"url": BIRTH_PLACE, "valueAddress": value} if value else None


def _demographics(patient: Element, resource: dict[str, Any]) -> None:
    name = find(patient, "v3:name")
    if name is not None and (names := map_names(name)):
        resource["name"] = names
    gender = read_code(find(patient, "v3:administrativeGenderCode"))
    if gender is not None:
        resource["gender"] = tables.ADMINISTRATIVE_GENDERS.get(gender.code, "unknown")
    birth = read_ts(find(patient, "v3:birthTime"))
    if birth is not None:
        resource["birthDate"] = birth.fhir[:10]
    if (place := _birth_place(patient)) is not None:
        resource["extension"] = [place]


def map_record_target(root: Element, resource_id: str) -> Patient:
    """The Patient of ``recordTarget/patientRole`` (CDA R2 4.2.2.1), with id ``resource_id``."""
    role = find(root, "v3:recordTarget/v3:patientRole")
    if role is None:
        raise error_at(root, "recordTarget/patientRole is missing: the document has no patient",
                       "recordTarget/patientRole")
    ids = [ii for e in findall(role, "v3:id") if (ii := read_ii(e)) and ii.extension]
    resource: dict[str, Any] = {"resourceType": "Patient", "id": resource_id,
                                "identifier": [map_identifier(ii) for ii in ids]}
    addresses = [a for e in findall(role, "v3:addr") if (a := _address(e))]
    if addresses:
        resource["address"] = addresses
    telecoms = [t for e in findall(role, "v3:telecom") if (t := _telecom(e))]
    if telecoms:
        resource["telecom"] = telecoms
    patient = find(role, "v3:patient")
    if patient is not None:
        _demographics(patient, resource)
    return validated(Patient, resource, role)
