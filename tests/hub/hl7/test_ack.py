"""hub.hl7.ack: ACKs the hub sends (read back with python-hl7) and ACKs it receives."""

from __future__ import annotations

import timeit
from collections.abc import Callable
from pathlib import Path

import hl7
import pytest

from hub.errors import ParseError
from hub.hl7.ack import (
    ACK_CODES,
    HL7_TABLE_0357,
    build_ack,
    fallback_control_id,
    parse_ack,
)
from hub.hl7.er7 import Message, parse

Load = Callable[[str], bytes]
STAMP = "20250114093001"
FIXTURES = [
    "pam_fr_adt_a01.er7",
    "pam_fr_adt_a40.er7",
    "pam_fr_adt_a28_latin1.er7",
    "cisis_oru_r01.er7",
    "cisis_oru_r01_u02dc.er7",
]


def read_back(data: bytes, charset: str = "utf-8") -> hl7.Message:
    """Parse with python-hl7, a parser that is not ours."""
    return hl7.parse(data.decode(charset))


def field(message: hl7.Message, segment: str, number: int) -> str:
    return str(message.segment(segment)[number])


@pytest.mark.parametrize("name", FIXTURES)
def test_aa_mirrors_the_original_header(load: Load, name: str) -> None:
    original = parse(load(name))
    data = build_ack(original, "AA", control_id="HUB-1", timestamp=STAMP)
    ack = read_back(data, original.charset)
    header = original.segments[0]
    assert (field(ack, "MSH", 3), field(ack, "MSH", 4)) == (header.field(5), header.field(6))
    assert (field(ack, "MSH", 5), field(ack, "MSH", 6)) == (header.field(3), header.field(4))
    assert field(ack, "MSH", 7) == STAMP
    assert field(ack, "MSH", 9) == f"ACK^{original.trigger_event}^ACK"
    assert field(ack, "MSH", 10) == "HUB-1"
    assert field(ack, "MSH", 11) == header.field(11)
    assert field(ack, "MSH", 12) == header.field(12)
    assert field(ack, "MSH", 18) == header.field(18)
    assert (field(ack, "MSA", 1), field(ack, "MSA", 2)) == ("AA", original.control_id)
    assert b"ERR" not in data
    assert data.endswith(b"\r") and b"\n" not in data


def test_ack_keeps_the_original_encoding_characters_and_charset(load: Load) -> None:
    tilde = parse(load("cisis_oru_r01_u02dc.er7"))
    assert build_ack(tilde, "AA", control_id="H", timestamp=STAMP).startswith(
        "MSH|^\u02dc\\&|".encode()
    )
    latin = parse(load("pam_fr_adt_a28_latin1.er7"))
    error = ParseError("PID-5 'HÉLÈNE' refusé", segment="PID", field=5, code="102")
    data = build_ack(latin, "AE", control_id="H", timestamp=STAMP, error=error)
    assert "HÉLÈNE".encode("iso-8859-1") in data
    assert parse(data).charset == "iso-8859-1"


def test_ae_carries_the_error_location_and_code(load: Load) -> None:
    original = parse(load("pam_fr_adt_a01.er7"))
    error = ParseError("PID-3 is 'a|b^c': no IPP", segment="PID", field=3, code="101")
    data = build_ack(original, "AE", control_id="HUB-2", timestamp=STAMP, error=error)
    ack = read_back(data)
    assert (field(ack, "MSA", 1), field(ack, "MSA", 2)) == ("AE", "MSG-0001")
    assert field(ack, "ERR", 2) == "PID^1^3"
    assert field(ack, "ERR", 3) == "101^Required field missing^HL70357"
    assert field(ack, "ERR", 4) == "E"
    assert ack.unescape(field(ack, "ERR", 8)) == str(error)
    assert parse_ack(data).text == str(error)


@pytest.mark.parametrize(
    ("error", "location"),
    [
        (ParseError("x", segment="MSH", field=9, code="200"), "MSH^1^9"),
        (ParseError("x", segment="OBX", code="100"), "OBX^1"),
        (ParseError("x", code="207"), ""),
    ],
    ids=["segment-and-field", "segment-only", "no-location"],
)
def test_err_location(load: Load, error: ParseError, location: str) -> None:
    original = parse(load("pam_fr_adt_a01.er7"))
    data = build_ack(original, "AR", control_id="H", timestamp=STAMP, error=error)
    ack = read_back(data)
    assert field(ack, "ERR", 2) == location
    assert field(ack, "ERR", 3) == f"{error.code}^{HL7_TABLE_0357[error.code]}^HL70357"


def test_text_goes_to_msa_3(load: Load) -> None:
    original = parse(load("pam_fr_adt_a01.er7"))
    data = build_ack(original, "CA", control_id="H", timestamp=STAMP, text="reçu | stocké")
    assert parse_ack(data).text == "reçu | stocké"
    assert field(read_back(data), "MSA", 3) == "reçu \\F\\ stocké"


def test_receiving_names_fill_empty_msh_5_and_6() -> None:
    original = parse(b"MSH|^~\\&|GAM|CHU|||2025||ADT^A01|C1|P|2.5")
    data = build_ack(original, "AA", control_id="H", timestamp=STAMP, receiving=("HUB^X", "GRADES"))
    ack = read_back(data)
    assert (field(ack, "MSH", 3), field(ack, "MSH", 4)) == ("HUB\\S\\X", "GRADES")
    assert (field(ack, "MSH", 5), field(ack, "MSH", 6)) == ("GAM", "CHU")


def test_defaults_for_processing_id_and_version() -> None:
    original = parse(b"MSH|^~\\&|GAM|CHU|HUB|G|2025||ADT^A01|C1", check_header=False)
    ack = read_back(build_ack(original, "AR", control_id="H", timestamp=STAMP))
    assert (field(ack, "MSH", 11), field(ack, "MSH", 12)) == ("P", "2.5")


@pytest.mark.parametrize(
    ("raw", "reference"),
    [
        (b"MSH|^~\\&|A|B|C|D|2025||ADT|CTRL-9|P\rgarbage", "CTRL-9"),
        (b"\x0bMSH#^~\\&#A#B#C#D#2025##ADT#CTRL-8#P", "CTRL-8"),
        (b"MSH|^~\\&|A|B|C|D|2025||ADT|\xe9t\xe9|P", "?t?"),
        (b"MSH|^~\\&|A|B|C|D|2025||ADT|A|B^C|P", "A"),
        (b"MSH|^~\\&|A|B", ""),
        (b"MSH", ""),
        (b"\x00\xff\x00", ""),
        (b"", ""),
        (None, ""),
    ],
    ids=[
        "readable", "other-separator", "non-ascii", "delimiter", "short", "msh-only", "binary",
        "empty", "none",
    ],
)  # fmt: skip
def test_ack_for_unparseable_input(raw: bytes | None, reference: str) -> None:
    data = build_ack(
        None, "AR", control_id="HUB-3", timestamp=STAMP, raw_fallback=raw,
        error=ParseError("bad", segment="MSH", field=1, code="100", reject=True),
    )  # fmt: skip
    data.decode("ascii")
    assert data.startswith(b"MSH|^~\\&|HUB|HUB|||")
    ack = read_back(data)
    assert field(ack, "MSH", 9) == "ACK"
    assert ack.unescape(field(ack, "MSA", 2)) == reference
    assert field(ack, "ERR", 2) == "MSH^1^1"
    assert parse_ack(data).control_id == reference


def test_fallback_control_id_reads_msh_10() -> None:
    assert fallback_control_id(b"junk\rMSH|^~\\&|A|B|C|D|2025||ADT|  X1 |P") == "X1"


@pytest.mark.parametrize("code", sorted(ACK_CODES))
def test_round_trip_every_code(load: Load, code: str) -> None:
    original = parse(load("pam_fr_adt_a40.er7"))
    error = ParseError("boom", segment="MRG", field=1, code="204") if code[1] != "A" else None
    reply = parse_ack(build_ack(original, code, control_id="H", timestamp=STAMP, error=error))
    assert (reply.code, reply.control_id) == (code, "MSG-0002")
    assert reply.error_code == ("204" if error else "")
    assert reply.accepted is (code in {"AA", "CA"})


def test_unknown_code_is_refused(load: Load) -> None:
    with pytest.raises(ValueError, match="'AX'"):
        build_ack(parse(load("pam_fr_adt_a01.er7")), "AX", control_id="H", timestamp=STAMP)


def test_table_0357_has_the_codes_the_hub_uses() -> None:
    codes = {
        "0",
        "100",
        "101",
        "102",
        "103",
        "200",
        "201",
        "202",
        "203",
        "204",
        "205",
        "206",
        "207",
    }
    assert set(HL7_TABLE_0357) == codes


def test_parse_ack_v25(load: Load) -> None:
    reply = parse_ack(load("ack_ae_v25.er7"))
    assert (reply.code, reply.control_id, reply.text, reply.error_code) == (
        "AE",
        "MSG-0001",
        "PID-3 est vide",
        "101",
    )
    assert not reply.accepted


def test_parse_ack_v23_with_bare_ack_and_eld(load: Load) -> None:
    reply = parse_ack(load("ack_ar_v23.er7"))
    assert (reply.code, reply.text, reply.error_code) == ("AR", "Segment PID manquant", "100")


@pytest.mark.parametrize(
    ("data", "segment", "code", "quoted"),
    [
        (b"MSH|^~\\&|A|B|C|D|2025||ADT^A01|C1|P|2.5\rPID|1", "MSA", "100", "'ADT^A01'"),
        (b"MSH|^~\\&|A|B|C|D|2025||ACK|C1|P|2.5\rMSA|XX|C0", "MSA", "103", "'XX'"),
        (b"MSH|^~\\&|A|B|C|D|2025||ACK|C1|P|2.5\rMSA||C0", "MSA", "101", "''"),
        (b"HTTP/1.1 200 OK", "MSH", "100", "HTTP"),
    ],
    ids=["not-an-ack", "bad-code", "empty-code", "not-hl7"],
)
def test_parse_ack_refuses_what_is_not_an_ack(
    data: bytes, segment: str, code: str, quoted: str
) -> None:
    with pytest.raises(ParseError) as caught:
        parse_ack(data)
    assert (caught.value.segment, caught.value.code) == (segment, code)
    assert quoted in str(caught.value)


def test_parse_ack_on_shared_samples(shared_sample: Path) -> None:
    data = shared_sample.read_bytes()
    if parse(data).message_type != "ACK":
        with pytest.raises(ParseError, match="no MSA segment"):
            parse_ack(data)
        return
    reply = parse_ack(data)
    assert (reply.code, reply.control_id, reply.accepted) == ("AA", "015", True)


def test_ack_for_every_shared_sample(shared_sample: Path) -> None:
    original: Message = parse(shared_sample.read_bytes())
    data = build_ack(original, "AA", control_id="HUB-9", timestamp=STAMP)
    ack = read_back(data, original.charset)
    assert field(ack, "MSA", 2) == original.control_id
    assert field(ack, "MSH", 10) == "HUB-9"


def test_building_an_aa_takes_at_most_30_microseconds(load: Load) -> None:
    original = parse(load("pam_fr_adt_a01.er7"))

    def build() -> bytes:
        return build_ack(original, "AA", control_id="HUB-1", timestamp=STAMP)

    best = min(timeit.repeat(build, number=500, repeat=5)) / 500
    assert best <= 30e-6
