"""Stored rows -> MHD resources: DocumentReference (ITI-67), List (ITI-66).

The DocumentReference mapped from the CDA header at filing time
(``mappings.cda``, MHD 2.3.2.1 DocumentEntry mapping) is completed with what
only the repository knows: its id, the lifecycle status, the filing date,
the subject as the hub's Patient id plus its identifier, the ``attachment.url``
to retrieve the bytes (ITI-68), ``relatesTo`` pointing at the replaced
version, and the visibility flags as security labels.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hub.repository.model import VISIBILITY_CODES
from hub.repository.search import SearchError, patient_id

VISIBILITY_SYSTEM = "urn:hub:MetaDMPMSS"
"""The flags keep the CI-SIS coding system name (OBX-3.3 ``MetaDMPMSS``) in a hub URN."""
SUBMISSIONSET_CODE = {
    "coding": [{"system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes",
                "code": "submissionset"}]}
SOURCE_ID_EXTENSION = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId"


def instant(epoch: float) -> str:
    """FHIR instant (UTC, seconds)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def subject(system: str, value: str) -> dict[str, Any]:
    """A Patient reference by the hub's Patient id, carrying the identifier too."""
    reference: dict[str, Any] = {"identifier": {"system": system, "value": value}}
    try:
        reference["reference"] = f"Patient/{patient_id((system, value))}"
    except SearchError:
        pass
    return reference


def _security_labels(row: dict[str, Any], labels: list[Any]) -> list[Any]:
    flags = [{"coding": [{"system": VISIBILITY_SYSTEM, "code": code}]}
             for column, code in VISIBILITY_CODES.items() if row[column]]
    return [*labels, *flags]


def document_reference(row: dict[str, Any], base: str) -> dict[str, Any]:
    """The DocumentReference of one stored version (``base``: the FHIR base URL)."""
    resource: dict[str, Any] = dict(json.loads(row["meta"])["document_reference"])
    resource["id"] = row["id"]
    resource["status"] = row["status"]
    resource["date"] = instant(row["filed_at"])
    resource["subject"] = subject(row["patient_system"], row["patient_value"])
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
    return resource


def submission_list(row: dict[str, Any], members: list[str]) -> dict[str, Any]:
    """The MHD SubmissionSet List of one submission (ITI-66)."""
    unique_id = row["unique_id"]
    return {
        "resourceType": "List",
        "id": row["id"],
        "extension": [{"url": SOURCE_ID_EXTENSION,
                       "valueIdentifier": {"value": row["source_id"]}}],
        "identifier": [{"use": "usual", "system": "urn:ietf:rfc:3986",
                        "value": unique_id if ":" in unique_id else f"urn:oid:{unique_id}"}],
        "status": "current",
        "mode": "working",
        "code": SUBMISSIONSET_CODE,
        "subject": subject(row["patient_system"], row["patient_value"]),
        "date": instant(row["submitted_at"]),
        "entry": [{"item": {"reference": f"DocumentReference/{m}"}} for m in members],
    }
