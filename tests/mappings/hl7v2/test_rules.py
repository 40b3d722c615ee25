"""Targeted rules of the mappings: INS typing and status, name types, errors naming the field."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.patient import Patient

from hub.errors import MappingError
from hub.hl7.er7 import Message, parse
from mappings.hl7v2 import IdentityEventKind, IdentityStatus, map_adt, map_document_message
from mappings.hl7v2.lab import map_lab_oru
from mappings.hl7v2.pid import rniv_status
from tests.mappings.hl7v2.conftest import DATA

Load = Callable[[str], Message]


def edited(name: str, old: str, new: str) -> Message:
    """A fixture with one piece of text replaced (the piece must be there)."""
    text = (DATA / name).read_text(encoding="utf-8")
    assert old in text, old
    return parse(text.replace(old, new, 1).encode("utf-8"))


@pytest.mark.parametrize(
    ("codes", "has_ins", "status"),
    [
        (("VALI",), True, IdentityStatus.QUALIFIED),
        (("VALI",), False, IdentityStatus.VALIDATED),
        (("PROV",), True, IdentityStatus.RECOVERED),
        (("PROV",), False, IdentityStatus.PROVISIONAL),
        ((), False, IdentityStatus.PROVISIONAL),
        (("VALI", "FICT"), True, IdentityStatus.PROVISIONAL),
        (("VALI", "DOUT"), False, IdentityStatus.PROVISIONAL),
        (("VALI", "HOMA"), True, IdentityStatus.QUALIFIED),
    ],
)
def test_rniv_status(codes: tuple[str, ...], has_ins: bool, status: IdentityStatus) -> None:
    assert rniv_status(codes, has_ins) is status


def test_qualified_ins_is_typed_after_its_oid(load: Load) -> None:
    mapping = map_adt(load("adt_a01_qualified.er7"))
    event = mapping.identity_event
    assert event.qualified and event.ins is not None
    assert (event.ins.value, event.ins.kind) == ("284056311304540", "NIR-TEST")
    ins = [
        i for i in mapping.patient.identifier or [] if i.system == "urn:oid:1.2.250.1.213.1.4.10"
    ]
    assert len(ins) == 1 and ins[0].type is not None and ins[0].type.coding is not None
    assert ins[0].type.coding[0].code == "INS-NIR-TEST"
    assert (event.authority, event.ipp) == ("1.2.250.1.71.4.2.2.999", "445566")


@pytest.mark.parametrize(
    ("oid", "code"), [("1.2.250.1.213.1.4.8", "INS-NIR"), ("1.2.250.1.213.1.4.11", "INS-NIR-DEMO")]
)
def test_production_and_demo_ins_types(oid: str, code: str) -> None:
    message = edited("adt_a01_qualified.er7", "INS-NIR&1.2.250.1.213.1.4.10&", f"INS-NIR&{oid}&")
    mapping = map_adt(message)
    types = [
        i.type.coding[0].code for i in mapping.patient.identifier or [] if i.type and i.type.coding
    ]
    assert code in types
    assert mapping.identity_event.ins is not None and mapping.identity_event.ins.oid == oid


def test_unqualified_ins_stays_out_of_the_patient(load: Load) -> None:
    mapping = map_adt(load("adt_a28_recovered.er7"))
    assert mapping.identity_event.status is IdentityStatus.RECOVERED
    assert mapping.identity_event.ins is not None and not mapping.identity_event.ins.qualified
    systems = {i.system for i in mapping.patient.identifier or []}
    assert "urn:oid:1.2.250.1.213.1.4.10" not in systems


def test_billing_nir_typed_nh_is_not_an_ins(load: Load) -> None:
    mapping = map_adt(load("adt_a28_validated_no_ins.er7"))
    assert mapping.identity_event.ins is None
    assert mapping.identity_event.status is IdentityStatus.VALIDATED
    nh = [i for i in mapping.patient.identifier or [] if i.value == "175017511300144"]
    assert nh[0].type is not None and nh[0].type.coding is not None
    assert nh[0].type.coding[0].code == "NH"


def test_nir_wins_over_nia_and_used_name_cleared(load: Load) -> None:
    event = map_adt(load("adt_a31_nia_and_nir.er7")).identity_event
    assert event.ins is not None and event.ins.kind == "NIR-TEST"
    assert event.traits.used_name is None and event.traits.used_name_cleared


def test_traits_for_identity(load: Load) -> None:
    traits = map_adt(load("adt_a01_qualified.er7")).identity_event.traits
    assert traits.birth_name == "MARTIN" and traits.used_name == "DUPUIS"
    assert traits.birth_given_names == ("CLAIRE", "MARIE") and traits.first_given_name == "CLAIRE"
    assert (traits.birth_date, traits.sex, traits.birthplace_insee) == ("1984-05-12", "F", "63113")


def test_attributes_and_zfd(load: Load) -> None:
    event = map_adt(load("adt_a28_doubtful.er7")).identity_event
    assert event.attributes == ("DOUT", "HOMA") and not event.qualified
    zfd = map_adt(load("adt_a01_qualified.er7")).identity_event.zfd
    assert zfd is not None and (zfd.identity_method, zfd.evidence_type) == ("INSI", "CN")
    assert zfd.insi_query_date == "2025-03-01"


@pytest.mark.parametrize(
    ("name", "kind", "field"),
    [
        ("adt_a40_merge.er7", IdentityEventKind.MERGE, "prior"),
        ("adt_a47_ins_change.er7", IdentityEventKind.IDENTIFIER_CHANGE, "prior"),
        ("adt_a24_link.er7", IdentityEventKind.LINK, "other"),
        ("adt_a37_unlink.er7", IdentityEventKind.UNLINK, "other"),
    ],
)
def test_related_identifiers(load: Load, name: str, kind: IdentityEventKind, field: str) -> None:
    event = map_adt(load(name)).identity_event
    assert event.kind is kind
    related = getattr(event, field)
    assert len(related) == 1 and related[0].value


def test_ins_deletion_is_a_cleared_identifier(load: Load) -> None:
    event = map_adt(load("adt_a47_ins_removed.er7")).identity_event
    assert event.ins is None and event.cleared[0].authority == "1.2.250.1.213.1.4.10"
    assert event.prior[0].value == "284056311304540"


def test_finess_authority_goes_to_the_assigner(load: Load) -> None:
    mapping = map_adt(load("adt_a28_finess_authority.er7"))
    ipp = (mapping.patient.identifier or [])[0]
    assert ipp.system is None and ipp.assigner is not None and ipp.assigner.identifier is not None
    assert ipp.assigner.identifier.value == "630000479"
    assert mapping.identity_event.authority == "630000479"
    assert mapping.patient.birthDate is not None and str(mapping.patient.birthDate) == "1961"


def test_movement_and_encounter(load: Load) -> None:
    mapping = map_adt(load("adt_a12_cancel_transfer.er7"))
    assert mapping.movement is not None
    assert (mapping.movement.action, mapping.movement.historic) == ("CANCEL", True)
    assert (
        mapping.movement.medical_unit is not None and mapping.movement.medical_unit.code == "4410"
    )
    assert isinstance(mapping.encounter, Encounter)
    assert map_adt(load("adt_a28_provisional.er7")).encounter is None


@pytest.mark.parametrize(
    ("old", "new", "location"),
    [
        ("ADT^A01^ADT_A01", "ADT^A99^ADT_A01", "MSH-9"),
        (
            "445566^^^CH-EXEMPLE&1.2.250.1.71.4.2.2.999&ISO^PI",
            "445566^^^CH-EXEMPLE&1.2.250.1.71.4.2.2.999&ISO^XX",
            "PID-3",
        ),
        ("INS-NIR&1.2.250.1.213.1.4.10&ISO^INS", "INS-NIR&1.2.3.4&ISO^INS", "PID-3[2].4"),
        ("284056311304540", "28405631130454", "PID-3[2].1"),
        ("|19840512|", "|19841312|", "PID-7"),
        ("|19840512|F|", "|19840512|Z|", "PID-8"),
        ("|INSERT|", "|MOVE|", "ZBE-4"),
        ("20250301092500", "2025030109250", "PV1-44"),
    ],
)
def test_adt_errors_name_the_field(old: str, new: str, location: str) -> None:
    with pytest.raises(MappingError) as caught:
        map_adt(edited("adt_a01_qualified.er7", old, new))
    assert caught.value.location == location
    assert str(caught.value).startswith(f"{location}: ")


def test_merge_without_mrg_is_refused() -> None:
    message = edited("adt_a40_merge.er7", "MRG|", "NTE|")
    with pytest.raises(MappingError, match="no a MRG") as caught:
        map_adt(message)
    assert caught.value.location == "MRG"


def test_every_adt_output_validates_again(load: Load) -> None:
    for path in sorted(DATA.glob("adt_*.er7")):
        mapping = map_adt(load(path.name))
        Patient.model_validate(mapping.patient.model_dump(mode="json"))
        if mapping.encounter is not None:
            Encounter.model_validate(mapping.encounter.model_dump(mode="json"))


def test_document_message_reads_flags_participants_and_action(load: Load) -> None:
    result = map_document_message(load("oru_cda_initial.er7"))
    assert len(result.documents) == 2 and result.action == "initial"
    assert result.documents[0].content.startswith(b"<?xml") and result.documents[0].checked_cda
    assert result.flags.dest_dmp and result.flags.ack_lecture_mss and not result.flags.masque_ps
    assert [p.rpps for p in result.recipients] == ["10001234567", None]
    assert [p.address for p in result.recipients][1] == "284056311304540@patient.mssante.fr"
    assert result.authors[0].rpps == "01234567801"
    assert result.reply_to[0].address == "secretariat@test.mssante.fr"


@pytest.mark.parametrize(
    ("name", "action"),
    [
        ("oru_cda_replacement.er7", "replacement"),
        ("oru_cda_deletion.er7", "deletion"),
        ("mdm_t10_replacement.er7", "replacement"),
        ("mdm_t04_deletion.er7", "deletion"),
    ],
)
def test_document_action(load: Load, name: str, action: str) -> None:
    assert map_document_message(load(name)).action == action


def test_plain_text_cda_is_unescaped(load: Load) -> None:
    result = map_document_message(load("mdm_t02_plain_text.er7"))
    assert b'<ClinicalDocument xmlns="urn:hl7-org:v3">' in result.documents[0].content
    assert result.txa is not None and result.txa.unique_id.endswith(".D-7")


def _with_payload(payload: bytes) -> Message:
    text = (DATA / "oru_cda_replacement.er7").read_text(encoding="utf-8")
    start = text.index("^TEXT^XML^Base64^") + len("^TEXT^XML^Base64^")
    end = text.index("|", start)
    return parse((text[:start] + base64.b64encode(payload).decode() + text[end:]).encode())


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>'
            b'<ClinicalDocument xmlns="urn:hl7-org:v3"/>',
            "DOCTYPE",
        ),
        (b'<ClinicalDocument xmlns="urn:hl7-org:v3">&ext;</ClinicalDocument>', "well-formed"),
        (b'<Document xmlns="urn:hl7-org:v3"/>', "expected ClinicalDocument"),
        (b"<ClinicalDocument/>", "expected ClinicalDocument"),
        (b"Document au format CDA", "well-formed"),
    ],
)
def test_embedded_document_must_be_a_cda(payload: bytes, words: str) -> None:
    message = _with_payload(payload)
    with pytest.raises(MappingError, match=words) as caught:
        map_document_message(message)
    assert caught.value.location == "OBX[1]-5"
    assert map_document_message(message, check_cda=False).documents[0].content == payload


@pytest.mark.parametrize(
    ("old", "new", "location"),
    [
        ("||||||C|", "||||||Z|", "OBX[1]-11"),
        ("MASQUE_PS^masque_ps^MetaDMPMSS||Y^", "MASQUE_PS^masque_ps^MetaDMPMSS||O^", "OBX[2]-5"),
        ("ORU^R01^ORU_R01", "ORU^R30^ORU_R01", "MSH-9"),
        ("^TEXT^XML^Base64^PD94", "^TEXT^XML^Base64^P!94", "OBX[1]-5"),
        ("^TEXT^XML^Base64^PD94", "^TEXT^XML^Zip^PD94", "OBX[1]-5"),
    ],
)
def test_document_errors_name_the_field(old: str, new: str, location: str) -> None:
    with pytest.raises(MappingError) as caught:
        map_document_message(edited("oru_cda_replacement.er7", old, new))
    assert caught.value.location == location


def test_lab_oru_values(load: Load) -> None:
    report = map_lab_oru(load("oru_lab_structured.er7"))
    potassium = report.observations[1]
    assert potassium.valueQuantity is not None and float(potassium.valueQuantity.value or 0) == 5.8
    assert potassium.interpretation is not None and potassium.interpretation[0].coding is not None
    assert potassium.interpretation[0].coding[0].code == "H"
    assert report.observations[2].valueQuantity is not None
    assert report.observations[2].valueQuantity.comparator == "<"
    assert report.skipped == ("OBX[6] ED",) and len(report.reports) == 2
    assert [r.status for r in report.reports] == ["final", "preliminary"]


def test_lab_oru_bad_number_names_the_obx() -> None:
    with pytest.raises(MappingError) as caught:
        map_lab_oru(edited("oru_lab_structured.er7", "||141|", "||14x1|"))
    assert caught.value.location == "OBX[1]-5"
