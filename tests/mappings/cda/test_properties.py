"""Property tests: whatever the bytes, map_cda raises nothing but the hub's own errors."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from hub.errors import HubError
from mappings.cda import map_cda

DATA = Path(__file__).resolve().parents[2] / "data" / "cda-mappings"
DOCUMENTS = [p.read_bytes() for p in sorted(DATA.glob("*.xml"))]
QUICK = settings(max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])


def _maps_or_hub_error(data: bytes) -> None:
    try:
        map_cda(data)
    except HubError:
        pass


@QUICK
@given(st.binary(max_size=2000))
def test_random_bytes(data: bytes) -> None:
    _maps_or_hub_error(data)


@QUICK
@given(st.sampled_from(DOCUMENTS), st.integers(min_value=0), st.integers(min_value=0),
       st.binary(max_size=40))
def test_spliced_bytes(document: bytes, start: int, length: int, junk: bytes) -> None:
    start %= len(document)
    _maps_or_hub_error(document[:start] + junk + document[start + length % 200:])


def _mutate(document: bytes, index: int, action: int, text: str) -> bytes:
    root = etree.fromstring(document)
    elements = list(root.iter(etree.Element))[1:]  # the root itself stays
    target = elements[index % len(elements)]
    if action == 0 and target.getparent() is not None:
        target.getparent().remove(target)  # type: ignore[union-attr]
    elif action == 1 and target.attrib:
        name = sorted(target.attrib)[index % len(target.attrib)]
        target.set(name, text)
    elif action == 2:
        target.text = text
    else:
        target.addprevious(etree.Element(target.tag, value=text))
    return etree.tostring(root)


XML_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                   max_size=30)


@QUICK
@given(st.sampled_from(DOCUMENTS), st.integers(min_value=0, max_value=10_000),
       st.integers(min_value=0, max_value=3), XML_TEXT)
def test_mutated_elements_and_attributes(
    document: bytes, index: int, action: int, text: str
) -> None:
    _maps_or_hub_error(_mutate(document, index, action, text))
