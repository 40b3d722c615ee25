"""Fixtures of the MSSanté connector tests: a test CA and an mTLS SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.config import SmtpSettings, TlsSettings
from tests.support.mail import SMTP_PASSWORD, SMTP_USER, Pki, SmtpServer, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA with a server and a client certificate."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def smtp_server(pki: Pki) -> Iterator[SmtpServer]:
    """aiosmtpd on 127.0.0.1: STARTTLS, client certificate and AUTH required."""
    with SmtpServer(pki) as server:
        yield server


def smtp_settings(pki: Pki, port: int, *, client_cert: bool = True,
                  password: str = SMTP_PASSWORD, **extra: object) -> SmtpSettings:
    """The hub's SMTP settings for the test server."""
    tls = TlsSettings(cafile=pki.ca, certfile=pki.client_cert if client_cert else None,
                      keyfile=pki.client_key if client_cert else None)
    return SmtpSettings.model_validate({"host": "127.0.0.1", "port": port, "tls": tls,
                                        "username": SMTP_USER, "password": password,
                                        "timeout_s": 5.0, **extra})


def here() -> Path:
    """This directory."""
    return Path(__file__).parent
