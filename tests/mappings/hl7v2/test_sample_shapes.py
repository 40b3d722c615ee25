"""The published sample shapes on the project's own fixtures: every message maps, values checked.

Mirrors test_samples.py (which reads ``../shared/samples``) and the published
ZAM cases of test_outbound.py on fixtures of tests/data/hl7 and
tests/data/hl7v2-mappings/zam, so that a clone alone tests each shape.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.hl7.ack import parse_ack
from hub.hl7.er7 import Message, parse
from mappings.hl7v2 import DocumentMessage, IdentityStatus, map_adt, map_document_message
from mappings.hl7v2.outbound import MssAddressee, ZamError, zam_z01, zam_z02, zam_z03
from tests.mappings.hl7v2.conftest import DATA, HL7_DATA, ZAM_DATA, own_sample_files

INS = "172116311304595"
GIRAUD = MssAddressee("810000123456", "paul.giraud@test-hub.mssante.fr")


def own(name: str) -> Message:
    return parse((HL7_DATA / name).read_bytes())


def documents(name: str) -> DocumentMessage:
    return map_document_message(own(name))


def expected_zam(name: str) -> bytes:
    """A ZAM fixture as the builders send it: ``\\r`` after every segment."""
    return (ZAM_DATA / name).read_bytes().replace(b"\n", b"\r")


def test_every_own_sample_is_listed_in_a_readme() -> None:
    readmes = (HL7_DATA / "README.md").read_text(encoding="utf-8") + (
        DATA / "README.md"
    ).read_text(encoding="utf-8")
    assert [p.name for p in own_sample_files() if f"`{p.name}`" not in readmes] == []
    assert len(list(ZAM_DATA.glob("*.er7"))) == 3


def test_own_sample_maps(own_sample: Path) -> None:
    message = parse(own_sample.read_bytes())
    kind = message.message_type
    if kind == "ADT":
        assert map_adt(message).identity_event.ipp
    elif kind in ("ORU", "MDM"):
        result = map_document_message(message)
        assert result.documents and all(doc.content and doc.checked_cda for doc in result.documents)
    elif kind == "ACK":
        assert parse_ack(own_sample.read_bytes()).code == "AA"
    else:
        assert kind == "ZAM" and message.segments_named("OBX")


def test_pam_admission_identity() -> None:
    event = map_adt(own("pam_fr_adt_a01_dmp_consent.er7")).identity_event
    assert (event.authority, event.ipp) == ("630000123", "000731")
    assert event.ins is not None and event.ins.value == INS
    assert event.ins.oid == "1.2.250.1.213.1.4.10" and event.qualified
    assert event.status is IdentityStatus.QUALIFIED and event.reliability_codes == ("VALI",)
    assert event.traits.birth_name == "LEGRAND" and event.traits.birthplace_insee == "63113"


def test_consent_admission_zfd() -> None:
    event = map_adt(own("pam_fr_adt_a01_dmp_consent.er7")).identity_event
    assert event.zfd is not None and event.zfd.identity_method == "INSI"
    assert event.zfd.insi_query_date == "2025-04-10" and event.zfd.sms_consent is False


def test_pam_discharge_finishes_the_encounter() -> None:
    mapping = map_adt(own("pam_fr_adt_a03.er7"))
    assert mapping.identity_event.trigger == "A03" and mapping.identity_event.ipp == "000731"
    assert mapping.encounter is not None and mapping.encounter.status == "finished"


def test_oru_initial_flags_and_recipients() -> None:
    result = documents("cisis_oru_r01_n3.er7")
    assert result.action == "initial" and len(result.documents) == 1
    flags = result.flags
    assert flags.dest_dmp and flags.dest_mssante_ps and flags.dest_mssante_pat
    assert flags.ack_reception and flags.ack_lecture_mss and not flags.masque_ps
    assert flags.corpsmail_ps is not None and flags.corpsmail_ps.startswith("Bonjour")
    assert [p.address for p in result.recipients] == [
        "paul.giraud@test-hub.mssante.fr",
        f"{INS}@patient.mssante.fr",
    ]
    assert result.recipients[0].rpps == "10000123456"
    assert result.authors[0].person_id == "801000067890"
    assert result.reply_to[0].address == "labo@test-hub.mssante.fr"
    assert result.ins is not None and result.ins.qualified


def test_level_3_document_is_returned_whole() -> None:
    [document] = documents("cisis_oru_r01_n3.er7").documents
    assert document.media_type == "TEXT/XML" and document.encoding == "Base64"
    assert len(document.content) > 15_000
    assert document.content.count(b"<observation ") == 60
    assert document.content.rstrip().endswith(b"</ClinicalDocument>")


@pytest.mark.parametrize(
    ("name", "action"),
    [("cisis_oru_r01_replacement.er7", "replacement"), ("cisis_oru_r01_deletion.er7", "deletion")],
)
def test_oru_two_full_cda(name: str, action: str) -> None:
    result = documents(name)
    assert result.action == action and len(result.documents) == 2
    assert all(doc.checked_cda and b"ClinicalDocument" in doc.content for doc in result.documents)
    assert [doc.action for doc in result.documents] == [action, action]
    assert b"structuredBody" in result.documents[1].content


def test_volet_1_2_flag_names() -> None:
    result = documents("cisis_oru_r01_v12.er7")
    assert result.profile == "1.2^CISIS_CDA_HL7_V1"
    assert result.flags.invisible_patient and result.flags.invisible_rep_legaux is False
    assert result.flags.modif_conf_code is False and result.flags.dest_mssante_pat is False
    assert (result.flags.ack_reception, result.flags.ack_lecture_mss) == (None, None)
    assert result.ignored == ("OBX[11] CE COMP_LOT",)
    assert [p.role for p in result.participants] == ["reply-to"]


def test_mdm_replacement_shape() -> None:
    result = documents("cisis_mdm_t10.er7")
    assert result.action == "replacement" and result.documents[0].checked_cda
    assert result.flags.connexion_secrete and result.flags.modif_conf_code
    assert result.flags.dest_mssante_pat is False
    assert result.txa is not None and result.txa.parent_id.endswith(".CRI-31-V1")
    assert result.txa.unique_id.endswith(".CRI-31-V2")


@pytest.mark.parametrize(
    ("name", "trigger", "action"),
    [("cisis_mdm_t02.er7", "T02", "initial"), ("cisis_mdm_t04.er7", "T04", "deletion")],
)
def test_mdm_event_gives_the_action(name: str, trigger: str, action: str) -> None:
    result = documents(name)
    assert (result.trigger, result.action) == (trigger, action)
    assert result.txa is not None and result.txa.completion_status == "AU"


def test_lps_mdm_from_an_mssante_mail() -> None:
    result = documents("cisis_lps_mdm_t02.er7")
    assert result.profile == "1.1^CISIS_CDA_HL7_LPS" and result.action == "initial"
    [recipient] = result.recipients
    assert (recipient.organization, recipient.organization_id) == (
        "Service de néphrologie",
        "4420",
    )
    assert recipient.address == "dpi@ch-bellevue.test-hub.mssante.fr" and not recipient.person_id
    assert result.authors[0].address == "yann.mercier@test-hub.mssante.fr"
    assert result.ignored == ("OBX[2] ED 1",)
    assert result.flags.dest_dmp is None and result.flags.invisible_rep_legaux


def test_zam_z01_is_the_own_example() -> None:
    built = zam_z01(
        own("cisis_oru_r01_n3.er7"),
        received=False,
        control_id="HUB-Z01-7",
        timestamp="20250410120000",
        event_time="20250410115500",
        error=ZamError("DMPNotFound", "DMP inexistant pour cet INS"),
    )
    assert built == expected_zam("zam_z01_dmp_refused.er7")


def test_zam_z02_is_the_own_example() -> None:
    built = zam_z02(
        own("cisis_oru_r01_n3.er7"),
        delivered=True,
        recipient=GIRAUD,
        control_id="HUB-Z02-7",
        timestamp="20250410120100",
        event_time="20250410115600",
    )
    assert built == expected_zam("zam_z02_mss_delivered.er7")


def test_zam_z03_is_the_own_example() -> None:
    built = zam_z03(
        own("cisis_oru_r01_n3.er7"),
        read=True,
        reader=MssAddressee(INS, f"{INS}@patient.mssante.fr"),
        control_id="HUB-Z03-7",
        timestamp="20250411083000",
        event_time="20250411082900",
    )
    assert built == expected_zam("zam_z03_mss_read.er7")
