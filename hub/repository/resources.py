"""Stored rows -> MHD resources: DocumentReference (ITI-67), List (ITI-66).

The DocumentReference mapped from the CDA header at filing time
(``mappings.cda``, MHD 2.3.2.1 DocumentEntry mapping) is completed with what
only the repository knows: its id, the lifecycle status, the filing date,
the subject, the ``attachment.url`` to retrieve the bytes (ITI-68),
``relatesTo`` pointing at the replaced version, the visibility flags as
security labels, and whether the document may be shared nationally.

The subject is a Patient the server answers: ``Patient/<regional id>`` (the
Patient of PDQm and PIXm) when the identity service knows the patient, with
the identifier the document was filed under; else a logical reference by
that identifier only (FHIR R4 Reference.identifier), since no Patient
resource stands for it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hub.repository.model import VISIBILITY_CODES, as_oid

VISIBILITY_SYSTEM = "urn:hub:MetaDMPMSS"
"""The flags keep the CI-SIS coding system name (OBX-3.3 ``MetaDMPMSS``) in a hub URN."""
SHAREABLE_EXTENSION = "urn:hub:StructureDefinition/shareable-nationally"
"""Extension (valueBoolean): whether the document may go to national services (DMP,
MSSanté), i.e. its patient has a qualified INS (CI-SIS: PID-32 ``VALI``, or an INS
in the CDA). Not a security label: it restricts no reader of this repository."""
SUBMISSIONSET_CODE = {
    "coding": [{"system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes",
                "code": "submissionset"}]}
SOURCE_ID_EXTENSION = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId"


def instant(epoch: float) -> str:
    """FHIR instant (UTC, seconds)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def subject(system: str, value: str, patient: str | None = None) -> dict[str, Any]:
    """The Patient reference: ``Patient/<patient>`` when given, always the identifier."""
    reference: dict[str, Any] = {"type": "Patient"}
    if patient:
        reference["reference"] = f"Patient/{patient}"
    reference["identifier"] = {"system": system, "value": value}
    return reference


def _security_labels(row: dict[str, Any], labels: list[Any]) -> list[Any]:
    flags = [{"coding": [{"system": VISIBILITY_SYSTEM, "code": code}]}
             for column, code in VISIBILITY_CODES.items() if row[column]]
    return [*labels, *flags]


def document_reference(row: dict[str, Any], base: str,
                       patient: str | None = None) -> dict[str, Any]:
    """The DocumentReference of one stored version (``base``: the FHIR base URL;
    ``patient``: the Patient id of its subject, when a Patient resource stands for it)."""
    resource: dict[str, Any] = dict(json.loads(row["meta"])["document_reference"])
    resource["id"] = row["id"]
    resource["status"] = row["status"]
    resource["date"] = instant(row["filed_at"])
    resource["subject"] = subject(row["patient_system"], row["patient_value"], patient)
    context = dict(resource.get("context") or {})
    context.pop("sourcePatientInfo", None)
    if context:
        resource["context"] = context
    else:
        resource.pop("context", None)
    content = [dict(c) for c in resource.get("content", [])]
    if content:
        content[0]["attachment"] = {**content[0]["attachment"], "url": f"{base}/Binary/{row['id']}"}
        resource["content"] = content
    if row["replaces"]:
        resource["relatesTo"] = [{"code": "replaces",
                                  "target": {"reference": f"DocumentReference/{row['replaces']}"}}]
    labels = _security_labels(row, list(resource.get("securityLabel", [])))
    if labels:
        resource["securityLabel"] = labels
    resource["extension"] = [*resource.get("extension", []), shareable_extension(row)]
    return resource


def shareable_extension(row: dict[str, Any]) -> dict[str, Any]:
    """The :data:`SHAREABLE_EXTENSION` of a stored document."""
    return {"url": SHAREABLE_EXTENSION, "valueBoolean": bool(row["shareable"])}


def is_shareable(resource: dict[str, Any]) -> bool | None:
    """What a DocumentReference says of :data:`SHAREABLE_EXTENSION` (None: it does not say)."""
    for extension in resource.get("extension", []):
        if extension.get("url") == SHAREABLE_EXTENSION:
            return bool(extension.get("valueBoolean"))
    return None


def _source_id(row: dict[str, Any]) -> dict[str, str]:
    """The SubmissionSet sourceId as MHD writes an OID (``urn:ietf:rfc:3986``, ``urn:oid:``)."""
    value = str(row["source_id"])
    oid = as_oid(value)
    if oid is None:
        return {"value": value}
    return {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{oid}"}


def submission_list(row: dict[str, Any], members: list[str],
                    patient: str | None = None) -> dict[str, Any]:
    """The MHD SubmissionSet List of one submission (ITI-66); ``patient`` as in
    :func:`document_reference`."""
    unique_id = row["unique_id"]
    return {
        "resourceType": "List",
        "id": row["id"],
        "extension": [{"url": SOURCE_ID_EXTENSION, "valueIdentifier": _source_id(row)}],
        "identifier": [{"use": "usual", "system": "urn:ietf:rfc:3986",
                        "value": unique_id if ":" in unique_id else f"urn:oid:{unique_id}"}],
        "status": "current",
        "mode": "working",
        "code": SUBMISSIONSET_CODE,
        "subject": subject(row["patient_system"], row["patient_value"], patient),
        "date": instant(row["submitted_at"]),
        "entry": [{"item": {"reference": f"DocumentReference/{m}"}} for m in members],
    }
