"""Coercion of an instance on its way out: the patient's identity and where it came from.

What changes (PS3.3 C.7.1.1 Patient module, C.12.1.1.1 private attributes):

- PatientID becomes the qualified INS, with IssuerOfPatientID and
  IssuerOfPatientIDQualifiersSequence naming the INS OID (UniversalEntityID,
  type ``ISO``), or, without a qualified INS, the regional identifier under
  the regional OID; without either it stays as it is;
- the local PatientID (and its issuer) is kept in OtherPatientIDsSequence;
- a source marker: attributes set from templates (``{source}``, ``{marker}``)
  and a private block (group 0009, PS3.5 7.8) naming the sending site.

What never changes: Study, Series and SOP Instance UIDs, SOP Class UID,
the transfer syntax and the pixel data. The original stays in the blob store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from hub.config import DicomCoercion
from hub.errors import ConfigError
from hub.patients import Identifier, PatientView

__all__ = ["Origin", "check_coercion", "coerce"]

PROTECTED = frozenset({
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID", "PixelData",
    "FloatPixelData", "DoubleFloatPixelData", "PatientID", "IssuerOfPatientID",
    "IssuerOfPatientIDQualifiersSequence", "OtherPatientIDsSequence",
    "MediaStorageSOPInstanceUID", "TransferSyntaxUID",
})
"""Attributes a ``set`` template may not touch."""
PRIVATE_GROUP = 0x0009


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an instance came from, for the source marker."""

    source: str
    marker: str
    local: Identifier | None


def check_coercion(settings: DicomCoercion, key: str) -> None:
    """Raise ConfigError for a ``set`` keyword that is unknown or protected."""
    for keyword in settings.set:
        if tag_for_keyword(keyword) is None:
            raise ConfigError(f"'{keyword}' is not a DICOM keyword (PS3.6)", key=f"{key}.set")
        if keyword in PROTECTED:
            raise ConfigError(f"'{keyword}' is never changed by the hub", key=f"{key}.set")


def _oid(system: str) -> str:
    return system.removeprefix("urn:oid:")


def _target(view: PatientView | None, mode: str, regional_system: str) -> Identifier | None:
    """The identifier to send as PatientID, or None to keep the local one."""
    if view is None or mode == "keep":
        return None
    if mode == "ins-or-regional" and view.qualified_ins is not None:
        return view.qualified_ins
    if view.regional_id:
        return regional_system, view.regional_id
    return None


def _keep_local(ds: Dataset, local: Identifier | None) -> None:
    """Add the local PatientID to OtherPatientIDsSequence (PS3.3 C.7.1.1)."""
    patient_id = ds.get("PatientID")
    if not patient_id:
        return
    item = Dataset()
    item.PatientID = str(patient_id)
    issuer = ds.get("IssuerOfPatientID") or (_oid(local[0]) if local else None)
    if issuer:
        item.IssuerOfPatientID = str(issuer)
    item.TypeOfPatientID = "TEXT"
    others = list(ds.get("OtherPatientIDsSequence") or [])
    ds.OtherPatientIDsSequence = Sequence([*others, item])


def _set_patient(ds: Dataset, target: Identifier) -> None:
    oid = _oid(target[0])
    ds.PatientID = target[1]
    ds.IssuerOfPatientID = oid
    qualifier = Dataset()
    qualifier.UniversalEntityID = oid
    qualifier.UniversalEntityIDType = "ISO"
    ds.IssuerOfPatientIDQualifiersSequence = Sequence([qualifier])


def _mark(ds: Dataset, settings: DicomCoercion, origin: Origin) -> None:
    values = {"source": origin.source, "marker": origin.marker}
    for keyword, template in settings.set.items():
        setattr(ds, keyword, template.format_map(values))
    if settings.private_creator:
        block = ds.private_block(PRIVATE_GROUP, settings.private_creator, create=True)
        block.add_new(0x10, "LO", origin.marker[:64])
        block.add_new(0x11, "LO", origin.source[:64])


def coerce(ds: Dataset, settings: DicomCoercion, view: PatientView | None, origin: Origin,
           regional_system: str) -> Mapping[str, str]:
    """Coerce ``ds`` in place; return what changed (keyword -> new value) for the journal."""
    changed: dict[str, str] = {}
    target = _target(view, settings.patient_id, regional_system)
    if target is not None and target[1] != ds.get("PatientID"):
        _keep_local(ds, origin.local)
        _set_patient(ds, target)
        changed["PatientID"] = "INS" if view and target == view.qualified_ins else "regional"
    _mark(ds, settings, origin)
    changed.update({k: "set" for k in settings.set})
    return changed
