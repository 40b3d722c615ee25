"""Published ANS samples (../shared/samples/hl7v2): every ADT/ORU/MDM maps; key values checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.errors import MappingError
from hub.hl7.ack import parse_ack
from hub.hl7.er7 import Message, parse
from mappings.hl7v2 import DocumentMessage, IdentityStatus, map_adt, map_document_message
from tests.mappings.hl7v2.conftest import SAMPLES, SKIP_SAMPLES

V21_ORU = "Volets/TRANS_DOC_CDA_HL7V2/V2.1/ORU"


def sample_message(relative: str) -> Message:
    path = SAMPLES / relative
    if not SAMPLES.is_dir():
        pytest.skip(SKIP_SAMPLES)
    return parse(path.read_bytes())


def abbreviated(message: Message) -> bool:
    """The publisher replaced some CDA payloads by a sentence or cut them short (see its readme)."""
    try:
        map_document_message(message)
    except MappingError as exc:
        assert exc.location is not None and exc.location.endswith("-5")
        assert "well-formed XML" in str(exc)
        return True
    return False


def test_sample_maps(sample: Path) -> None:
    message = parse(sample.read_bytes())
    kind = message.message_type
    if kind == "ADT":
        assert map_adt(message).identity_event.ipp
    elif kind in ("ORU", "MDM"):
        result = map_document_message(message, check_cda=not abbreviated(message))
        assert result.documents and all(doc.content for doc in result.documents)
    elif kind == "ACK":
        assert parse_ack(sample.read_bytes()).code == "AA"
    else:
        assert kind == "ZAM" and message.segments_named("OBX")


def test_sgl_admission_identity() -> None:
    event = map_adt(sample_message("SGL/admission.er7")).identity_event
    assert (event.authority, event.ipp) == ("000897406", "000003")
    assert event.ins is not None and event.ins.value == "279035121518989"
    assert event.ins.oid == "1.2.250.1.213.1.4.10" and event.qualified
    assert event.status is IdentityStatus.QUALIFIED and event.reliability_codes == ("VALI",)
    assert event.traits.birth_name == "PAT-TROIS" and event.traits.birthplace_insee == "63220"


def test_consent_sample_zfd() -> None:
    name = "Vague 2/Consentement_DMP_PAMFR/ConsentementConsultation_NonOppositionAlimentation.er7"
    event = map_adt(sample_message(name)).identity_event
    assert event.zfd is not None and event.zfd.identity_method == "INSI"
    assert event.zfd.insi_query_date == "2021-12-01"


def oru(name: str) -> DocumentMessage:
    return map_document_message(sample_message(f"{V21_ORU}/{name}"))


def test_v21_oru_initial_flags_and_recipients() -> None:
    message = sample_message(
        f"{V21_ORU}/Transmission initiale ORU/message_ORU_CR_Bio_INIT_N1_N3.hl7"
    )
    result = map_document_message(message, check_cda=False)
    assert result.action == "initial" and len(result.documents) == 2
    flags = result.flags
    assert flags.dest_dmp and flags.dest_mssante_ps and flags.dest_mssante_pat
    assert flags.ack_reception and flags.ack_lecture_mss and not flags.masque_ps
    assert flags.corpsmail_ps is not None and flags.corpsmail_ps.startswith("Cher confrère")
    assert [p.address for p in result.recipients] == [
        "adam.hoda@test-ci-sis.mssante.fr",
        "279035121518989@patient.mssante.fr",
    ]
    assert result.recipients[0].rpps == "01234567897"
    assert result.authors[0].person_id == "801234567866"
    assert result.reply_to[0].address == "adam.hoda@test-ci-sis.mssante.fr"
    assert result.ins is not None and result.ins.qualified


@pytest.mark.parametrize(
    ("name", "action"),
    [
        ("Remplacement ORU/message_ORU_CR_Bio_RPLC_N1_Base64_N3_Base64.er7", "replacement"),
        ("Suppression ORU/message_ORU_CR_Bio_DEL_N1_Base64_N3_Base64.er7", "deletion"),
    ],
)
def test_v21_oru_full_cda(name: str, action: str) -> None:
    result = oru(name)
    assert result.action == action and len(result.documents) == 2
    assert all(doc.checked_cda and b"ClinicalDocument" in doc.content for doc in result.documents)


def test_mdm_replacement_sample() -> None:
    folder = "Vague 2/Trans_Doc-CDA-HL7V2/TRANSMISSION_DOCS_CDA_EN_HL7V2_V2.1/MDM/Remplacement MDM"
    name = f"{folder}/message_MDM_CR_Radio_RPLC_N1.er7"
    result = map_document_message(sample_message(name))
    assert result.action == "replacement" and result.documents[0].checked_cda
    assert result.flags.connexion_secrete and result.flags.modif_conf_code
    assert result.flags.dest_mssante_pat is False
    assert result.txa is not None and result.txa.parent_id.endswith("71024000081")
