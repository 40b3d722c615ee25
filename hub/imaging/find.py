"""C-FIND at STUDY level over the studies the router holds (PS3.4 C.4.1, C.6.2).

Matching follows PS3.4 C.2.2.2: an empty key matches everything (universal
matching); a UID key may list several UIDs separated by backslashes (list of
UID matching); a date key may be a range ``A-B``, ``A-`` or ``-B`` (range
matching); ``*`` and ``?`` are wildcards in other keys (wildcard matching);
anything else must equal the value (single value matching), person names
without regard to case. Return keys are the query's keys, filled where the
hub knows them (PS3.4 C.4.1.2.2.2: unknown ones come back empty).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

__all__ = ["QueryError", "find_studies"]

DATE_KEYS = frozenset({"StudyDate", "PatientBirthDate"})
UID_KEYS = frozenset({"StudyInstanceUID"})
CASE_INSENSITIVE = frozenset({"PatientName", "ReferringPhysicianName"})


class QueryError(ValueError):
    """The identifier asks for something this SCP does not do."""


def _study_value(keyword: str, study: Mapping[str, Any]) -> str:
    facts: Mapping[str, str] = study["facts"]
    value: str = ""
    if keyword == "NumberOfStudyRelatedInstances":
        value = str(study["instances"])
    elif keyword == "ModalitiesInStudy":
        value = study.get("modalities") or facts.get("Modality", "")
    elif keyword == "StudyInstanceUID":
        value = study["study_uid"]
    return value or facts.get(keyword, "")


def _matches(keyword: str, wanted: str, actual: str) -> bool:
    if not wanted or wanted == "*":
        return True
    if keyword in UID_KEYS:
        return actual in wanted.split("\\")
    if keyword in DATE_KEYS and "-" in wanted:
        low, _, high = wanted.partition("-")
        return bool(actual) and (not low or actual >= low) and (not high or actual <= high)
    if keyword == "ModalitiesInStudy":
        return bool(set(wanted.split("\\")) & set(actual.split("\\")))
    if keyword in CASE_INSENSITIVE:
        wanted, actual = wanted.upper(), actual.upper()
    if "*" in wanted or "?" in wanted:
        return fnmatch.fnmatchcase(actual, wanted)
    return actual == wanted


def _keys(query: Dataset) -> dict[str, str]:
    keys: dict[str, str] = {}
    for element in query:
        if element.keyword in ("QueryRetrieveLevel", "SpecificCharacterSet", ""):
            continue
        value = element.value
        if isinstance(value, MultiValue | list):
            keys[element.keyword] = "\\".join(str(v).strip() for v in value)
        else:
            keys[element.keyword] = "" if value is None else str(value).strip()
    return keys


def _answer(keys: Mapping[str, str], study: Mapping[str, Any]) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    for keyword in keys:
        value = _study_value(keyword, study)
        setattr(ds, keyword, value.split("\\") if "\\" in value else value)
    return ds


def find_studies(query: Dataset, studies: Iterable[Mapping[str, Any]]) -> list[Dataset]:
    """The answers to a STUDY-level C-FIND identifier among ``studies``."""
    level = str(query.get("QueryRetrieveLevel", "")).strip()
    if level != "STUDY":
        raise QueryError(f"QueryRetrieveLevel {level!r}: only STUDY is supported")
    keys = _keys(query)
    return [_answer(keys, study) for study in studies
            if all(_matches(k, v, _study_value(k, study)) for k, v in keys.items())]
