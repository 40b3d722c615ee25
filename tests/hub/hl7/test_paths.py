"""hub.hl7.paths: the route files' field path syntax, selection and HL7 escapes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hub.hl7.er7 import Encoding, parse
from hub.hl7.paths import Path, compile_path, escape, unescape

Load = Callable[[str], bytes]
STANDARD = Encoding("|", "^", "~", "\\", "&")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MSH-4.1", ("MSH", 1, 4, 1, 1, None)),
        ("PID-3[*].5", ("PID", 1, 3, None, 5, None)),
        ("PID-3[2].4.2", ("PID", 1, 3, 2, 4, 2)),
        ("OBX[*]-5", ("OBX", None, 5, 1, None, None)),
        ("OBX[2]-3.1", ("OBX", 2, 3, 1, 1, None)),
        ("ZBE[*]-7[*].10", ("ZBE", None, 7, None, 10, None)),
        ("  PV1-2 ", ("PV1", 1, 2, 1, None, None)),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_compile(text: str, expected: tuple[object, ...]) -> None:
    path = compile_path(text)
    parts = (
        path.segment,
        path.occurrence,
        path.field,
        path.repetition,
        path.component,
        path.subcomponent,
    )
    assert parts == expected
    assert str(path) == text.strip()


def test_compile_is_cached() -> None:
    assert compile_path("PID-3[*].1") is compile_path("PID-3[*].1")
    assert isinstance(compile_path("PID-3"), Path)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no '-'"),
        ("PID", "no '-'"),
        ("PID-", "field ''"),
        ("PID-0", "field '0'"),
        ("pid-3", "segment 'pid'"),
        ("PI-3", "segment 'PI'"),
        ("PIDX-3", "segment 'PIDX'"),
        ("PID-3[0]", r"repetition \[0\]"),
        ("PID-3[x]", r"repetition \[x\]"),
        ("PID-3[]", r"repetition \[\]"),
        ("OBX[0]-5", r"occurrence \[0\]"),
        ("OBX[]-5", r"occurrence \[\]"),
        ("OBX[*-5", "segment 'OBX"),
        ("PID-3.0", "component '0'"),
        ("PID-3.a", "component 'a'"),
        ("PID-3.1.0", "subcomponent '0'"),
        ("PID-3.1.2.3", "more than field.component.subcomponent"),
        ("PID-3[*]]", "field"),
        ("PID-3-1", "field '3-1'"),
        ("PID-3.", "component ''"),
    ],
    ids=lambda value: value or "empty",
)
def test_bad_syntax_is_a_value_error_naming_the_part(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as caught:
        compile_path(text)
    assert "expected SEG" in str(caught.value)


SELECTIONS = [
    ("pam_fr_adt_a01.er7", "PID-3[*].1", ["445566", "284056311304540"]),
    ("pam_fr_adt_a01.er7", "PID-3.1", ["445566"]),
    ("pam_fr_adt_a01.er7", "PID-3[2].4.2", ["1.2.250.1.213.1.4.10"]),
    ("pam_fr_adt_a01.er7", "PID-3[*].4.1", ["CH-EXEMPLE", "ASIP-SANTE-INS-NIR"]),
    ("pam_fr_adt_a01.er7", "PID-3[3].1", []),
    ("pam_fr_adt_a01.er7", "PID-3.4.9", []),
    ("pam_fr_adt_a01.er7", "PID-3.99", []),
    ("pam_fr_adt_a01.er7", "PID-5[*].1", ["MARTIN", "DUPUIS"]),
    ("pam_fr_adt_a01.er7", "PID-5[*].7", ["L", "D"]),
    ("pam_fr_adt_a01.er7", "PID-13[2].4", ["claire.martin@example.org"]),
    ("pam_fr_adt_a01.er7", "PID-99", []),
    ("pam_fr_adt_a01.er7", "PID-2", []),
    ("pam_fr_adt_a01.er7", "XYZ-1", []),
    ("pam_fr_adt_a01.er7", "MSH-1", ["|"]),
    ("pam_fr_adt_a01.er7", "MSH-2", ["^~\\&"]),
    ("pam_fr_adt_a01.er7", "MSH-2.2", []),
    ("pam_fr_adt_a01.er7", "MSH-9", ["ADT^A01^ADT_A01"]),
    ("pam_fr_adt_a01.er7", "MSH-12.3", ["2.11"]),
    ("pam_fr_adt_a01.er7", "MSH[2]-3", []),
    ("pam_fr_adt_a01.er7", "ZBE-4", ["INSERT"]),
    ("pam_fr_adt_a01.er7", "PV1-3.4.2", ["1.2.250.1.71.4.2.2.999"]),
    ("pam_fr_adt_a40.er7", "MRG-1.1", ["445599"]),
    ("cisis_oru_r01.er7", "OBX[*]-3.1", ["11502-2", "DESTDMP", "DESTMSSANTEPS", "ACK_RECEPTION"]),
    ("cisis_oru_r01.er7", "OBX[2]-5.1", ["Y"]),
    ("cisis_oru_r01.er7", "OBX[*]-5.1", ["Y", "Y", "Y"]),
    ("cisis_oru_r01.er7", "OBX[1]-5.4", ["Base64"]),
    ("cisis_oru_r01.er7", "OBX[4]-3.2", ["Accusé de réception"]),
    ("cisis_oru_r01.er7", "OBX[9]-1", []),
    ("cisis_oru_r01.er7", "OBX[*]-1", ["1", "2", "3", "4"]),
    ("cisis_oru_r01.er7", "PRT-15.4", ["luc.bernard@test.mssante.fr"]),
    ("cisis_oru_r01_u02dc.er7", "PID-11[*].7", ["H", "BDL"]),
    ("cisis_oru_r01_u02dc.er7", "PID-11[2].9", ["63178"]),
]


@pytest.mark.parametrize(
    ("name", "path", "expected"),
    SELECTIONS,
    ids=[f"{name.split('.')[0]}:{path}" for name, path, _ in SELECTIONS],
)
def test_select(load: Load, name: str, path: str, expected: list[str]) -> None:
    message = parse(load(name))
    assert compile_path(path).select(message) == expected
    assert message.get(path) == expected
    assert message.first(path) == (expected[0] if expected else "")


def test_values_are_unescaped(load: Load) -> None:
    message = parse(load("cisis_oru_r01.er7"))
    assert message.get("NTE-3") == [
        "Taux ^ normes & seuils: voir | annexe\nsuite \\ fin é",
    ]


def test_three_encoding_characters_have_no_subcomponents() -> None:
    message = parse(b"MSH|^~\\|A|B|C|D|2025||ADT^A01|C1|P|2.5\rPID|1||7^^^X&Y^PI")
    assert message.get("PID-3.4.1") == ["X&Y"]
    assert message.get("PID-3.4.2") == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain", "plain"),
        ("a\\F\\b", "a|b"),
        ("a\\S\\b", "a^b"),
        ("a\\T\\b", "a&b"),
        ("a\\R\\b", "a~b"),
        ("a\\E\\b", "a\\b"),
        ("line\\.br\\next", "line\nnext"),
        ("\\X41\\", "A"),
        ("caf\\XC3A9\\", "café"),
        ("\\F\\\\S\\", "|^"),
        ("\\H\\bold\\N\\", "\\H\\bold\\N\\"),
        ("\\XZZ\\", "\\XZZ\\"),
        ("\\XC3\\", "\\XC3\\"),
        ("a\\Fb", "a\\Fb"),
        ("trailing\\", "trailing\\"),
        ("\\\\", "\\\\"),
        ("\\Zlocal\\", "\\Zlocal\\"),
    ],
    ids=[
        "plain", "F", "S", "T", "R", "E", "br", "hex-ascii", "hex-utf8", "adjacent",
        "highlight-kept", "bad-hex", "truncated-utf8-hex", "unterminated", "trailing",
        "empty-sequence", "local-Z",
    ],
)  # fmt: skip
def test_unescape(raw: str, expected: str) -> None:
    assert unescape(raw, STANDARD) == expected


def test_unescape_hex_uses_the_message_charset() -> None:
    assert unescape("\\XE9\\", STANDARD, "iso-8859-1") == "é"


def test_unescape_with_other_delimiters() -> None:
    other = Encoding("#", "$", "*", "!", "@")
    assert unescape("a!F!b!S!c!R!d!T!e!E!f", other) == "a#b$c*d@e!f"
    assert unescape("no\\F\\change", other) == "no\\F\\change"


@pytest.mark.parametrize(
    "value",
    ["a|b^c~d\\e&f", "\\F\\ literal", "plain", "", "é˜€", "line\nnext"],
    ids=["delimiters", "escape-lookalike", "plain", "empty", "non-ascii", "newline"],
)
def test_escape_round_trip(value: str) -> None:
    escaped = escape(value, STANDARD)
    assert not set("|^~&\r\n") & set(escaped)
    assert unescape(escaped, STANDARD) == value


def test_escape_line_breaks() -> None:
    assert escape("a\r\nb\rc", STANDARD) == "a\\.br\\b\\.br\\c"
