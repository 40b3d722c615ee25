"""Mail servers for the MSSanté tests: a test CA, an aiosmtpd SMTP server, a dovecot IMAP server.

* :func:`make_pki` writes a CA, a server certificate for 127.0.0.1/localhost
  and a client certificate (the hub's), all signed by the CA, with openssl.
* :class:`SmtpServer` is aiosmtpd on 127.0.0.1 in its own thread: STARTTLS
  required, a client certificate from the test CA required (mutual TLS),
  AUTH required (one user). It records every mail (envelope, bytes, the
  client certificate's subject) and can be scripted: ``reply_rcpt[address]``
  is a list of replies to give to the next RCPTs of that address, ``None``
  meaning accept; :meth:`stop` / :meth:`start` take it down and back on the
  same port.
* :class:`Dovecot` runs Debian's dovecot (IMAP over implicit TLS) on a free
  port with its own configuration in a temporary directory and one user.
  Run as root it uses the package's unprivileged ``dovenull``/``dovecot``
  users for the login and mail processes (dovecot refuses root for them);
  run as another user it uses that user. Skipped when dovecot is absent.
"""

from __future__ import annotations

import contextlib
import email
import grp
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from connectors.mllp import tls
from tests.support.hubproc import free_port

SMTP_USER = "hub@hub.test"
SMTP_PASSWORD = "smtp-secret-42"
IMAP_USER = "hub"
IMAP_PASSWORD = "imap-secret-42"


@dataclass(frozen=True)
class Pki:
    """Paths of the test CA and the certificates it signed."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make test certificates")
    subprocess.run([openssl, *args], check=True, capture_output=True)


def _signed(directory: Path, name: str, subject: str, ca: tuple[Path, Path],
            extensions: str) -> tuple[Path, Path]:
    key, csr, cert = (directory / f"{name}.key", directory / f"{name}.csr",
                      directory / f"{name}.pem")
    ext = directory / f"{name}.ext"
    ext.write_text(extensions, encoding="utf-8")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-subj", subject, "-keyout", str(key), "-out", str(csr))
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
             "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert))
    return cert, key


def make_pki(directory: Path) -> Pki:
    """A CA, a server certificate (127.0.0.1, localhost) and a client certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = directory / "ca.pem", directory / "ca.key"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "2", "-subj", "/CN=Test MSSante CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-keyout", str(ca_key), "-out", str(ca_cert))
    server = _signed(directory, "server", "/CN=localhost", (ca_cert, ca_key),
                     "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                     "extendedKeyUsage=serverAuth\n")
    client = _signed(directory, "client", "/CN=hub.test/O=GRADES TEST", (ca_cert, ca_key),
                     "extendedKeyUsage=clientAuth\n")
    return Pki(ca_cert, server[0], server[1], client[0], client[1])


def server_context(pki: Pki) -> ssl.SSLContext:
    """TLS for the servers: their certificate, client certificates from the CA required."""
    return tls.server_context(pki.server_cert, pki.server_key, pki.ca, require_client_cert=True)


@dataclass(frozen=True)
class ReceivedMail:
    """One mail the SMTP server accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    client_subject: str
    user: str

    @property
    def message(self) -> EmailMessage:
        """The parsed mail."""
        parsed: EmailMessage = email.message_from_bytes(self.data, policy=policy.default)
        return parsed


@dataclass
class _Handler:
    mails: list[ReceivedMail] = field(default_factory=list)
    reply_rcpt: dict[str, deque[str | None]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rcpt_seen: list[str] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        with self.lock:
            self.rcpt_seen.append(address)
            script = self.reply_rcpt.get(address)
            reply = script.popleft() if script else None
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        peer = server.transport.get_extra_info("peercert") or {}
        subject = ",".join(f"{k}={v}" for rdn in peer.get("subject", ()) for k, v in rdn)
        login = session.auth_data.login.decode() if session.auth_data else ""
        with self.lock:
            self.mails.append(ReceivedMail(envelope.mail_from, tuple(envelope.rcpt_tos),
                                           bytes(envelope.original_content or envelope.content),
                                           subject, login))
        return "250 2.0.0 accepted"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                   auth_data: Any) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == SMTP_USER
          and auth_data.password.decode() == SMTP_PASSWORD)
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


class SmtpServer:
    """aiosmtpd with STARTTLS + client certificate + AUTH (see the module docstring)."""

    def __init__(self, pki: Pki, port: int | None = None) -> None:
        self.pki = pki
        self.port = port or free_port()
        self.handler = _Handler()
        self._controller: Controller | None = None

    def start(self) -> SmtpServer:
        """Listen (again) on :attr:`port`."""
        self._controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, server_hostname="localhost",
            tls_context=server_context(self.pki), require_starttls=True,
            auth_required=True, auth_require_tls=True, authenticator=_authenticator,
            decode_data=False)
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop listening (the port stays reserved for :meth:`start`)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def mails(self) -> list[ReceivedMail]:
        """Every mail accepted so far."""
        with self.handler.lock:
            return list(self.handler.mails)

    def mails_to(self, address: str) -> list[ReceivedMail]:
        """Accepted mails with ``address`` among their recipients."""
        return [m for m in self.mails if address in m.rcpt_tos]

    def script(self, address: str, *replies: str | None) -> None:
        """Give ``replies`` to the next RCPTs of ``address`` (None: accept)."""
        with self.handler.lock:
            self.handler.reply_rcpt[address] = deque(replies)

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _dovecot_users() -> tuple[str, str, str, str]:
    """(login user, internal user, mail uid, mail gid) dovecot accepts here."""
    if os.geteuid() != 0:
        me, group = pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name
        return me, me, me, group
    return "dovenull", "dovecot", "dovecot", "dovecot"


def _dovecot_config(base: Path, pki: Pki, port: int) -> str:
    login, internal, uid, gid = _dovecot_users()
    return f"""\
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
protocols = imap
listen = 127.0.0.1
first_valid_uid = 0
default_login_user = {login}
default_internal_user = {internal}
default_internal_group = {gid}
ssl = required
ssl_min_protocol = TLSv1.2
ssl_cert = <{pki.server_cert}
ssl_key = <{pki.server_key}
auth_mechanisms = plain
passdb {{
  driver = passwd-file
  args = {base}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={base}/mail/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {port}
  }}
}}
service anvil {{
  chroot =
}}
"""


class Dovecot:
    """Debian's dovecot on a free port with one user (see the module docstring)."""

    def __init__(self, pki: Pki) -> None:
        binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
        if not Path(binary).exists():
            pytest.skip("dovecot is not installed (Debian package dovecot-imapd)")
        self.binary = binary
        self.pki = pki
        self.port = free_port()
        # Not under pytest's tmp_path: its parents are 0700 and root's dovecot
        # runs the mail processes as the unprivileged 'dovecot' user.
        self.base = Path(tempfile.mkdtemp(prefix="hub-dovecot-"))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Dovecot:
        """Write the configuration, start dovecot in the foreground, wait for its port."""
        base = self.base
        base.chmod(0o755)
        for sub in ("run", "state", "mail"):
            (base / sub).mkdir()
        shutil.copy(self.pki.server_cert, base / "cert.pem")
        shutil.copy(self.pki.server_key, base / "key.pem")
        pki = Pki(self.pki.ca, base / "cert.pem", base / "key.pem", self.pki.client_cert,
                  self.pki.client_key)
        (base / "passwd").write_text(f"{IMAP_USER}:{{PLAIN}}{IMAP_PASSWORD}:::::\n")
        (base / "dovecot.conf").write_text(_dovecot_config(base, pki, self.port))
        _, _, uid, gid = _dovecot_users()
        shutil.chown(base / "mail", uid, gid)
        self.process = subprocess.Popen(
            [self.binary, "-F", "-c", str(base / "dovecot.conf")], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=1):
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"dovecot did not start: {self.log()}")

    def log(self) -> str:
        """dovecot's log so far."""
        path = self.base / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else "(no log)"

    def append(self, raw: bytes) -> None:
        """Deliver ``raw`` into the user's INBOX (IMAP APPEND, as an MTA would deliver it)."""
        import imaplib

        context = ssl.create_default_context(cafile=str(self.pki.ca))
        with imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=context) as client:
            client.login(IMAP_USER, IMAP_PASSWORD)
            client.append("INBOX", None, None, raw)

    def stop(self) -> None:
        """Stop the process this object started and remove its directory."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
