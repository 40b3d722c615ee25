"""Fuzzing the CDA mapping: odd dates, identifiers and codes end as a MappingError, never a crash.

Each case takes the CR-BIO level 3 fixture (header, patient, results) and
replaces the value of one attribute (a TS ``@value``, an II ``@root`` or
``@extension``, a CD ``@code`` or ``@codeSystem``) with what hypothesis draws:
the mapping must either succeed or raise :class:`hub.errors.MappingError`
whose message shows no Python internals.
"""

from __future__ import annotations

import re
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.errors import MappingError
from mappings.cda import map_cda
from tests.mappings.cda.models import model_document

CRBIO = (Path(__file__).resolve().parents[2] / "data" / "cda-mappings" /
         "crbio_n3_ins.xml").read_text(encoding="utf-8")
ATTRIBUTE = re.compile(r'\b(value|root|extension|code|codeSystem)="([^"]*)"')
SLOTS = [(m.group(1), m.start(), m.end()) for m in ATTRIBUTE.finditer(CRBIO)]
INTERNALS = re.compile(r"Traceback|<Element |<lxml|NoneType|KeyError|TypeError|"
                       r"AttributeError|IndexError|object at 0x|pydantic|errors\.pydantic\.dev")

xml_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
ts_like = st.builds(
    lambda year, rest, tail: f"{year:04d}{rest}{tail}",
    st.integers(0, 9999),
    st.text("0123456789", max_size=10),
    st.sampled_from(["", "+0000", "+0100", "-1200", "+1400", "+9999", ".5", ".123456+0200", "Z"]))
odd_dates = st.sampled_from(["00010101000000", "00010101", "00000101", "99991231235959-1200",
                             "20240230", "20241301", "2024022925", "202402291261",
                             "20240229120061", "0001", "", " ", "1e5", "２０２４"])
values = st.one_of(odd_dates, ts_like, xml_text, st.text("0123456789.^&+-", max_size=25))


def _replaced(slot: tuple[str, int, int], value: str) -> bytes:
    name, start, end = slot
    return (CRBIO[:start] + f"{name}={quoteattr(value)}" + CRBIO[end:]).encode("utf-8")


def _maps_or_refuses(document: bytes) -> None:
    try:
        map_cda(document)
    except MappingError as error:
        assert not INTERNALS.search(str(error)), str(error)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(slot=st.sampled_from(SLOTS), value=values)
def test_one_odd_attribute_is_mapped_or_refused(slot: tuple[str, int, int], value: str) -> None:
    _maps_or_refuses(_replaced(slot, value))


@settings(max_examples=300, deadline=None)
@given(effective=values, unique_root=xml_text, extension=xml_text, type_code=xml_text,
       ins=xml_text, template=st.one_of(xml_text, st.just("1.2.250.1.213.1.1.1.55")))
def test_an_odd_header_is_mapped_or_refused(effective: str, unique_root: str, extension: str,
                                            type_code: str, ins: str, template: str) -> None:
    unique_id = f"{unique_root}^{extension}" if extension else unique_root
    _maps_or_refuses(model_document(template, unique_id=unique_id, effective=effective,
                                    type_code=type_code, ins=ins))


@pytest.mark.parametrize("value", ["00010101000000", "99991231235959-1200",
                                   "00010101000000+0100"])
def test_a_date_out_of_the_utc_range_names_the_element(value: str) -> None:
    document = model_document("1.2.250.1.213.1.1.1.55", effective=value)
    with pytest.raises(MappingError) as caught:
        map_cda(document)
    assert caught.value.location == "/ClinicalDocument/effectiveTime"
    assert f"@value '{value}' is not a valid timestamp" in str(caught.value)
    assert "years 0001 to 9999" in str(caught.value)
