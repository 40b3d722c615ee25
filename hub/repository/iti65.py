"""ITI-65 Provide Document Bundle: check the transaction and turn it into filings.

IHE MHD 2.3.2.65 (ITI-65, 3.65.4.1): a ``transaction`` Bundle holding one
SubmissionSet ``List``, the ``DocumentReference`` of each document and the
``Binary`` holding its bytes, which ``content.attachment.url`` names by the
Binary's ``fullUrl``. The document must be a CDA R2 document: the metadata
this repository indexes come from its header (``mappings.cda``); what the
DocumentReference states is checked against it (masterIdentifier, hash,
size). ``relatesTo`` with code ``replaces`` names the replaced version by
reference (``DocumentReference/<id>``) or by identifier (its uniqueId).
Visibility flags come as ``securityLabel`` codes ``MASQUE_PS``,
``INVISIBLE_PATIENT``, ``INVISIBLE_REP_LEGAUX``, ``CONNEXION_SECRETE``.

Every problem raises :class:`hub.api.fhir.FhirError` naming the place
(``Bundle.entry[2].resource.content[0].attachment.url``); nothing is stored
unless the whole Bundle is accepted.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B.documentreference import DocumentReference
from pydantic import ValidationError

from hub.api.fhir import FhirError
from hub.errors import MappingError
from hub.repository.model import (
    VISIBILITY_CODES,
    Action,
    Filing,
    PatientIdentifiers,
    Visibility,
)
from mappings.cda import CdaMapping, map_cda
from mappings.cda.fhir import master_identifier

SUBMISSIONSET = "submissionset"
_INS_SYSTEMS = tuple(f"urn:oid:1.2.250.1.213.1.4.{n}" for n in (8, 9, 10, 11))


@dataclass(frozen=True, slots=True)
class ProvidedDocument:
    """One DocumentReference of the Bundle with its Binary, mapped."""

    entry: int
    binary_entry: int
    filing: Filing
    replaces_reference: str | None
    """``DocumentReference/<id>`` named by relatesTo, to resolve to a uniqueId."""


@dataclass(frozen=True, slots=True)
class ProvideBundle:
    """What an accepted ITI-65 Bundle asks for."""

    list_entry: int
    submission_unique_id: str | None
    source_id: str
    title: str | None
    documents: tuple[ProvidedDocument, ...]
    entry_count: int


def invalid(where: str, message: str, status: int = 400, code: str = "invalid") -> FhirError:
    """A FhirError naming ``where``."""
    return FhirError(status, f"{where}: {message}", code=code, expression=[where])


def read_bundle(body: bytes) -> Mapping[str, Any]:
    """The JSON transaction Bundle of the request body."""
    try:
        bundle = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid("Bundle", f"the body is not JSON ({exc})") from None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise invalid("Bundle", "the body is not a Bundle resource")
    if bundle.get("type") != "transaction":
        raise invalid("Bundle.type", f"is {bundle.get('type')!r}, expected 'transaction'")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise invalid("Bundle.entry", "a Provide Document Bundle needs entries")
    return bundle


def _entries(bundle: Mapping[str, Any]) -> dict[str, list[tuple[int, Mapping[str, Any]]]]:
    """Entries by resourceType, each with its index; fullUrl and resource required."""
    found: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}
    for index, entry in enumerate(bundle["entry"]):
        where = f"Bundle.entry[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            raise invalid(f"{where}.resource", "is missing")
        if not entry.get("fullUrl"):
            raise invalid(f"{where}.fullUrl", "is missing: Binaries are referenced by it")
        kind = entry["resource"].get("resourceType")
        if kind not in ("List", "DocumentReference", "Binary"):
            raise invalid(f"{where}.resource.resourceType",
                          f"{kind!r} is not List, DocumentReference or Binary")
        found.setdefault(kind, []).append((index, entry))
    return found


Indexed = tuple[int, Mapping[str, Any]]


def _submission_set(lists: Sequence[Indexed]) -> Indexed:
    if len(lists) != 1:
        raise invalid("Bundle.entry", f"holds {len(lists)} List resources, expected one "
                      "SubmissionSet")
    index, entry = lists[0]
    resource = entry["resource"]
    codes = [c.get("code") for c in (resource.get("code") or {}).get("coding", [])]
    if SUBMISSIONSET not in codes:
        raise invalid(f"Bundle.entry[{index}].resource.code",
                      "the List is not coded 'submissionset' (MHDlistTypes)")
    return index, resource


def _binary_bytes(index: int, resource: Mapping[str, Any]) -> bytes:
    where = f"Bundle.entry[{index}].resource"
    data = resource.get("data")
    if not isinstance(data, str) or not data:
        raise invalid(f"{where}.data", "is missing: the Binary carries no document")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"{where}.data", "is not valid Base64") from None


def _validated(index: int, resource: Mapping[str, Any]) -> DocumentReference:
    try:
        return DocumentReference.model_validate(resource)
    except ValidationError as error:
        first = error.errors()[0]
        path = ".".join(str(p) for p in first.get("loc", ()) if p != "__root__")
        where = f"Bundle.entry[{index}].resource" + (f".{path}" if path else "")
        raise invalid(where, f"{first.get('msg')}") from None


def _map(binary_index: int, content: bytes) -> CdaMapping:
    try:
        return map_cda(content, results=False)
    except MappingError as exc:
        raise invalid(f"Bundle.entry[{binary_index}].resource.data",
                      f"the CDA document is refused: {exc}", 422,
                      "business-rule") from None


def _check_against_cda(index: int, resource: Mapping[str, Any], mapping: CdaMapping) -> None:
    where = f"Bundle.entry[{index}].resource"
    entry = mapping.entry
    given = resource.get("masterIdentifier")
    if given and given.get("value") not in _unique_id_forms(entry.unique_id):
        raise invalid(f"{where}.masterIdentifier", f"{given.get('value')!r} differs from the "
                      f"CDA id {entry.unique_id!r}", 422, "business-rule")
    attachment = resource["content"][0]["attachment"]
    expected_hash = base64.b64encode(bytes.fromhex(entry.hash)).decode("ascii")
    if attachment.get("hash") not in (None, expected_hash):
        raise invalid(f"{where}.content[0].attachment.hash",
                      "is not the SHA-1 of the Binary's bytes", 422, "business-rule")
    if attachment.get("size") not in (None, entry.size):
        raise invalid(f"{where}.content[0].attachment.size",
                      f"is {attachment.get('size')}, the Binary has {entry.size} bytes",
                      422, "business-rule")


def _unique_id_forms(unique_id: str) -> set[str]:
    master = master_identifier(unique_id)
    return {unique_id, master["value"], f"urn:oid:{unique_id}"}


def unique_id_of(identifier: Mapping[str, Any]) -> str | None:
    """The XDS uniqueId an MHD Identifier stands for (inverse of ``master_identifier``)."""
    system, value = str(identifier.get("system") or ""), str(identifier.get("value") or "")
    if not value:
        return None
    if system == "urn:ietf:rfc:3986":
        return value.removeprefix("urn:oid:").removeprefix("urn:uuid:")
    if system.startswith("urn:oid:"):
        return f"{system.removeprefix('urn:oid:')}^{value}"
    return value


def _replaces(index: int, resource: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(uniqueId, ``DocumentReference/<id>``) named by relatesTo ``replaces``."""
    for number, relation in enumerate(resource.get("relatesTo") or []):
        if relation.get("code") != "replaces":
            continue
        target = relation.get("target") or {}
        if target.get("identifier"):
            return unique_id_of(target["identifier"]), None
        reference = str(target.get("reference") or "")
        if reference.startswith("DocumentReference/"):
            return None, reference
        raise invalid(f"Bundle.entry[{index}].resource.relatesTo[{number}].target",
                      "names neither DocumentReference/<id> nor an identifier")
    return None, None


def _visibility(resource: Mapping[str, Any]) -> Visibility:
    codes = {c.get("code") for label in resource.get("securityLabel") or []
             for c in label.get("coding", [])}
    return Visibility(**{field: code in codes for field, code in VISIBILITY_CODES.items()})


def cda_patient(mapping: CdaMapping) -> PatientIdentifiers:
    """The patient of a CDA received over HTTP: its identifiers, and its INS.

    The CI-SIS lets a producer put the INS in a document only for a
    qualified identity, so an INS in ``recordTarget`` counts as qualified.
    """
    identifiers = tuple((str(i.system), str(i.value)) for i in mapping.patient.identifier or []
                        if i.system and i.value)
    ins = next((i for i in identifiers if i[0] in _INS_SYSTEMS), None)
    return PatientIdentifiers(identifiers, ins, ins is not None)


def _document(index: int, entry: Mapping[str, Any],
              binaries: Mapping[str, tuple[int, Mapping[str, Any]]]) -> ProvidedDocument:
    resource = entry["resource"]
    _validated(index, resource)
    where = f"Bundle.entry[{index}].resource.content"
    contents = resource.get("content") or []
    url = str((contents[0].get("attachment") or {}).get("url") or "") if contents else ""
    if url not in binaries:
        raise invalid(f"{where}[0].attachment.url", f"{url!r} is not the fullUrl of a Binary "
                      "of this Bundle")
    binary_index, binary = binaries[url]
    content = _binary_bytes(binary_index, binary["resource"])
    mapping = _map(binary_index, content)
    _check_against_cda(index, resource, mapping)
    named, reference = _replaces(index, resource)
    action = Action.REPLACEMENT if (named or reference or mapping.entry.replaces) \
        else Action.INITIAL
    filing = Filing(mapping, content, cda_patient(mapping), action, _visibility(resource), named,
                    strict_replacement=True)
    return ProvidedDocument(index, binary_index, filing, reference)


def parse_provide_bundle(body: bytes) -> ProvideBundle:
    """Check an ITI-65 request body and return the documents it provides."""
    bundle = read_bundle(body)
    by_kind = _entries(bundle)
    list_index, submission = _submission_set(by_kind.get("List", []))
    references = by_kind.get("DocumentReference", [])
    if not references:
        raise invalid("Bundle.entry", "holds no DocumentReference")
    binaries = {str(e["fullUrl"]): (i, e) for i, e in by_kind.get("Binary", [])}
    documents = tuple(_document(i, e, binaries) for i, e in references)
    identifiers = submission.get("identifier") or []
    unique_id = next((unique_id_of(i) for i in identifiers if i.get("use") == "usual"), None)
    source = next((str((x.get("valueIdentifier") or {}).get("value", ""))
                   for x in submission.get("extension") or []
                   if str(x.get("url", "")).endswith("ihe-sourceId")), "")
    return ProvideBundle(list_index, unique_id or (unique_id_of(identifiers[0])
                                                   if identifiers else None),
                         source or "http", submission.get("title"), documents,
                         len(bundle["entry"]))
