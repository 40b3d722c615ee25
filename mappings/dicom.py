"""DICOM instance headers -> FHIR R4B ImagingStudy and the patient's identity traits.

Attributes are read by their DICOM keyword (PS3.6) from a pydicom
``Dataset``, usually read with ``stop_before_pixels=True``. The mapping
follows the FHIR ImagingStudy DICOM mapping (ImagingStudy "Mappings: DICOM
Tag Mapping"):

====================================  ====================================================
ImagingStudy.identifier               StudyInstanceUID (``urn:dicom:uid``), AccessionNumber
                                      (type ``ACSN``)
ImagingStudy.started                  StudyDate + StudyTime (+ TimezoneOffsetFromUTC)
ImagingStudy.referrer                 ReferringPhysicianName
ImagingStudy.description              StudyDescription
ImagingStudy.series.uid / number      SeriesInstanceUID / SeriesNumber
ImagingStudy.series.modality          Modality (DCM code system)
ImagingStudy.series.instance          SOPInstanceUID, SOPClassUID, InstanceNumber
====================================  ====================================================

:func:`map_dicom_instance` maps one instance; :func:`merge_instances` builds
the ImagingStudy of a whole study (series and instance counts) from several.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from fhir.resources.R4B.imagingstudy import ImagingStudy
from pydantic import ValidationError
from pydicom.dataset import Dataset

from hub.errors import MappingError

__all__ = [
    "DicomMapping",
    "InstanceFacts",
    "PatientTraits",
    "map_dicom_instance",
    "merge_instances",
]

DCM = "http://dicom.nema.org/resources/ontology/DCM"
ACCESSION_TYPE: dict[str, Any] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                              "code": "ACSN"}]}
# Without TimezoneOffsetFromUTC, times are the local time of a French site.
DEFAULT_ZONE: tzinfo = ZoneInfo("Europe/Paris")
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_DA = re.compile(r"^(\d{4})(\d{2})(\d{2})$", re.ASCII)
_TM = re.compile(r"^(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,6}))?$", re.ASCII)
_OFFSET = re.compile(r"^([+-])(\d{2})(\d{2})$", re.ASCII)
_GENDERS = {"M": "male", "F": "female", "O": "other"}


@dataclass(frozen=True, slots=True)
class PatientTraits:
    """Identity traits of the DICOM Patient module, for the SRRI.

    ``issuer`` is IssuerOfPatientID (the assigning authority of the local id);
    ``gender`` the FHIR code of PatientSex (``male``, ``female``, ``other``).
    """

    patient_id: str | None
    issuer: str | None
    family: str | None
    given: tuple[str, ...]
    birth_date: str | None
    gender: str | None


@dataclass(frozen=True, slots=True)
class InstanceFacts:
    """The study, series and instance attributes of one instance, already checked."""

    study_uid: str
    series_uid: str
    sop_instance_uid: str
    sop_class_uid: str | None
    modality: str | None
    study_started: str | None
    series_started: str | None
    series_number: int | None
    instance_number: int | None
    accession_number: str | None
    referrer: str | None
    study_description: str | None
    series_description: str | None


@dataclass(frozen=True, slots=True)
class DicomMapping:
    """One instance: its facts, the patient traits and a one-instance ImagingStudy."""

    facts: InstanceFacts
    patient: PatientTraits
    imaging_study: ImagingStudy


def _text(ds: Dataset, keyword: str) -> str | None:
    try:
        value = ds.get(keyword)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise MappingError(f"{keyword} cannot be read: {error}", location=keyword) from None
    if value is None:
        return None
    text = str(value).strip().strip("\x00").strip()
    return text or None


def _uid(ds: Dataset, keyword: str, required: bool = True) -> str | None:
    value = _text(ds, keyword)
    if value is None:
        if required:
            raise MappingError(f"{keyword} is missing or empty (PS3.3: type 1)",
                               location=keyword)
        return None
    if len(value) > 64 or not _UID.match(value):
        raise MappingError(f"{keyword} {value!r} is not a DICOM UID (PS3.5 9.1)",
                           location=keyword)
    return value


def _integer(ds: Dataset, keyword: str) -> int | None:
    value = _text(ds, keyword)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise MappingError(f"{keyword} {value!r} is not an integer (IS)",
                           location=keyword) from None


def _date(ds: Dataset, keyword: str) -> tuple[int, int, int] | None:
    value = _text(ds, keyword)
    if value is None:
        return None
    found = _DA.match(value)
    if found is None:
        raise MappingError(f"{keyword} {value!r} is not a DICOM date (DA, YYYYMMDD)",
                           location=keyword)
    year, month, day = (int(p) for p in found.groups())
    try:
        datetime(year, month, day)
    except ValueError as error:
        raise MappingError(f"{keyword} {value!r}: {error}", location=keyword) from None
    return year, month, day


def _zone(ds: Dataset) -> tzinfo:
    value = _text(ds, "TimezoneOffsetFromUTC")
    found = _OFFSET.match(value) if value else None
    if found is None:
        return DEFAULT_ZONE
    minutes = int(found.group(2)) * 60 + int(found.group(3))
    return timezone((-1 if found.group(1) == "-" else 1) * timedelta(minutes=minutes))


def _started(ds: Dataset, date_keyword: str, time_keyword: str) -> str | None:
    date = _date(ds, date_keyword)
    if date is None:
        return None
    value = _text(ds, time_keyword)
    found = _TM.match(value.replace(":", "")) if value else None
    if value and found is None:
        raise MappingError(f"{time_keyword} {value!r} is not a DICOM time (TM, HHMMSS.FFFFFF)",
                           location=time_keyword)
    if found is None:
        return "{:04d}-{:02d}-{:02d}".format(*date)
    hour, minute, second, fraction = found.groups()
    try:
        moment = datetime(*date, int(hour), int(minute or 0), int(second or 0),
                          int((fraction or "0").ljust(6, "0")), tzinfo=_zone(ds))
    except ValueError as error:
        raise MappingError(f"{time_keyword} {value!r}: {error}", location=time_keyword) from None
    return moment.isoformat(timespec="microseconds" if fraction else "seconds")


def _person_name(ds: Dataset, keyword: str) -> tuple[str | None, tuple[str, ...]]:
    value = _text(ds, keyword)
    if value is None:
        return None, ()
    # PS3.5 6.2: family^given^middle^prefix^suffix, '=' separates the
    # ideographic and phonetic groups (only the alphabetic one is kept).
    parts = value.split("=")[0].split("^")
    family = parts[0].strip() or None
    given = tuple(g for part in parts[1:3] for g in part.split())
    return family, given


def map_patient_traits(ds: Dataset) -> PatientTraits:
    """PatientID, IssuerOfPatientID, PatientName, PatientBirthDate, PatientSex (PS3.3 C.7.1.1)."""
    family, given = _person_name(ds, "PatientName")
    birth = _date(ds, "PatientBirthDate")
    sex = _text(ds, "PatientSex")
    return PatientTraits(
        patient_id=_text(ds, "PatientID"),
        issuer=_text(ds, "IssuerOfPatientID"),
        family=family,
        given=given,
        birth_date="{:04d}-{:02d}-{:02d}".format(*birth) if birth else None,
        gender=_GENDERS.get(sex.upper(), "unknown") if sex else None,
    )


def map_instance_facts(ds: Dataset) -> InstanceFacts:
    """Study, series and instance attributes of ``ds``; missing UIDs are MappingErrors."""
    referrer_family, referrer_given = _person_name(ds, "ReferringPhysicianName")
    referrer = " ".join([*referrer_given, referrer_family or ""]).strip() or None
    return InstanceFacts(
        study_uid=_uid(ds, "StudyInstanceUID") or "",
        series_uid=_uid(ds, "SeriesInstanceUID") or "",
        sop_instance_uid=_uid(ds, "SOPInstanceUID") or "",
        sop_class_uid=_uid(ds, "SOPClassUID", required=False),
        modality=_text(ds, "Modality"),
        study_started=_started(ds, "StudyDate", "StudyTime"),
        series_started=_started(ds, "SeriesDate", "SeriesTime"),
        series_number=_integer(ds, "SeriesNumber"),
        instance_number=_integer(ds, "InstanceNumber"),
        accession_number=_text(ds, "AccessionNumber"),
        referrer=referrer,
        study_description=_text(ds, "StudyDescription"),
        series_description=_text(ds, "SeriesDescription"),
    )


def _subject(patient: PatientTraits) -> dict[str, Any]:
    if patient.patient_id is None:
        name = " ".join([*patient.given, patient.family or ""]).strip()
        return {"display": name or "unidentified patient"}
    identifier: dict[str, Any] = {"value": patient.patient_id}
    if patient.issuer:
        identifier["system"] = (f"urn:oid:{patient.issuer}" if _UID.match(patient.issuer)
                                else patient.issuer)
    return {"type": "Patient", "identifier": identifier}


def _instance(facts: InstanceFacts) -> dict[str, Any]:
    # R4B ImagingStudy.series.instance.sopClass is required: an instance
    # without SOPClassUID is described as a generic DICOM object.
    sop_class = facts.sop_class_uid or "1.2.840.10008.5.1.4.1.1.7"
    instance: dict[str, Any] = {"uid": facts.sop_instance_uid, "sopClass": {
        "system": "urn:ietf:rfc:3986", "code": f"urn:oid:{sop_class}"}}
    if facts.instance_number is not None and facts.instance_number >= 0:
        instance["number"] = facts.instance_number
    return instance


def _series(members: Sequence[InstanceFacts]) -> dict[str, Any]:
    first = members[0]
    instances = {f.sop_instance_uid: _instance(f) for f in members}
    series: dict[str, Any] = {"uid": first.series_uid, "numberOfInstances": len(instances),
                              "instance": list(instances.values()),
                              "modality": {"system": DCM, "code": first.modality or "OT"}}
    if first.series_number is not None and first.series_number >= 0:
        series["number"] = first.series_number
    if first.series_description:
        series["description"] = first.series_description
    if first.series_started:
        series["started"] = first.series_started
    return series


def _study(facts: Sequence[InstanceFacts], patient: PatientTraits) -> dict[str, Any]:
    first = facts[0]
    by_series: dict[str, list[InstanceFacts]] = {}
    for item in facts:
        by_series.setdefault(item.series_uid, []).append(item)
    series = [_series(members) for members in by_series.values()]
    identifiers: list[dict[str, Any]] = [
        {"system": "urn:dicom:uid", "value": f"urn:oid:{first.study_uid}"}]
    if first.accession_number:
        identifiers.append({"type": ACCESSION_TYPE, "value": first.accession_number})
    modalities = {s["modality"]["code"]: s["modality"] for s in series}
    study: dict[str, Any] = {
        "resourceType": "ImagingStudy", "status": "available", "identifier": identifiers,
        "subject": _subject(patient), "modality": list(modalities.values()),
        "numberOfSeries": len(series),
        "numberOfInstances": sum(s["numberOfInstances"] for s in series), "series": series,
    }
    optional = (("started", first.study_started), ("description", first.study_description))
    study.update({k: v for k, v in optional if v})
    if first.referrer:
        study["referrer"] = {"display": first.referrer}
    return study


def _validated(resource: dict[str, Any]) -> ImagingStudy:
    try:
        return ImagingStudy.model_validate(resource)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise MappingError(f"mapped ImagingStudy is not valid FHIR R4B at {where}: "
                           f"{first.get('msg')}", location="StudyInstanceUID") from None


def map_dicom_instance(ds: Dataset) -> DicomMapping:
    """Map one instance header: facts, patient traits, and its one-instance ImagingStudy."""
    facts = map_instance_facts(ds)
    patient = map_patient_traits(ds)
    return DicomMapping(facts, patient, _validated(_study([facts], patient)))


def merge_instances(mappings: Iterable[DicomMapping]) -> ImagingStudy:
    """The ImagingStudy of one study from the mappings of its instances.

    Series are grouped by SeriesInstanceUID; an instance received twice is
    counted once. All instances must share one StudyInstanceUID.
    """
    items = list(mappings)
    if not items:
        raise MappingError("no instance to merge into an ImagingStudy",
                           location="StudyInstanceUID")
    study_uids = {m.facts.study_uid for m in items}
    if len(study_uids) > 1:
        raise MappingError(f"instances belong to several studies: {sorted(study_uids)}",
                           location="StudyInstanceUID")
    facts = [m.facts for m in items]
    return _validated(_study(facts, items[0].patient))
