"""DICOM messages as the routing engine sees them: attributes by keyword.

A route restricted to ``protocol: dicom`` names its fields by DICOM keyword
(PS3.6 section 6, e.g. ``Modality``, ``SOPClassUID``, ``InstitutionName``) or
by one of the hub's association attributes (:data:`HUB_ATTRIBUTES`)::

    when:
      protocol: dicom
      fields:
        Modality: {in: [CT, MR]}
        CallingAETitle: {equals: MODALITY1}
        PatientIdentityStatus: {equals: qualified}

Values are the attribute's string form with padding removed (PS3.5 6.2:
trailing spaces of a text VR, a trailing NUL of a UID); a multi-valued
attribute (``ImageType``) selects each value, like a repeated HL7 field.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

__all__ = [
    "FACT_KEYWORDS",
    "HUB_ATTRIBUTES",
    "DicomRoutable",
    "check_dicom_path",
    "header_facts",
]

HUB_ATTRIBUTES: dict[str, str] = {
    "CallingAETitle": "AE title of the sender (A-ASSOCIATE-RQ, PS3.8 9.3.2)",
    "CalledAETitle": "AE title the sender called",
    "PeerAddress": "IP address of the sender",
    "PatientIdentityStatus": "qualified (INS qualified), known (regional identity) or unknown",
    "TransferSyntaxUID": "transfer syntax the instance arrived in",
}
"""Attributes of the arrival rather than of the dataset, usable as route fields."""

FACT_KEYWORDS: tuple[str, ...] = (
    "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
    "Modality", "StudyDate", "StudyTime", "SeriesDate", "SeriesTime", "SeriesNumber",
    "InstanceNumber", "AccessionNumber", "StudyID", "StudyDescription", "SeriesDescription",
    "InstitutionName", "StationName", "ReferringPhysicianName", "BodyPartExamined",
    "TimezoneOffsetFromUTC", "PatientID", "IssuerOfPatientID", "PatientName",
    "PatientBirthDate", "PatientSex", "SpecificCharacterSet",
)
"""Header attributes kept with each instance (journal facts, ImagingStudy, C-FIND)."""

MESSAGE_TYPE = "C-STORE"
"""The message type of every DICOM instance in routes and the journal."""


def check_dicom_path(path: str) -> None:
    """Raise ValueError unless ``path`` is a PS3.6 keyword or a hub attribute."""
    if path in HUB_ATTRIBUTES or tag_for_keyword(path) is not None:
        return
    raise ValueError(f"not a DICOM keyword (PS3.6) nor one of {', '.join(HUB_ATTRIBUTES)}")


def _strings(value: object) -> list[str]:
    items = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    cleaned = (str(item).strip().strip("\x00").strip() for item in items if item is not None)
    return [text for text in cleaned if text]


def header_facts(ds: Dataset, keywords: tuple[str, ...] = FACT_KEYWORDS) -> dict[str, str]:
    """The present, readable ``keywords`` of ``ds`` as text ('\\' joins multiple values)."""
    facts: dict[str, str] = {}
    for keyword in keywords:
        try:
            values = _strings(ds.get(keyword))
        except (ValueError, TypeError, KeyError, AttributeError):
            continue  # an unreadable optional attribute is left out, not fatal
        if values:
            facts[keyword] = "\\".join(values)
    return facts


class DicomRoutable:
    """A received instance for :class:`hub.routing.engine.RoutingEngine`.

    ``facts`` are keyword -> text (see :func:`header_facts`) merged with the
    hub attributes; ``get`` splits multiple values on backslash (PS3.5 6.4).
    """

    __slots__ = ("_facts",)

    def __init__(self, facts: Mapping[str, str]) -> None:
        self._facts = facts

    @property
    def message_type(self) -> str:
        """Always ``C-STORE``."""
        return MESSAGE_TYPE

    @property
    def trigger_event(self) -> str:
        """The Modality: routes may say ``trigger: [CT, MR]``."""
        return self._facts.get("Modality", "")

    def get(self, path: str) -> list[str]:
        """Every value of the attribute named ``path``; empty when absent."""
        value = self._facts.get(path)
        return value.split("\\") if value else []
