"""MSSanté end to end: CI-SIS ORU over MLLP -> mail over SMTP (mutual TLS) -> ZAM; IMAP inbound.

One ``hub run`` subprocess serves the module with the ``repository`` and
``mssante`` components. Around it, real servers on 127.0.0.1: aiosmtpd
requiring STARTTLS, a client certificate from a CA this module creates and
AUTH (:class:`tests.support.mail.SmtpServer`); Debian's dovecot serving the
hub's applicative mailbox over IMAPS (:class:`tests.support.mail.Dovecot`);
an MLLP sink standing for the sender's return endpoint, which receives the
ZAM^Z01/Z02/Z03. Messages go in with python-hl7's MLLP client. Each test
uses its own patient (INS) and recipients.
"""

from __future__ import annotations

import base64
import itertools
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from io import BytesIO

import httpx
import pytest

from connectors.mssante.mdn import build_read_receipt, parse_mdn
from hub.hl7.er7 import Message, parse
from mappings.cda import map_cda
from mappings.xdm import XdmDocument, XdmSubmission, build_xdm, read_xdm
from tests.e2e.api import HubApi, stages
from tests.e2e.clients import send
from tests.hub.repository.documents import INS_TEST, cda, oru
from tests.support.hubproc import HubProcess, await_until, write_config
from tests.support.mail import (
    IMAP_PASSWORD,
    IMAP_USER,
    SMTP_PASSWORD,
    SMTP_USER,
    Dovecot,
    Pki,
    SmtpServer,
    make_pki,
)
from tests.support.sink import SinkThread

pytestmark = pytest.mark.timeout(180)

HUB_ADDRESS = SMTP_USER
ROUTES = """\
routes:
  - name: documents-oru-repository
    when: {message_type: ORU, trigger: R01, fields: {"OBX[*]-3.1": {equals: DESTDMP}}}
    action: deliver
    to: [repository]
  - name: documents-oru-mssante
    when:
      message_type: ORU
      trigger: R01
      any:
        - {"OBX[*]-3.1": {equals: DESTMSSANTEPS}}
        - {"OBX[*]-3.1": {equals: DESTMSSANTEPAT}}
    action: deliver
    to: [mssante]
  - name: zam-to-sil
    when:
      source: [repository, mssante]
      message_type: ZAM
      fields: {"MSH-5.1": {equals: SIL_TEST}}
    action: deliver
    to: [sil-return]
"""
_numbers = itertools.count(1)
ACCEPTED = ("AA", "CA")  # the ORU asks enhanced mode (MSH-15 AL): CA


def new_ins() -> str:
    """A 15-character INS-NIR of test with a valid key, different for every call."""
    body = f"1750663{next(_numbers) + 500:06d}"
    return body + f"{97 - int(body) % 97:02d}"


@dataclass(frozen=True)
class Env:
    """The module's hub and the servers around it."""

    hub: HubProcess
    smtp: SmtpServer
    imap: Dovecot
    sil: SinkThread
    pki: Pki


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """Hub, SMTP server, dovecot and return sink; every one stopped afterwards."""
    directory = tmp_path_factory.mktemp("mssante")
    pki = make_pki(directory / "pki")
    tls = {"cafile": str(pki.ca), "certfile": str(pki.client_cert),
           "keyfile": str(pki.client_key)}
    with SmtpServer(pki) as smtp, Dovecot(pki) as imap, SinkThread() as sil:
        config = write_config(
            directory, routes=ROUTES, components=["repository", "mssante"],
            destinations={
                "repository": {"type": "repository",
                               "retry": {"max_attempts": 2, "initial_s": 0.1, "max_s": 0.2}},
                "mssante": {"type": "mssante",
                            "retry": {"max_attempts": 10, "initial_s": 0.2, "max_s": 1.0}},
                "sil-return": {"type": "mllp", "host": "127.0.0.1", "port": sil.port,
                               "timeout_s": 3.0,
                               "retry": {"max_attempts": 3, "initial_s": 0.1, "max_s": 0.3}}},
            mssante={"address": HUB_ADDRESS, "repository_url": "https://hub.test/fhir",
                     "smtp": {"host": "127.0.0.1", "port": smtp.port, "tls": tls,
                              "username": SMTP_USER, "password": SMTP_PASSWORD,
                              "timeout_s": 5},
                     "imap": {"host": "127.0.0.1", "port": imap.port, "tls": tls,
                              "username": IMAP_USER, "password": IMAP_PASSWORD,
                              "poll_s": 3600}})
        with HubProcess(config) as hub:
            yield Env(hub, smtp, imap, sil, pki)


@pytest.fixture(scope="module")
def hub(env: Env) -> HubProcess:
    """The hub under test (for the ``api`` fixture)."""
    return env.hub


def message(control_id: str, ins: str, *, rct: tuple[str, ...] = (), **flags: bool) -> bytes:
    """A CI-SIS ORU^R01 for patient ``ins`` with PRT RCT lines and MetaDMPMSS flags.

    ``rct`` items are ``RPPS|address`` (address may be empty: the directory is asked).
    """
    uid = f"1.2.250.1.999.42.80.{next(_numbers)}"
    base = oru([cda(uid, ins=ins)], control_id=control_id, ins=ins,
               flags={k.upper(): v for k, v in flags.items()})
    segments = base.decode().rstrip("\r").split("\r")
    prt = [f"PRT||UC||RCT^^participation|{rpps}^DOC^Test^^^^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1"
           f"&ISO^D^^^RPPS||||||||||" + (f"^^X.400^{address}" if address else "")
           for rpps, _, address in (item.partition("|") for item in rct)]
    extra = [f"OBX|90|CE|ACK_LECTURE_MSS^ack^MetaDMPMSS||"
             f"{'Y' if flags.get('ack_lecture_mss') else 'N'}^^expandedYes-NoIndicator||||||F",
             "OBX|91|ED|CORPSMAIL_PS^Corps du mail^MetaDMPMSS||^TEXT^^Base64^"
             + base64.b64encode("Chère consœur, voici le compte rendu.".encode()).decode()
             + "||||||F"]
    segments = segments[:6] + prt + segments[6:] + extra
    return ("\r".join(segments) + "\r").encode()


async def mails_to(env: Env, address: str, count: int = 1, timeout_s: float = 30) -> list[
        EmailMessage]:
    """The mails the SMTP server accepted for ``address``, once there are ``count``."""
    found = await await_until(lambda: len(env.smtp.mails_to(address)) >= count or None,
                              timeout_s, f"{count} mail(s) to {address}")
    assert found
    return [m.message for m in env.smtp.mails_to(address)]


async def zams(env: Env, event: str, control_id: str, count: int = 1) -> list[Message]:
    """ZAM^<event> received by the return sink acknowledging ``control_id``."""
    def probe() -> list[Message] | None:
        found = [m for r in env.sil.sink.received
                 if (m := parse(r.payload)).trigger_event == event
                 and m.first("OBX-4") == control_id]
        return found if len(found) >= count else None

    found: list[Message] = await await_until(probe, 30, f"ZAM^{event} for {control_id}")
    return found


def xdm_of(mail: EmailMessage) -> bytes:
    """The IHE_XDM.zip attachment."""
    part = next(p for p in mail.iter_attachments() if p.get_filename() == "IHE_XDM.zip")
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return data


async def test_oru_for_professionals_and_patient_becomes_two_mails(env: Env, api: HubApi) -> None:
    ins = new_ins()
    body = message("MSS-1", ins, rct=("10001234567|dr.petit@test.mssante.fr",),
                   destdmp=True, destmssanteps=True, destmssantepat=True, ack_reception=True,
                   ack_lecture_mss=True)
    assert (await send(env.hub.mllp_port, body)).code in ACCEPTED
    ps = (await mails_to(env, "dr.petit@test.mssante.fr"))[0]
    patient = (await mails_to(env, f"{ins}@patient.mssante.fr"))[0]
    assert ps["Subject"] == "XDM/1.0/DDM+Compte rendu 1.2.250.1.999.42.80." \
        f"{ps['Subject'].split('.')[-1].split(' ')[0]} MARTIN CLAIRE 12/05/1984"
    assert ps["X-MSS-INS"] == f"{ins}^^^&{INS_TEST}&ISO^INS"
    assert ps.get_all("X-MSS-CODECDA") == ["11502-2^Compte rendu^2.16.840.1.113883.6.1"]
    assert ps["Disposition-Notification-To"] == HUB_ADDRESS
    assert ps["From"] == HUB_ADDRESS
    text = ps.get_body(("plain",))
    assert text is not None
    assert "Chère consœur" in text.get_content()
    assert "https://hub.test/fhir/DocumentReference/" in text.get_content()
    patient_text = patient.get_body(("plain",))
    assert patient_text is not None and "consœur" not in patient_text.get_content()
    assert env.smtp.mails_to("dr.petit@test.mssante.fr")[0].client_subject.find("hub.test") >= 0
    package = read_xdm(xdm_of(ps))
    sent = message_cda(body)
    entry = map_cda(sent).entry
    assert len(package.documents) == 1
    doc = package.documents[0]
    assert (doc.content, doc.hash, doc.size) == (sent, entry.hash, entry.size)
    assert (doc.unique_id, doc.type_code, doc.patient_id) == (
        entry.unique_id, entry.type_code, entry.patient_id)
    assert package.intended_recipients == ("|^^Internet^dr.petit@test.mssante.fr",)
    z02 = await zams(env, "Z02", "MSS-1", count=2)
    assert sorted(z.first("OBX-5.1") for z in z02) == ["Y", "Y"]
    record = await api.wait_status("MSS-1", "delivered")
    assert "delivered" in stages(record, "mssante")


def message_cda(body: bytes) -> bytes:
    """The CDA carried by the first OBX of ``body``."""
    obx = next(s for s in body.decode().split("\r") if s.startswith("OBX|1|ED"))
    return base64.b64decode(obx.split("|")[5].split("^")[4])


async def test_read_receipt_becomes_zam_z03(env: Env, api: HubApi) -> None:
    ins = new_ins()
    body = message("MSS-READ", ins, rct=("10001234568|dr.read@test.mssante.fr",),
                   destmssanteps=True, ack_lecture_mss=True)
    assert (await send(env.hub.mllp_port, body)).code in ACCEPTED
    sent = (await mails_to(env, "dr.read@test.mssante.fr"))[0]
    receipt = build_read_receipt(sent, reader="dr.read@test.mssante.fr")
    env.imap.append(receipt.as_bytes())
    outcomes = await poll(env)
    assert any("ZAM^Z03 Y" in o for o in outcomes), outcomes
    z03 = (await zams(env, "Z03", "MSS-READ"))[0]
    assert z03.first("OBX-5.1") == "Y"
    assert z03.get("OBX[*]-5.4")[-1] == "dr.read@test.mssante.fr"


async def poll(env: Env) -> list[str]:
    """``POST /api/mssante/poll``: the outcomes of the mails handled."""
    async with httpx.AsyncClient(base_url=env.hub.base_url, headers=env.hub.headers,
                                 timeout=60) as client:
        response = await client.post("/api/mssante/poll")
    assert response.status_code == 200, response.text
    outcomes: list[str] = response.json()["outcomes"]
    return outcomes


async def test_4xx_is_retried_then_delivered_once(env: Env, api: HubApi) -> None:
    env.smtp.script("dr.busy@test.mssante.fr", "451 4.3.0 mailbox busy, try later")
    body = message("MSS-4XX", new_ins(), rct=("10001234569|dr.busy@test.mssante.fr",),
                   destmssanteps=True)
    assert (await send(env.hub.mllp_port, body)).code in ACCEPTED
    record = await api.wait_status("MSS-4XX", "delivered")
    assert stages(record, "mssante").count("failed") == 1
    assert len(env.smtp.mails_to("dr.busy@test.mssante.fr")) == 1


async def test_5xx_is_parked_with_the_server_words_and_zam_n(env: Env, api: HubApi) -> None:
    env.smtp.script("nobody@test.mssante.fr", "550 5.1.1 mailbox unknown")
    body = message("MSS-5XX", new_ins(), rct=("10001234570|nobody@test.mssante.fr",),
                   destmssanteps=True, ack_reception=True)
    assert (await send(env.hub.mllp_port, body)).code in ACCEPTED
    record = await api.wait_status("MSS-5XX", "parked")
    parked = [e for e in record["events"] if e["stage"] == "parked"]
    assert "550 5.1.1 mailbox unknown" in parked[0]["detail"]
    z02 = (await zams(env, "Z02", "MSS-5XX"))[0]
    assert (z02.first("OBX-5.1"), z02.first("ERR-5.1")) == ("N", "550")


async def test_server_down_then_up_delivers_once(env: Env, api: HubApi) -> None:
    env.smtp.stop()
    try:
        body = message("MSS-DOWN", new_ins(), rct=("10001234571|dr.down@test.mssante.fr",),
                       destmssanteps=True)
        assert (await send(env.hub.mllp_port, body)).code in ACCEPTED

        async def failed_once() -> bool:
            records = await api.by_control_id("MSS-DOWN")
            return bool(records) and "failed" in stages(await api.message(records[0]["id"]))

        await await_until(failed_once, 20, "a failed attempt while the server is down")
    finally:
        env.smtp.start()
    await api.wait_status("MSS-DOWN", "delivered", timeout_s=30)
    assert len(env.smtp.mails_to("dr.down@test.mssante.fr")) == 1


async def test_directory_gives_the_address_of_an_rpps(env: Env, api: HubApi) -> None:
    async with httpx.AsyncClient(base_url=env.hub.base_url, headers=env.hub.headers) as client:
        response = await client.post("/api/mssante/directory", content=(
            "rpps;address;family;given\n10009999999;dr.annuaire@test.mssante.fr;ANNU;Aire\n"))
        assert response.json() == {"imported": 1}
        shown = await client.get("/api/mssante/directory/10009999999")
        assert shown.json()["address"] == "dr.annuaire@test.mssante.fr"
    body = message("MSS-DIR", new_ins(), rct=("10009999999|",), destmssanteps=True)
    assert (await send(env.hub.mllp_port, body)).code in ACCEPTED
    await mails_to(env, "dr.annuaire@test.mssante.fr")


async def test_no_recipient_is_parked_with_a_clear_reason(env: Env, api: HubApi) -> None:
    body = message("MSS-NONE", new_ins(), rct=("10001111111|",), destmssanteps=True)
    assert (await send(env.hub.mllp_port, body)).code in ACCEPTED
    record = await api.wait_status("MSS-NONE", "parked")
    parked = next(e for e in record["events"] if e["stage"] == "parked")["detail"]
    assert "no MSSanté recipient" in parked and "10001111111" in parked


def inbound_mail(package: bytes, sender: str) -> bytes:
    """A mail from a professional carrying ``package`` as IHE_XDM.zip."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = HUB_ADDRESS
    mail["Subject"] = "XDM/1.0/DDM+Compte rendu MARTIN CLAIRE 12/05/1984"
    mail["Message-ID"] = f"<in-{next(_numbers)}@test.mssante.fr>"
    mail["Disposition-Notification-To"] = sender
    mail.set_content("Bonjour\n")
    mail.add_attachment(package, maintype="application", subtype="zip", filename="IHE_XDM.zip")
    return mail.as_bytes()


async def test_inbound_xdm_is_filed_and_answered_with_an_mdn(env: Env, api: HubApi) -> None:
    ins, uid = new_ins(), f"1.2.250.1.999.42.81.{next(_numbers)}"
    document = cda(uid, ins=ins)
    package = build_xdm([XdmDocument(document, map_cda(document).entry)],
                        XdmSubmission("1.2.250.1.999.42.82.1", "1.2.250.1.999.42.83",
                                      "20250301101500", None))
    env.imap.append(inbound_mail(package, "dr.in@test.mssante.fr"))
    outcomes = await poll(env)
    assert any(o.startswith("filed") for o in outcomes), outcomes
    async with httpx.AsyncClient(base_url=env.hub.base_url + "/fhir",
                                 headers=env.hub.headers) as mhd:
        found = await mhd.get("/DocumentReference", params={
            "patient.identifier": f"urn:oid:{INS_TEST}|{ins}"})
    assert found.json()["total"] == 1
    answer = (await mails_to(env, "dr.in@test.mssante.fr"))[0]
    mdn = parse_mdn(answer)
    assert mdn is not None and (mdn.disposition, mdn.modifiers) == ("processed", ())


@pytest.mark.parametrize(("package_source", "filed_source"), [
    pytest.param("1.2.250.1.999.42.83", "1.2.250.1.999.42.83", id="package-oid"),
    pytest.param("", None, id="none-then-the-hub-mailbox-oid"),
])
async def test_inbound_xdm_submission_source_id_is_an_oid(
        env: Env, package_source: str, filed_source: str | None) -> None:
    ins, uid = new_ins(), f"1.2.250.1.999.42.81.{next(_numbers)}"
    document = cda(uid, ins=ins)
    package = build_xdm([XdmDocument(document, map_cda(document).entry)],
                        XdmSubmission(f"1.2.250.1.999.42.82.{next(_numbers)}", package_source,
                                      "20250301101500", None))
    env.imap.append(inbound_mail(package, "dr.src@test.mssante.fr"))
    assert any(o.startswith("filed") for o in await poll(env))
    async with httpx.AsyncClient(base_url=env.hub.base_url + "/fhir",
                                 headers=env.hub.headers) as mhd:
        lists = (await mhd.get("/List", params={
            "patient.identifier": f"urn:oid:{INS_TEST}|{ins}"})).json()
    (entry,) = lists["entry"]
    (source,) = [e["valueIdentifier"] for e in entry["resource"]["extension"]
                 if e["url"].endswith("/ihe-sourceId")]
    assert source["system"] == "urn:ietf:rfc:3986", source
    oid = source["value"].removeprefix("urn:oid:")
    if filed_source:
        assert oid == filed_source
    else:
        assert oid.startswith("2.25."), source


async def test_malformed_xdm_gets_an_error_mdn_and_is_kept(env: Env, api: HubApi) -> None:
    document = cda(f"1.2.250.1.999.42.84.{next(_numbers)}", ins=new_ins())
    good = build_xdm([XdmDocument(document, map_cda(document).entry)],
                     XdmSubmission("1.2.250.1.999.42.85.1", "1.2.250.1.999.42.83",
                                   "20250301101500", None))
    tampered = BytesIO()
    with zipfile.ZipFile(BytesIO(good)) as source, zipfile.ZipFile(tampered, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            target.writestr(item.filename, data.replace(b"MARTIN", b"DURAND")
                            if item.filename.endswith("DOC0001.XML") else data)
    env.imap.append(inbound_mail(tampered.getvalue(), "dr.bad@test.mssante.fr"))
    outcomes = await poll(env)
    assert any(o.startswith("rejected") and "hash" in o for o in outcomes), outcomes
    answer = (await mails_to(env, "dr.bad@test.mssante.fr"))[0]
    mdn = parse_mdn(answer)
    assert mdn is not None and mdn.modifiers == ("error",)
    rejected = [r for r in await api.every_message() if r["status"] == "rejected"
                and r["protocol"] == "mail"]
    assert rejected and "hash" in (rejected[-1].get("error") or "")
    assert message_from_bytes(await api.raw(rejected[-1]["id"]), policy=policy.default)[
        "From"] == "dr.bad@test.mssante.fr"
