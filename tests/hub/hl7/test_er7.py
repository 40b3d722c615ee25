"""hub.hl7.er7: segment endings, charsets, encoding characters, MSH checks, errors."""

from __future__ import annotations

import random
import timeit
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.errors import ParseError
from hub.hl7.er7 import Encoding, Message, detect_charset, parse

FIXTURES = [
    "pam_fr_adt_a01.er7",
    "pam_fr_adt_a40.er7",
    "pam_fr_adt_a28_latin1.er7",
    "cisis_oru_r01.er7",
    "cisis_oru_r01_u02dc.er7",
]

Load = Callable[[str], bytes]


def msh(
    *,
    msh9: str = "ADT^A01^ADT_A01",
    msh10: str = "C1",
    msh12: str = "2.5",
    msh18: str = "",
    chars: str = "^~\\&",
) -> str:
    """An MSH line with the given values (HL7 v2.5 field positions)."""
    return (
        f"MSH|{chars}|APP|FAC|HUB|GRADES|20250101120000||{msh9}|{msh10}|P|{msh12}|||||FRA|{msh18}"
    )


def message(*segments: str, msh18: str = "", charset: str = "utf-8") -> bytes:
    return "\r".join([msh(msh18=msh18), *segments]).encode(charset)


def with_endings(data: bytes, ending: bytes) -> bytes:
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    return ending.join(lines)


@pytest.mark.parametrize("ending", [b"\r", b"\n", b"\r\n"], ids=["CR", "LF", "CRLF"])
@pytest.mark.parametrize("name", FIXTURES)
def test_every_segment_ending_gives_the_same_message(load: Load, name: str, ending: bytes) -> None:
    reference = parse(load(name))
    parsed = parse(with_endings(load(name), ending))
    assert [s.text for s in parsed.segments] == [s.text for s in reference.segments]
    assert parsed.text == "\r".join(s.text for s in reference.segments)
    assert "\n" not in parsed.text


@pytest.mark.parametrize(
    "noise",
    [b"\r\r", b"\n\n\n", b"\r\n   \r\n", b"\r\t\r", b"   "],
    ids=["empty-CR", "empty-LF", "blank-CRLF", "tab", "trailing-spaces"],
)
def test_empty_and_blank_segments_are_dropped(load: Load, noise: bytes) -> None:
    data = load("pam_fr_adt_a01.er7")
    lines = data.rstrip(b"\n").split(b"\n")
    noisy = lines[0] + b"\r" + noise + b"\r".join(lines[1:]) + noise
    assert [s.id for s in parse(noisy).segments] == [s.id for s in parse(data).segments]


@pytest.mark.parametrize(
    "prefix",
    [b"\xef\xbb\xbf", b"\r\n", b"  \n\t", b"\xef\xbb\xbf\r\n"],
    ids=["BOM", "CRLF", "ws", "BOM+CRLF"],
)
def test_leading_bom_and_whitespace_are_tolerated(load: Load, prefix: bytes) -> None:
    assert parse(prefix + load("pam_fr_adt_a01.er7")).control_id == "MSG-0001"


def test_msh_shortcuts(load: Load) -> None:
    parsed = parse(load("pam_fr_adt_a01.er7"))
    assert (parsed.sending_application, parsed.sending_facility) == ("GAM_TEST", "CH-EXEMPLE")
    assert (parsed.receiving_application, parsed.receiving_facility) == ("HUB", "GRADES-TEST")
    assert (parsed.message_type, parsed.trigger_event, parsed.message_structure) == (
        "ADT",
        "A01",
        "ADT_A01",
    )
    assert (parsed.control_id, parsed.processing_id, parsed.version_id) == ("MSG-0001", "P", "2.5")
    assert (parsed.accept_ack_type, parsed.application_ack_type) == ("AL", "NE")
    assert parsed.character_set == "UNICODE UTF-8"
    assert parsed.charset == "utf-8"
    assert parsed.encoding == Encoding("|", "^", "~", "\\", "&")


def test_msh_field_numbering_is_the_standard_one(load: Load) -> None:
    header = parse(load("pam_fr_adt_a01.er7")).segments[0]
    assert (header.field(1), header.field(2), header.field(3)) == ("|", "^~\\&", "GAM_TEST")
    assert header.field(10) == "MSG-0001"
    assert header.field(99) == ""
    assert len(header) == 21
    with pytest.raises(ValueError, match="start at 1"):
        header.field(0)


def test_pam_france_identity_fields(load: Load) -> None:
    parsed = parse(load("pam_fr_adt_a01.er7"))
    assert parsed.get("PID-3[*].5") == ["PI", "INS"]
    assert parsed.first("PID-3[2].1") == "284056311304540"
    assert parsed.first("PID-3[2].4.2") == "1.2.250.1.213.1.4.10"
    assert parsed.first("PID-32") == "VALI"
    assert parsed.patient_key() == "445566@CH-EXEMPLE"


def test_z_segments_are_kept_and_addressable(load: Load) -> None:
    parsed = parse(load("pam_fr_adt_a01.er7"))
    assert [s.id for s in parsed.segments][-3:] == ["ZBE", "ZFA", "ZFD"]
    assert parsed.first("ZBE-4") == "INSERT"
    assert parsed.first("ZFD-5") == "INSI"


def test_merge_message(load: Load) -> None:
    parsed = parse(load("pam_fr_adt_a40.er7"))
    assert (parsed.trigger_event, parsed.message_structure) == ("A40", "ADT_A39")
    assert parsed.first("MRG-1.1") == "445599"
    assert parsed.patient_key() == "445566@CH-EXEMPLE"


def test_u02dc_tilde_is_the_repetition_separator(load: Load) -> None:
    data = load("cisis_oru_r01_u02dc.er7")
    assert b"^\xcb\x9c\\&" in data
    parsed = parse(data)
    assert parsed.encoding.repetition == "\u02dc"
    assert parsed.get("PID-11[*].7") == ["H", "BDL"]
    assert parsed.first("PID-11[2].9") == "63178"
    assert parsed.first("MSH-2") == "^\u02dc\\&"


def test_latin1_fixture_decodes_with_msh18(load: Load) -> None:
    parsed = parse(load("pam_fr_adt_a28_latin1.er7"))
    assert parsed.charset == "iso-8859-1"
    assert parsed.get("PID-5.1") == ["LEFÈVRE"]
    assert parsed.first("PID-11.3") == "CÉBAZAT"


@pytest.mark.parametrize(
    ("msh18", "charset", "text"),
    [
        ("8859/1", "iso-8859-1", "Hélène"),
        ("8859/15", "iso-8859-15", "Zoé 10 €"),
        ("UNICODE UTF-8", "utf-8", "Hélène ŒUF ˜"),
        ("ASCII", "ascii", "Helene"),
        ("unicode utf-8", "utf-8", "Hélène"),
    ],
    ids=["8859-1", "8859-15-euro", "utf-8", "ascii", "lowercase"],
)
def test_declared_charsets(msh18: str, charset: str, text: str) -> None:
    parsed = parse(message(f"PID|1||1^^^A^PI||{text}", msh18=msh18, charset=charset))
    assert parsed.charset == charset
    assert parsed.first("PID-5") == text


@pytest.mark.parametrize(
    ("default", "expected"),
    [("utf-8", "Hélène"), ("iso-8859-1", "HÃ©lÃ¨ne")],
    ids=["utf-8", "latin-1"],
)
def test_empty_msh18_uses_the_default_charset(default: str, expected: str) -> None:
    parsed = parse(message("PID|1||1^^^A^PI||Hélène"), default_charset=default)
    assert parsed.charset == default
    assert parsed.first("PID-5") == expected


def test_three_and_five_encoding_characters() -> None:
    three = parse((msh(chars="^~\\") + "\rPID|1||1^^^AUTH^PI~2^^^OTHER^PI").encode())
    assert three.encoding.subcomponent == ""
    assert three.get("PID-3[*].4") == ["AUTH", "OTHER"]
    five = parse((msh(chars="^~\\&#", msh12="2.7") + "\rPID|1||1^^^A&1.2&ISO^PI").encode())
    assert five.encoding == Encoding("|", "^", "~", "\\", "&")
    assert five.first("PID-3.4.2") == "1.2"


def test_other_field_separator() -> None:
    parsed = parse(b"MSH#^~\\&#APP#FAC#HUB#G#2025##ADT^A01#C9#P#2.5\rPID#1##7^^^X^PI")
    assert parsed.control_id == "C9"
    assert parsed.first("MSH-1") == "#"
    assert parsed.patient_key() == "7@X"


@pytest.mark.parametrize(
    ("pid3", "key"),
    [
        ("12^^^CHU&1.2.3&ISO^PI", "12@CHU"),
        ("12^^^&1.2.3&ISO^PI", "12@1.2.3"),
        ("12^^^^PI", "12@"),
        ("A\\S\\B^^^X^PI", "A^B@X"),
        ("", None),
    ],
    ids=["namespace", "oid-only", "no-authority", "escaped", "empty"],
)
def test_patient_key(pid3: str, key: str | None) -> None:
    assert parse(message(f"PID|1||{pid3}")).patient_key() == key


def test_no_pid_means_no_patient_key(load: Load) -> None:
    assert parse(load("ack_ae_v25.er7")).patient_key() is None


def test_segment_lookup(load: Load) -> None:
    parsed = parse(load("cisis_oru_r01.er7"))
    first = parsed.segment("OBX")
    assert first is not None and first.field(1) == "1"
    assert [s.field(1) for s in parsed.segments_named("OBX")] == ["1", "2", "3", "4"]
    assert parsed.segment("ZZZ") is None
    assert parsed.segments_named("ZZZ") == []
    assert "LAB-0042" in repr(parsed) and "PETIT" not in repr(parsed)


BAD = [
    pytest.param(b"PID|1||1", "100", "MSH", 1, True, "must start with 'MSH'", id="no-MSH"),
    pytest.param(b"", "100", "MSH", 1, True, "must start with 'MSH'", id="empty"),
    pytest.param("MSH|^~\\&".encode("utf-16"), "100", "MSH", 1, True, "MSH", id="utf-16"),
    pytest.param(b"MSH", "101", "MSH", 1, True, "MSH-1", id="MSH-only"),
    pytest.param(b"MSH\rPID|1", "101", "MSH", 1, True, "MSH-1", id="MSH-no-separator"),
    pytest.param(b"MSH|", "101", "MSH", 2, True, "MSH-2", id="MSH-2-empty"),
    pytest.param(b"MSH|^~|A", "102", "MSH", 2, True, "'^~'", id="MSH-2-two-chars"),
    pytest.param(b"MSH|^^\\&|A", "102", "MSH", 2, True, "'^^\\&'", id="MSH-2-duplicate"),
    pytest.param(b"MSH|^~\\&|A|B|C|D|2025", "101", "MSH", 9, True, "MSH-9", id="truncated-MSH"),
    pytest.param(msh(msh9="ADT").encode(), "101", "MSH", 9, True, "'ADT'", id="MSH-9-no-trigger"),
    pytest.param(
        msh(msh9="ADT^A0X1").encode(), "201", "MSH", 9, True, "'ADT^A0X1'", id="MSH-9-bad-trigger"
    ),
    pytest.param(
        msh(msh9="adt^A01").encode(), "200", "MSH", 9, True, "'adt'", id="MSH-9-lowercase"
    ),
    pytest.param(msh(msh9="AD^A01").encode(), "200", "MSH", 9, True, "'AD'", id="MSH-9-short-type"),
    pytest.param(
        msh(msh10="").encode(),
        "101",
        "MSH",
        10,
        True,
        "MSH-10 (message control id) is empty",
        id="MSH-10-empty",
    ),
    pytest.param(msh(msh12="").encode(), "101", "MSH", 12, True, "MSH-12", id="MSH-12-empty"),
    pytest.param(
        msh(msh18="UTF-8").encode(), "103", "MSH", 18, False, "'UTF-8'", id="MSH-18-unknown"
    ),
    pytest.param(
        msh(msh18="UNICODE UTF-16").encode(),
        "103",
        "MSH",
        18,
        False,
        "not supported",
        id="MSH-18-utf16",
    ),
    pytest.param(
        message("PID|1||1^^^A^PI||Hélène", msh18="UNICODE UTF-8", charset="iso-8859-1"),
        "102",
        "MSH",
        18,
        False,
        "utf-8",
        id="declared-utf8-sent-latin1",
    ),
    pytest.param(
        message("PID|1||1^^^A^PI||Hélène", msh18="ASCII"),
        "102",
        "MSH",
        18,
        False,
        "ascii",
        id="declared-ascii",
    ),
    pytest.param(
        message("pid|1||1"), "100", "pid", None, False, "line 2", id="lowercase-segment-id"
    ),
    pytest.param(message("PIDX|1"), "100", "PID", None, False, "'PIDX|1'", id="long-segment-id"),
    pytest.param(
        message("EVN|1", "P|1"), "100", "P|1", None, False, "line 3", id="short-segment-id"
    ),
    pytest.param(message("PÏD|1"), "100", "PÏD", None, False, "line 2", id="non-ascii-segment-id"),
    pytest.param(message("EVN|A01", msh(msh10="SECOND-ID"), "PID|1"), "100",
                 "MSH", None, True, "segment 3 is a second MSH (control id 'SECOND-ID')",
                 id="second-msh"),
]


@pytest.mark.parametrize(("data", "code", "segment", "field", "reject", "quoted"), BAD)
def test_bad_input_raises_a_located_parse_error(
    data: bytes, code: str, segment: str, field: int | None, reject: bool, quoted: str
) -> None:
    with pytest.raises(ParseError) as caught:
        parse(data)
    error = caught.value
    assert (error.code, error.segment, error.field, error.reject) == (code, segment, field, reject)
    assert quoted in str(error)


def test_undecodable_byte_names_the_offset() -> None:
    data = message("PID|1||1^^^A^PI||Hélène", msh18="UNICODE UTF-8", charset="iso-8859-1")
    position = data.index(b"\xe9") + 2
    with pytest.raises(ParseError, match=f"offset {position}") as caught:
        parse(b"\r\n" + data)
    assert "E9" in str(caught.value)
    assert "MSH-18" in str(caught.value)


def test_segment_ids_after_leading_blanks_are_accepted() -> None:
    assert [s.id for s in parse(message("  PID|1||1^^^A^PI")).segments] == ["MSH", "PID"]


def test_header_checks_can_be_skipped_for_replies(load: Load) -> None:
    parsed = parse(load("ack_ar_v23.er7"), check_header=False)
    assert (parsed.message_type, parsed.trigger_event) == ("ACK", "")
    with pytest.raises(ParseError, match="trigger event"):
        parse(load("ack_ar_v23.er7"))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (msh(msh18="8859/15").encode(), "iso-8859-15"),
        (b"\xef\xbb\xbf" + msh(msh18="8859/1").encode(), "iso-8859-1"),
        (msh(msh18="UNICODE UTF-8~8859/1").encode(), "utf-8"),
        (msh(msh18=" 8859/1 ").encode(), "iso-8859-1"),
        (msh().encode(), "default"),
        (b"MSH|^~\\&|A", "default"),
        (b"not hl7 at all", "default"),
    ],
    ids=["8859-15", "bom", "first-repetition", "padded", "empty", "short-msh", "not-hl7"],
)
def test_detect_charset(data: bytes, expected: str) -> None:
    assert detect_charset(data, "default") == expected


def test_detect_charset_reads_the_raw_u02dc_line(load: Load) -> None:
    assert detect_charset(load("cisis_oru_r01_u02dc.er7")) == "utf-8"


def _mutations(seed: int, count: int, data: bytes) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        out.append(bytes(mutated))
    return out


def test_never_crashes_on_truncated_or_mutated_input(load: Load) -> None:
    data = load("cisis_oru_r01_u02dc.er7")
    inputs = [data[:cut] for cut in range(0, len(data), 7)] + _mutations(57, 300, data)
    for sample in inputs:
        try:
            parsed = parse(sample)
        except ParseError as error:
            assert error.code in {"100", "101", "102", "103", "200", "201"}
            assert str(error)
        else:
            assert isinstance(parsed, Message)
            parsed.get("PID-3[*].4.2")
            parsed.patient_key()


def test_parsing_a_1kb_adt_takes_well_under_100_microseconds(load: Load) -> None:
    data = load("pam_fr_adt_a01.er7")
    best = min(timeit.repeat(lambda: parse(data), number=200, repeat=5)) / 200
    assert best < 100e-6


def test_every_shared_sample_parses(shared_sample: Path) -> None:
    parsed = parse(shared_sample.read_bytes())
    assert parsed.control_id
    assert parsed.message_type in {"ADT", "ORU", "MDM", "ACK"}
    assert all(len(segment.id) == 3 for segment in parsed.segments)
