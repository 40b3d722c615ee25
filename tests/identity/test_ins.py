"""INS checks: key, shape, Corsica, OIDs, CX-5."""

from __future__ import annotations

import pytest

from identity.errors import IdentityError, InsError
from identity.ins import (
    DEMO_OID,
    NIA_OID,
    NIR_OID,
    TEST_OID,
    InsKind,
    check_ins_value,
    ins_from_cx,
    ins_key,
    is_valid_ins_value,
    parse_ins,
    usable_ins,
)
from tests.identity.conftest import nir


def test_published_sample_ins_is_valid() -> None:
    # PAM France 2.11.2 sample PID-3: 260058815400233^^^ASIP-SANTE-INS-NIR
    assert ins_key("2600588154002") == 33
    assert check_ins_value("260058815400233") == "260058815400233"


def test_spaces_are_ignored() -> None:
    assert check_ins_value("2 60 05 88 154 002 33") == "260058815400233"


@pytest.mark.parametrize(("value", "reason"), [
    ("260058815400234", "key"),
    ("26005881540023", "14 characters"),
    ("2600588154002333", "16 characters"),
    ("26005881540A233", "digits"),
    ("", "0 characters"),
], ids=["wrong-key", "too-short", "too-long", "letter", "empty"])
def test_invalid_values_are_refused(value: str, reason: str) -> None:
    with pytest.raises(InsError, match=reason) as caught:
        check_ins_value(value)
    assert caught.value.value == value
    assert isinstance(caught.value, IdentityError)
    assert not is_valid_ins_value(value)


def test_corsica_2a_counts_as_19_and_2b_as_18() -> None:
    body_2a, body_2b = "185052A004123", "185052B033123"
    key_2a = 97 - int("1850519004123") % 97
    key_2b = 97 - int("1850518033123") % 97
    assert ins_key(body_2a) == key_2a
    assert ins_key(body_2b) == key_2b
    assert check_ins_value(f"{body_2a}{key_2a:02d}") == f"{body_2a}{key_2a:02d}"
    assert check_ins_value(f"{body_2b.lower()}{key_2b:02d}") == f"{body_2b}{key_2b:02d}"
    with pytest.raises(InsError, match="key"):
        check_ins_value(f"{body_2a}{key_2b:02d}")


def test_nir_and_nia_oids() -> None:
    value = nir("1800375056123")
    assert parse_ins(value, NIR_OID).kind is InsKind.NIR
    assert parse_ins(value, NIA_OID).kind is InsKind.NIA


@pytest.mark.parametrize("oid", [TEST_OID, DEMO_OID])
def test_test_and_demo_oids_only_in_test_mode(oid: str) -> None:
    value = nir("1800375056123")
    with pytest.raises(InsError, match="test mode"):
        parse_ins(value, oid)
    assert parse_ins(value, oid, test_mode=True).oid == oid


def test_unknown_oid_is_refused_even_in_test_mode() -> None:
    with pytest.raises(InsError, match="not an INS authority"):
        parse_ins(nir("1800375056123"), "1.2.250.1.71.4.2.7", test_mode=True)


def test_cx5_ins_is_an_ins_and_nh_is_not() -> None:
    value = nir("1800375056123")
    assert ins_from_cx(value, "INS", NIR_OID) is not None
    assert ins_from_cx(value, "NH", NIR_OID) is None
    assert ins_from_cx(value, "PI", NIR_OID) is None
    with pytest.raises(InsError):
        ins_from_cx(value[:-1] + "0" if value[-1] != "0" else value[:-1] + "1", "INS", NIR_OID)


def test_ins_kept_only_with_pid32_vali() -> None:
    ins = parse_ins(nir("1800375056123"), NIR_OID)
    assert usable_ins(ins, "VALI") == ins
    assert usable_ins(ins, "PROV") is None
    assert usable_ins(ins, None) is None
