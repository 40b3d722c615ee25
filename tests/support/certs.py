"""Test certificates made with openssl: a self-signed one for 127.0.0.1 / localhost,
and a small PKI (a CA, server and client certificates it signs) for mutual TLS."""

from __future__ import annotations

import hashlib
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """Write ``cert.pem`` and ``key.pem`` (EC P-256) under ``directory``; skip without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


@dataclass(frozen=True)
class Issued:
    """A certificate signed by a test CA: PEM files and what the hub sees of it."""

    cert: Path
    key: Path
    subject: str  # RFC 4514, as the hub spells it (most specific first)

    @property
    def sha256(self) -> str:
        """SHA-256 of the DER certificate, lowercase hex."""
        der = ssl.PEM_cert_to_DER_cert(self.cert.read_text(encoding="ascii"))
        return hashlib.sha256(der).hexdigest()


def _openssl(*args: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make test certificates")
    subprocess.run([openssl, *args], check=True, capture_output=True)


def make_ca(directory: Path, name: str = "ca") -> Issued:
    """A self-signed test CA (EC P-256) as ``<name>.pem`` / ``<name>.key``."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "2", "-subj", f"/O=Test/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-keyout", str(key), "-out", str(cert))
    return Issued(cert, key, f"CN={name},O=Test")


def issue(directory: Path, ca: Issued, name: str, *, organization: str = "Test",
          server: bool = False) -> Issued:
    """A certificate for ``CN=name,O=organization`` signed by ``ca``.

    ``server``: for 127.0.0.1 / localhost (serverAuth); else a client certificate.
    """
    cert, key, csr = (directory / f"{name}.pem", directory / f"{name}.key",
                      directory / f"{name}.csr")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-subj", f"/O={organization}/CN={name}", "-keyout", str(key), "-out", str(csr))
    extensions = directory / f"{name}.ext"
    extensions.write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n" if server
        else "extendedKeyUsage=clientAuth\n", encoding="ascii")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
             "-CAcreateserial", "-days", "2", "-extfile", str(extensions), "-out", str(cert))
    return Issued(cert, key, f"CN={name},O={organization}")
