"""The published sample shapes on the project's own fixtures: parse, strict, ACK, header values.

The same checks as the ``shared_sample`` tests of test_er7, test_strict and
test_ack, run on ``own_sample`` (tests/data/hl7, ``PUBLISHED_SHAPES``) so that
a clone without ``../shared/samples`` still tests every shape; then the values
each shape is there for.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import hl7
import pytest

from hub.errors import ParseError
from hub.hl7.ack import build_ack, parse_ack
from hub.hl7.er7 import Message, parse
from hub.hl7.strict import validate_strict
from tests.hub.hl7.conftest import DATA, PUBLISHED_SHAPES

Load = Callable[[str], bytes]
STAMP = "20250410120000"
HEADERS = [
    ("pam_fr_adt_a01.er7", "ADT^A01^ADT_A01", "2.5^FRA^2.11", "2.11^IHE_FRANCE-2.11-PAM", "utf-8"),
    ("pam_fr_adt_a01_dmp_consent.er7", "ADT^A01^ADT_A01", "2.5^FRA^2.11",
     "2.11^IHE_FRANCE-2.11-PAM", "utf-8"),
    ("pam_fr_adt_a03.er7", "ADT^A03^ADT_A03", "2.5^FRA^2.11", "2.11^IHE_FRANCE-2.11-PAM", "utf-8"),
    ("pam_fr_adt_a28_latin1.er7", "ADT^A28^ADT_A05", "2.5^FRA^2.11", "2.11^IHE_FRANCE-2.11-PAM",
     "iso-8859-1"),
    ("pam_fr_adt_a40.er7", "ADT^A40^ADT_A39", "2.5^FRA^2.11", "2.11^IHE_FRANCE-2.11-PAM", "utf-8"),
    ("cisis_oru_r01.er7", "ORU^R01^ORU_R01", "2.5", "2.1^CISIS_CDA_HL7_V2", "utf-8"),
    ("cisis_oru_r01_u02dc.er7", "ORU^R01^ORU_R01", "2.5", "2.1^CISIS_CDA_HL7_V2", "utf-8"),
    ("cisis_oru_r01_n3.er7", "ORU^R01^ORU_R01", "2.5", "2.1^CISIS_CDA_HL7_V2", "utf-8"),
    ("cisis_oru_r01_replacement.er7", "ORU^R01^ORU_R01", "2.5", "2.1^CISIS_CDA_HL7_V2", "utf-8"),
    ("cisis_oru_r01_deletion.er7", "ORU^R01^ORU_R01", "2.5", "2.1^CISIS_CDA_HL7_V2", "utf-8"),
    ("cisis_oru_r01_v12.er7", "ORU^R01^ORU_R01", "2.5", "1.2^CISIS_CDA_HL7_V1", "utf-8"),
    ("cisis_mdm_t02.er7", "MDM^T02^MDM_T02", "2.6", "2.1^CISIS_CDA_HL7_V2", "utf-8"),
    ("cisis_mdm_t10.er7", "MDM^T10^MDM_T02", "2.6", "2.1^CISIS_CDA_HL7_V2", "utf-8"),
    ("cisis_mdm_t04.er7", "MDM^T04^MDM_T02", "2.6", "2.1^CISIS_CDA_HL7_V2", "utf-8"),
    ("cisis_lps_mdm_t02.er7", "MDM^T02^MDM_T02", "2.6", "1.1^CISIS_CDA_HL7_LPS", "utf-8"),
    ("ack_aa_r01_v25.er7", "ACK^R01^ACK", "2.5", "", "iso-8859-15"),
    ("ack_aa_t02_v26.er7", "ACK^T02^ACK", "2.6", "", "utf-8"),
]
ANSWERED = {"ack_aa_r01_v25.er7": "cisis_oru_r01_n3.er7", "ack_aa_t02_v26.er7": "cisis_mdm_t02.er7"}
"""Each own ACK and the own message it acknowledges."""


def read_back(data: bytes, charset: str) -> hl7.Message:
    """Parse with python-hl7, a parser that is not ours."""
    return hl7.parse(data.decode(charset))


def test_every_published_shape_has_a_header_row_and_a_readme_line() -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    assert [row[0] for row in HEADERS] == list(PUBLISHED_SHAPES)
    assert [name for name in PUBLISHED_SHAPES if f"`{name}`" not in readme] == []


def test_every_own_sample_parses(own_sample: Path) -> None:
    parsed = parse(own_sample.read_bytes())
    assert parsed.control_id
    assert parsed.message_type in {"ADT", "ORU", "MDM", "ACK"}
    assert all(len(segment.id) == 3 for segment in parsed.segments)


def test_every_own_sample_passes_strict_validation(own_sample: Path) -> None:
    assert validate_strict(parse(own_sample.read_bytes())) == []


def test_parse_ack_on_own_samples(own_sample: Path, load: Load) -> None:
    data = own_sample.read_bytes()
    if parse(data).message_type != "ACK":
        with pytest.raises(ParseError, match="no MSA segment"):
            parse_ack(data)
        return
    reply = parse_ack(data)
    answered = parse(load(ANSWERED[own_sample.name])).control_id
    assert (reply.code, reply.control_id, reply.accepted) == ("AA", answered, True)


def test_ack_for_every_own_sample(own_sample: Path) -> None:
    original: Message = parse(own_sample.read_bytes())
    data = build_ack(original, "AA", control_id="HUB-9", timestamp=STAMP)
    ack = read_back(data, original.charset)
    assert str(ack.segment("MSA")[2]) == original.control_id
    assert str(ack.segment("MSH")[10]) == "HUB-9"
    assert str(ack.segment("MSH")[9]) == f"ACK^{original.trigger_event}^ACK"


@pytest.mark.parametrize(
    ("name", "msh9", "version", "profile", "charset"), HEADERS, ids=[row[0] for row in HEADERS]
)
def test_header_of_each_shape(
    load: Load, name: str, msh9: str, version: str, profile: str, charset: str
) -> None:
    message = parse(load(name))
    assert (message.first("MSH-9"), message.first("MSH-12"), message.first("MSH-21")) == (
        msh9,
        version,
        profile,
    )
    assert message.charset == charset


def test_consent_admission_carries_the_pam_fr_segments(load: Load) -> None:
    message = parse(load("pam_fr_adt_a01_dmp_consent.er7"))
    assert [s.id for s in message.segments] == [
        "MSH", "EVN", "PID", "PD1", "ROL", "PV1", "PV2", "ZBE", "ZFA", "ZFM", "ZFD"
    ]
    # ZFA-9 opposition to feeding the DMP, ZFA-11 consent to consult it (PAM France ZFA).
    assert (message.first("ZFA-1"), message.first("ZFA-9"), message.first("ZFA-11")) == (
        "ACTIF",
        "IO",
        "INC",
    )
    assert message.first("ROL-3") == "ODRP" and message.first("ROL-4.13") == "RPPS"
    assert message.first("PV1-7.2") == "FAURE" and message.first("PV1-7.3") == "Hélène"


def test_discharge_has_the_visit_and_the_discharge_time(load: Load) -> None:
    message = parse(load("pam_fr_adt_a03.er7"))
    assert message.first("PV1-19.1") == "250410007" and message.first("PV1-19.5") == "VN"
    assert (message.first("PV1-44"), message.first("PV1-45")) == (
        "20250410081000", "20250412154500")
    assert message.first("ZBE-4") == "INSERT" and message.first("ZBE-7.10") == "2210"


def test_level_3_report_sits_on_one_long_line(load: Load) -> None:
    data = load("cisis_oru_r01_n3.er7")
    message = parse(data)
    line = next(line for line in data.split(b"\n") if line.startswith(b"OBX|1|ED|"))
    assert len(line) > 20_000
    assert message.first("OBX-5.4") == "Base64" and len(message.first("OBX-5.5")) > 20_000


def test_latin9_ack_text_is_decoded(load: Load) -> None:
    data = load("ack_aa_r01_v25.er7")
    assert b"re\xe7u" in data
    assert parse_ack(data).text == "Message reçu"


def test_v26_ack_mirrors_the_cisis_mdm_it_answers(load: Load) -> None:
    original = parse(load("cisis_mdm_t02.er7"))
    built = read_back(
        build_ack(original, "AA", control_id="HUB-0302", timestamp="20250410094501"), "utf-8"
    )
    stored = read_back(load("ack_aa_t02_v26.er7").replace(b"\n", b"\r"), "utf-8")
    for segment, number in [("MSH", n) for n in (3, 4, 5, 6, 7, 9, 10, 11, 12, 18)] + [
        ("MSA", 1),
        ("MSA", 2),
    ]:
        assert str(built.segment(segment)[number]) == str(stored.segment(segment)[number])
