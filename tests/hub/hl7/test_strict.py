"""hub.hl7.strict: hl7apy strict validation translated into located ParseErrors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hub.errors import ParseError
from hub.hl7 import strict
from hub.hl7.er7 import parse
from hub.hl7.strict import STRUCTURES, validate_strict

Load = Callable[[str], bytes]
VALID = [
    "pam_fr_adt_a01.er7",
    "pam_fr_adt_a40.er7",
    "pam_fr_adt_a28_latin1.er7",
    "cisis_oru_r01.er7",
    "cisis_oru_r01_u02dc.er7",
    "ack_ae_v25.er7",
]


@pytest.mark.parametrize("name", VALID)
def test_valid_fixtures_have_no_errors(load: Load, name: str) -> None:
    assert validate_strict(parse(load(name))) == []


def _a01(load: Load, change: Callable[[list[str]], list[str]]) -> bytes:
    lines = load("pam_fr_adt_a01.er7").decode().rstrip("\n").split("\n")
    return "\r".join(change(lines)).encode()


def _replace(old: str, new: str) -> Callable[[list[str]], list[str]]:
    return lambda lines: [line.replace(old, new) for line in lines]


def _insert(index: int, segment: str) -> Callable[[list[str]], list[str]]:
    return lambda lines: [*lines[:index], segment, *lines[index:]]


def _drop(sid: str) -> Callable[[list[str]], list[str]]:
    return lambda lines: [line for line in lines if not line.startswith(sid)]


PID_3 = (
    "445566^^^CH-EXEMPLE&1.2.250.1.71.4.2.2.999&ISO^PI~"
    "284056311304540^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS^^20240301"
)
MSH_9 = "ADT^A01^ADT_A01"
INVALID = [
    pytest.param(_drop("PV1"), "PV1", None, "100", "Missing required child", id="missing-PV1"),
    pytest.param(
        _replace("|19840512|", "|1984-05-12|"), "PID", 7, "102", "'1984-05-12'", id="bad-date"
    ),
    pytest.param(_replace(PID_3, ""), "PID", 3, "101", "PID_3", id="missing-PID-3"),
    pytest.param(_insert(3, "XYZ|1"), "XYZ", None, "100", "segment 4 (XYZ)", id="unknown-segment"),
    pytest.param(
        lambda lines: [*lines[:3], lines[2], *lines[3:]], "PID", None, "100", "max limit",
        id="two-PID",
    ),
    pytest.param(
        _replace("|MSG-0001|", "|" + "7" * 250 + "|"), "MSH", 10, "102", "250 characters",
        id="long-MSH-10",
    ),
    pytest.param(
        _replace("PD1|", "PD1|" + "|" * 40), "PD1", 52, "102", "PD1-52 is 'N'",
        id="field-beyond-definition",
    ),
    pytest.param(_replace("2.5^FRA^2.11", "9.9"), "MSH", 12, "203", "'9.9'", id="unknown-version"),
    pytest.param(_replace(MSH_9, "QQQ^A01"), "MSH", 9, "200", "'QQQ'", id="unknown-type"),
    pytest.param(_replace(MSH_9, "ADT^Q99"), "MSH", 9, "201", "'Q99'", id="unknown-event"),
    pytest.param(
        _replace(MSH_9, "ADT^A01^ADT_A99"), "MSH", 9, "200", "ADT_A99", id="unknown-structure"
    ),
]  # fmt: skip


@pytest.mark.parametrize(("change", "segment", "field", "code", "quoted"), INVALID)
def test_invalid_messages_give_located_errors(
    load: Load,
    change: Callable[[list[str]], list[str]],
    segment: str,
    field: int | None,
    code: str,
    quoted: str,
) -> None:
    errors = validate_strict(parse(_a01(load, change)))
    assert len(errors) == 1
    error = errors[0]
    assert isinstance(error, ParseError)
    assert (error.segment, error.field, error.code) == (segment, field, code)
    assert quoted in str(error)


def test_header_errors_reject(load: Load) -> None:
    [error] = validate_strict(parse(_a01(load, _replace("2.5^FRA^2.11", "9.9"))))
    assert error.reject


def test_one_error_per_faulty_segment(load: Load) -> None:
    change = _replace("|19840512|", "|1984-05-12|")
    data = _a01(load, lambda lines: _insert(5, "XYZ|1")(change(lines)))
    errors = validate_strict(parse(data))
    assert [(e.segment, e.code) for e in errors] == [("PID", "102"), ("XYZ", "100")]


def test_missing_structure_is_taken_from_table_0354(load: Load) -> None:
    data = load("pam_fr_adt_a40.er7").replace(b"ADT^A40^ADT_A39", b"ADT^A40")
    assert validate_strict(parse(data)) == []
    assert STRUCTURES["ADT", "A40"] == "ADT_A39"
    assert STRUCTURES["ADT", "A28"] == "ADT_A05"


def test_three_encoding_characters_are_accepted(load: Load) -> None:
    data = (
        load("pam_fr_adt_a40.er7")
        .replace(b"^~\\&", b"^~\\")
        .replace(b"&1.2.250.1.71.4.2.2.999&ISO", b"")
    )
    assert validate_strict(parse(data)) == []


def test_segment_out_of_place_is_reported(load: Load) -> None:
    data = load("pam_fr_adt_a40.er7").decode().split("\n")
    data.insert(1, "PV2|||")
    errors = validate_strict(parse("\r".join(data).encode()))
    assert [(e.segment, e.code) for e in errors] == [("PV2", "100")]
    assert "segment 2 (PV2)" in str(errors[0])


def test_unexpected_hl7apy_failure_becomes_207(load: Load, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("internal")

    monkeypatch.setattr(strict, "parse_segment", explode)
    [error] = validate_strict(parse(load("pam_fr_adt_a01.er7")))
    assert error.code == "207"
    assert "RuntimeError: internal" in str(error)


def test_every_shared_sample_passes_strict_validation(shared_sample: Path) -> None:
    assert validate_strict(parse(shared_sample.read_bytes())) == []
