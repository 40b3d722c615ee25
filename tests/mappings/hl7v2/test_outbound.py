"""Outbound builders: ZAM business acknowledgements as the CI-SIS examples, ADT^A31 round trip."""

from __future__ import annotations

from collections.abc import Callable

import hl7
import pytest

from hub.hl7.er7 import Message, parse
from mappings.hl7v2 import map_adt
from mappings.hl7v2.outbound import (
    A31Patient,
    MssAddressee,
    ZamError,
    adt_a31,
    zam_z01,
    zam_z02,
    zam_z03,
)
from tests.mappings.hl7v2.conftest import SAMPLES, SKIP_SAMPLES

Load = Callable[[str], Message]
V21 = "Volets/TRANS_DOC_CDA_HL7V2/V2.1/ORU/Transmission initiale ORU"
HODA = MssAddressee("801234567897", "adam.hoda@test-ci-sis.mssante.fr")


def published(name: str) -> bytes:
    if not SAMPLES.is_dir():
        pytest.skip(SKIP_SAMPLES)
    return (SAMPLES / V21 / name).read_bytes().replace(b"\r\n", b"\r").replace(b"\n", b"\r")


def published_original() -> Message:
    return parse(published("message_ORU_CR_Bio_INIT_N1_N3.hl7"))


def test_zam_z01_is_the_published_example() -> None:
    built = zam_z01(
        published_original(),
        received=False,
        control_id="017",
        timestamp="202106060933",
        event_time="20211005152908",
        error=ZamError("DMPClosed", "DMP fermé"),
    )
    assert built == published("Message metier reception DMP")


def test_zam_z02_is_the_published_example() -> None:
    built = zam_z02(
        published_original(),
        delivered=True,
        recipient=HODA,
        control_id="018",
        timestamp="202106060934",
        event_time="20211005152908",
    )
    assert built == published("Message metier reception MSS")


def test_zam_z03_is_the_published_example() -> None:
    built = zam_z03(
        published_original(),
        read=True,
        reader=HODA,
        control_id="019",
        timestamp="202106070933",
        event_time="20211005152908",
    )
    assert built == published("Message metier lecture MSS")


def test_zam_on_own_fixture_reads_back(load: Load) -> None:
    original = load("oru_cda_initial.er7")
    built = zam_z01(original, received=True, control_id="Z-1", timestamp="20250301101600")
    message = hl7.parse(built.decode("utf-8"))
    assert str(message.segment("MSH")[9]) == "ZAM^Z01^ZAM_Z01"
    assert str(message.segment("MSH")[3]) == "HUB" and str(message.segment("MSH")[5]) == "SIL_TEST"
    obx = message.segment("OBX")
    assert str(obx[4]) == "D-1" and str(obx[5]) == "Y^^expandedYes-NoIndicator"
    assert built.count(b"\r") == 3 and b"ERR" not in built


def test_zam_escapes_delimiters(load: Load) -> None:
    reader = MssAddressee("1|2", "a^b@test.mssante.fr")
    built = zam_z03(
        load("oru_cda_initial.er7"), read=False, reader=reader, control_id="Z|3", timestamp="1"
    )
    segments = built.decode().split("\r")
    assert "|Z\\F\\3|" in segments[0]
    assert (
        segments[3].startswith("OBX|2|XTN|LECTEUR_MSS^")
        and "|1\\F\\2|^^X.400^a\\S\\b@" in segments[3]
    )


def test_adt_a31_round_trip(load: Load) -> None:
    source = map_adt(load("adt_a01_qualified.er7")).identity_event
    local = tuple(i for i in source.identifiers) + tuple(
        map_adt(load("adt_a28_finess_authority.er7")).identity_event.identifiers
    )
    patient = A31Patient(local, source.traits, source.reliability_codes)
    built = adt_a31(patient, control_id="HUB-1", timestamp="20250301120000")
    again = map_adt(parse(built)).identity_event
    assert again.trigger == "A31" and again.traits == source.traits
    assert again.identifiers == local and again.qualified
    assert b"\rPV1|1|N\r" in built


def test_adt_a31_leaves_out_an_unqualified_ins(load: Load) -> None:
    source = map_adt(load("adt_a28_recovered.er7")).identity_event
    built = adt_a31(
        A31Patient(source.identifiers, source.traits, ("PROV",)),
        control_id="2",
        timestamp="20250301",
    )
    again = map_adt(parse(built)).identity_event
    assert again.ins is None and [i.type_code for i in again.identifiers] == ["PI"]


def test_adt_a31_clears_the_used_name(load: Load) -> None:
    source = map_adt(load("adt_a31_nia_and_nir.er7")).identity_event
    built = adt_a31(
        A31Patient(source.identifiers, source.traits, ("VALI",)),
        control_id="4",
        timestamp="20250301",
    )
    assert map_adt(parse(built)).identity_event.traits.used_name_cleared
