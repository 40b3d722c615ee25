"""SMTP submission against a real aiosmtpd server: mutual TLS, AUTH, reuse, replies -> errors."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

import pytest

from connectors.mssante.smtp import SmtpDeferred, SmtpRefused, SmtpSender
from tests.connectors.mssante.conftest import smtp_settings
from tests.support.hubproc import free_port
from tests.support.mail import SMTP_USER, Pki, SmtpServer

pytestmark = pytest.mark.timeout(60)


def mail(to: str = "dr.petit@test.mssante.fr") -> EmailMessage:
    message = EmailMessage()
    message["From"] = SMTP_USER
    message["To"] = to
    message["Subject"] = "XDM/1.0/DDM+test"
    message.set_content("corps\n")
    return message


async def test_sends_over_starttls_with_client_certificate_and_auth(
        pki: Pki, smtp_server: SmtpServer) -> None:
    sender = SmtpSender(smtp_settings(pki, smtp_server.port))
    try:
        for _ in range(3):
            assert await sender.send(mail(), SMTP_USER, ["dr.petit@test.mssante.fr"]) == []
    finally:
        await sender.close()
    received = smtp_server.mails
    assert len(received) == 3
    assert "commonName=hub.test" in received[0].client_subject
    assert received[0].user == SMTP_USER
    assert sender.opened == 1, "the connection is reused"


async def test_concurrent_sends_share_a_bounded_pool(pki: Pki, smtp_server: SmtpServer) -> None:
    sender = SmtpSender(smtp_settings(pki, smtp_server.port, connections=2, per_domain=2))
    try:
        await asyncio.gather(*(sender.send(mail(f"u{i}@d{i % 3}.fr"), SMTP_USER,
                                           [f"u{i}@d{i % 3}.fr"]) for i in range(12)))
    finally:
        await sender.close()
    assert len(smtp_server.mails) == 12
    assert sender.opened <= 2


@pytest.mark.parametrize(("reply", "error", "code"), [
    ("451 4.3.0 mailbox busy, try later", SmtpDeferred, 451),
    ("550 5.1.1 unknown mailbox", SmtpRefused, 550),
], ids=["4xx-transient", "5xx-permanent"])
async def test_replies_become_transient_or_permanent(
        pki: Pki, smtp_server: SmtpServer, reply: str, error: type[Exception], code: int) -> None:
    smtp_server.script("x@test.mssante.fr", reply)
    sender = SmtpSender(smtp_settings(pki, smtp_server.port))
    try:
        with pytest.raises(error) as raised:
            await sender.send(mail("x@test.mssante.fr"), SMTP_USER, ["x@test.mssante.fr"])
        assert getattr(raised.value, "code", None) == code
        assert reply.split(" ", 1)[1] in str(raised.value)
        assert await sender.send(mail("x@test.mssante.fr"), SMTP_USER,
                                 ["x@test.mssante.fr"]) == []
    finally:
        await sender.close()


async def test_one_refused_recipient_among_others_is_reported(
        pki: Pki, smtp_server: SmtpServer) -> None:
    smtp_server.script("gone@test.mssante.fr", "550 5.1.1 no such user")
    sender = SmtpSender(smtp_settings(pki, smtp_server.port))
    try:
        refused = await sender.send(mail(), SMTP_USER, ["ok@test.mssante.fr",
                                                        "gone@test.mssante.fr"])
    finally:
        await sender.close()
    assert [(r.address, r.code) for r in refused] == [("gone@test.mssante.fr", 550)]
    assert smtp_server.mails[0].rcpt_tos == ("ok@test.mssante.fr",)


@pytest.mark.parametrize("case", ["no-client-certificate", "wrong-password", "server-down"])
async def test_connection_problems_are_transient(pki: Pki, smtp_server: SmtpServer,
                                                 case: str) -> None:
    port = free_port() if case == "server-down" else smtp_server.port
    settings = smtp_settings(pki, port, client_cert=case != "no-client-certificate",
                             password="wrong" if case == "wrong-password" else "smtp-secret-42")
    sender = SmtpSender(settings)
    try:
        with pytest.raises(SmtpDeferred):
            await sender.send(mail(), SMTP_USER, ["dr.petit@test.mssante.fr"])
    finally:
        await sender.close()
    assert smtp_server.mails == []
