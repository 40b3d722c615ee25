"""Property tests: on malformed input the mappings raise only the hub's own errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.errors import HubError
from hub.hl7.er7 import parse
from mappings.hl7v2 import map_adt, map_document_message
from mappings.hl7v2.lab import map_lab_oru
from tests.mappings.hl7v2.conftest import DATA, fixture_names

MAPPERS: tuple[Callable[..., Any], ...] = (map_adt, map_document_message, map_lab_oru)
FIXTURES = {name: (DATA / name).read_bytes() for name in fixture_names()}
SMALL = {name: data for name, data in FIXTURES.items() if len(data) < 4000}
PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def map_everything(data: bytes) -> None:
    """Parse and run every mapper; anything but a HubError fails the test."""
    try:
        message = parse(data)
    except HubError:
        return
    for mapper in MAPPERS:
        try:
            mapper(message)
        except HubError:
            pass


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A fixture with a few bytes replaced, inserted or deleted (delimiters favoured)."""
    data = bytearray(SMALL[draw(st.sampled_from(sorted(SMALL)))])
    alphabet = st.sampled_from([*b'|^~\\&\r\n"0123456789AZaz.-+ ', 0xC3, 0xA9, 0xFF])
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(("replace", "insert", "delete")))
        if action == "replace":
            data[position] = draw(alphabet)
        elif action == "insert":
            data.insert(position, draw(alphabet))
        else:
            del data[position]
    return bytes(data)


@PROFILE
@given(mutated())
def test_mutated_fixtures_raise_only_hub_errors(data: bytes) -> None:
    map_everything(data)


FIELD = st.text(alphabet='ABCINSPVLD019.-&^~\\"|é ', max_size=40)
SEGMENT_IDS = ("PID", "PV1", "ZBE", "ZFD", "MRG", "OBX", "OBR", "PRT", "TXA", "EVN")


@st.composite
def random_message(draw: st.DrawFn) -> bytes:
    """A valid MSH for one of the mapped events followed by random segments."""
    event = draw(
        st.sampled_from(("ADT^A01", "ADT^A28", "ADT^A40", "ADT^A24", "ORU^R01", "MDM^T02"))
    )
    header = f"MSH|^~\\&|A|B|C|D|20250101||{event}|X1|P|2.5"
    segments = [header]
    for _ in range(draw(st.integers(0, 8))):
        sid = draw(st.sampled_from(SEGMENT_IDS))
        fields = draw(st.lists(FIELD, max_size=35))
        segments.append("|".join([sid, *fields]))
    return "\r".join(segments).encode("utf-8")


@PROFILE
@given(random_message())
def test_random_segments_raise_only_hub_errors(data: bytes) -> None:
    map_everything(data)


@PROFILE
@given(
    st.sampled_from(sorted(FIXTURES)), st.integers(0, 80), st.sampled_from(("INS", "PI", "NH", ""))
)
def test_identifier_type_swaps_raise_only_hub_errors(name: str, offset: int, kind: str) -> None:
    text = FIXTURES[name].decode("utf-8")
    text = text.replace("^PI", f"^{kind}", 1) if offset % 2 else text.replace("^INS", f"^{kind}", 1)
    map_everything(text.encode("utf-8"))
