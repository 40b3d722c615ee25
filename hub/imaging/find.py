"""C-FIND at STUDY level over the studies the router holds (PS3.4 C.4.1, C.6.2).

Matching follows PS3.4 C.2.2.2: an empty key matches everything (universal
matching); a UID key may list several UIDs separated by backslashes (list of
UID matching); a date key may be a range ``A-B``, ``A-`` or ``-B`` (range
matching); ``*`` and ``?`` are wildcards in other keys (wildcard matching);
anything else must equal the value (single value matching), person names
without regard to case. Return keys are the query's keys, filled where the
hub knows them (PS3.4 C.4.1.2.2.2: unknown ones come back empty).

Each answer declares its Specific Character Set (PS3.5 6.1.2.3; PS3.4
C.4.1.1.3.1 lets the SCP answer in another one than the query's): the
stored instance's when it can write every value (a single-byte or UTF-8
set, without code extensions), else ISO_IR 192 (UTF-8). Values in the
default repertoire from an instance that declared none go out without one.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any

from pydicom.charset import python_encoding
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

__all__ = ["QueryError", "answer_charset", "find_studies"]

DATE_KEYS = frozenset({"StudyDate", "PatientBirthDate"})
UID_KEYS = frozenset({"StudyInstanceUID"})
CASE_INSENSITIVE = frozenset({"PatientName", "ReferringPhysicianName"})
UTF8 = "ISO_IR 192"


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


def answer_charset(stored: str, values: Iterable[str]) -> str:
    """The Specific Character Set to answer ``values`` in; "" for the default repertoire.

    ``stored`` is the instance's (0008,0005), values separated by backslashes.
    """
    text = "".join(values)
    if text.isascii():
        return stored
    terms = [term.strip() for term in stored.split("\\")] if stored else []
    codec = python_encoding.get(terms[0]) if len(terms) == 1 else None
    if codec is None or terms[0].startswith("ISO 2022"):
        return UTF8
    try:
        text.encode(codec)
    except (UnicodeEncodeError, LookupError):
        return UTF8
    return terms[0]


def _answer(keys: Mapping[str, str], study: Mapping[str, Any]) -> Dataset:
    values = {keyword: _study_value(keyword, study) for keyword in keys}
    ds = Dataset()
    charset = answer_charset(study["facts"].get("SpecificCharacterSet", ""), values.values())
    if charset:
        ds.SpecificCharacterSet = charset.split("\\") if "\\" in charset else charset
    ds.QueryRetrieveLevel = "STUDY"
    for keyword, value in values.items():
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
