"""The pure parts of the MSSanté connector: recipients, the mail, MDNs, the directory CSV."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from connectors.mssante.mail import MailContext, MailDocument, build_mail, subject
from connectors.mssante.mdn import build_mdn, build_read_receipt, parse_mdn
from connectors.mssante.recipients import (
    Audience,
    Recipient,
    Wanted,
    patient_mailbox,
    prescribers,
    professionals,
    resolve,
)
from connectors.mssante.store import read_directory_csv
from hub.errors import MappingError
from hub.hl7.er7 import parse
from mappings.cda import map_cda
from mappings.hl7v2 import map_document_message
from mappings.xdm import read_xdm
from tests.hub.repository.documents import cda

SAMPLE = Path(__file__).parents[2] / "data" / "hl7v2-mappings" / "oru_cda_initial.er7"
DOMAIN = "patient.mssante.fr"


def mapped(text: bytes | None = None):  # type: ignore[no-untyped-def]
    return map_document_message(parse(text or SAMPLE.read_bytes()))


def test_prt_recipients_exclude_the_patient_box_which_needs_a_qualified_ins() -> None:
    message = mapped()
    found, wanted = professionals(message, [], [], DOMAIN)
    assert [(r.address, r.id) for r in found] == [("sophie.petit@test.mssante.fr",
                                                   "10001234567")]
    assert wanted == []
    patient = patient_mailbox(message, DOMAIN)
    assert patient == Recipient("284056311304540@patient.mssante.fr", "284056311304540",
                                Audience.PATIENT, "INS")


def test_no_patient_box_without_a_qualified_ins() -> None:
    text = SAMPLE.read_bytes().replace(b"||N||VALI", b"||N||PROV")
    assert patient_mailbox(mapped(text), DOMAIN) is None


def test_directory_fills_in_rpps_without_address_and_dedupes() -> None:
    found = [Recipient("A@x.fr", "1", Audience.PROFESSIONALS, "PRT")]
    recipients, notes = resolve(found, [Wanted("10000000001", "prescriber/GP"),
                                        Wanted("10000000002", "PRT"),
                                        Wanted("10000000003", "PRT")],
                                {"10000000001": "a@x.fr", "10000000002": "b@x.fr"})
    assert [r.address for r in recipients] == ["A@x.fr", "b@x.fr"]
    assert notes == ["RPPS 10000000003 (PRT) not in the MSSanté directory"]


def test_prescriber_and_gp_rpps_are_read() -> None:
    text = SAMPLE.read_bytes().replace(
        b"ORC|NW|CMD-1^HUB", b"ORC|NW|CMD-1^HUB||||||||||10000000009^ROUX^ANNE^^^^^^^^^^RPPS")
    assert prescribers(parse(text)) == ["10000000009"]


def test_the_mail_carries_subject_headers_body_and_xdm() -> None:
    message = mapped()
    document = cda("1.2.250.1.999.71.1", ins="284056311304540")
    documents = [MailDocument(document, map_cda(document).entry, "https://hub.test/x")]
    recipient = Recipient("sophie.petit@test.mssante.fr", "10001234567", Audience.PROFESSIONALS,
                          "PRT")
    mail = build_mail(message, documents, [recipient], MailContext(
        "hub@hub.test", "<m1@hub.test>", "1.2.3", "1.2.4", datetime(2025, 3, 1, tzinfo=UTC)))
    parsed = message_from_bytes(mail.as_bytes(), policy=policy.default)
    assert parsed["Subject"] == subject(message, documents)
    assert parsed["Subject"].endswith(" MARTIN CLAIRE 12/05/1984")
    assert parsed["X-MSS-INS"] == "284056311304540^^^&1.2.250.1.213.1.4.10&ISO^INS"
    assert parsed["Disposition-Notification-To"] == "hub@hub.test"
    assert parsed["Reply-To"] == "secretariat@test.mssante.fr"
    body = parsed.get_body(("plain",))
    assert body is not None and "Chère consœur" in body.get_content()
    zipped = next(p for p in parsed.iter_attachments() if p.get_filename() == "IHE_XDM.zip")
    data = zipped.get_payload(decode=True)
    assert isinstance(data, bytes)
    package = read_xdm(data)
    assert package.documents[0].content == document


def test_mdn_round_trip() -> None:
    original = message_from_bytes(b"From: dr@x.fr\r\nMessage-ID: <o1@x.fr>\r\nSubject: s\r\n"
                                  b"Disposition-Notification-To: dr@x.fr\r\n\r\nbody\r\n",
                                  policy=policy.default)
    processed = parse_mdn(message_from_bytes(build_mdn(original, reporter="hub@hub.test")
                                             .as_bytes(), policy=policy.default))
    assert processed is not None
    assert (processed.original_message_id, processed.disposition, processed.modifiers) == (
        "<o1@x.fr>", "processed", ())
    failed = parse_mdn(message_from_bytes(build_mdn(original, reporter="hub@hub.test",
                                                    error="bad hash").as_bytes(),
                                          policy=policy.default))
    assert failed is not None and failed.modifiers == ("error",)
    read = parse_mdn(message_from_bytes(build_read_receipt(original, reader="dr@x.fr")
                                        .as_bytes(), policy=policy.default))
    assert read is not None and read.read and read.final_recipient == "dr@x.fr"
    assert parse_mdn(original) is None


def test_directory_csv_in_both_spellings() -> None:
    ours = read_directory_csv("rpps,address\n10000000001,a@x.fr\n")
    ans = read_directory_csv("Identification nationale PP;Nom d'exercice;Prénom d'exercice;"
                             "Adresse BAL MSSanté\n810000000002;DOE;Jo;b@x.fr\n10000000003;X;Y;\n")
    assert [(e.rpps, e.address) for e in ours + ans] == [("10000000001", "a@x.fr"),
                                                         ("10000000002", "b@x.fr")]
    with pytest.raises(MappingError, match="line 2"):
        read_directory_csv("rpps,address\n123,a@x.fr\n")
    with pytest.raises(MappingError, match="lacks"):
        read_directory_csv("name,mail\nx,a@x.fr\n")
