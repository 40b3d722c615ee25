"""TLS contexts for MLLP over TLS (IHE ATNA secure node style: TLS 1.2 or later),
and the verified client certificate of a connection.

Paths are whatever the settings give; nothing here reads the environment.
"""

from __future__ import annotations

import hashlib
import ssl
from os import PathLike
from typing import Any

from hub.auth.model import PeerCertificate

StrPath = str | PathLike[str]

# RFC 4514 2.3: the attribute type names a string representation uses; others
# keep the name OpenSSL gives them.
_SHORT_NAMES = {
    "commonName": "CN", "localityName": "L", "stateOrProvinceName": "ST",
    "organizationName": "O", "organizationalUnitName": "OU", "countryName": "C",
    "streetAddress": "STREET", "domainComponent": "DC", "userId": "UID",
}
_SPECIAL = set('"+,;<>\\')


def server_context(
    certfile: StrPath,
    keyfile: StrPath,
    cafile: StrPath | None = None,
    require_client_cert: bool = False,
) -> ssl.SSLContext:
    """A server context presenting ``certfile``/``keyfile``.

    With ``cafile`` clients may present a certificate signed by it (verified
    when presented); ``require_client_cert`` makes one mandatory (mutual TLS).
    """
    if require_client_cert and cafile is None:
        raise ValueError("require_client_cert needs cafile to verify client certificates")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    if cafile is not None:
        context.load_verify_locations(cafile)
        context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return context


def client_context(
    cafile: StrPath | None = None,
    certfile: StrPath | None = None,
    keyfile: StrPath | None = None,
    verify: bool = True,
) -> ssl.SSLContext:
    """A client context trusting ``cafile`` (the system store when None).

    ``certfile``/``keyfile`` give a client certificate for mutual TLS.
    ``verify=False`` disables certificate and host name checks: tests only.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if certfile is not None:
        context.load_cert_chain(certfile, keyfile)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def peer_certificate(tls: ssl.SSLSocket | ssl.SSLObject | None) -> PeerCertificate | None:
    """The client certificate the TLS handshake verified, None when there is none.

    Read once per connection. A certificate counts only when verified against
    the listener's CA (``getpeercert()`` is empty otherwise, Python ``ssl``).
    """
    if tls is None:
        return None
    der = tls.getpeercert(binary_form=True)
    verified = tls.getpeercert()
    if not der or not verified:
        return None
    return PeerCertificate(hashlib.sha256(der).hexdigest(), rfc4514_subject(dict(verified)))


def rfc4514_subject(certificate: dict[str, Any]) -> str:
    """The subject of a certificate as ``ssl`` decodes it, as an RFC 4514 string.

    RFC 4514 2.1: the RDNs in reverse order (most specific first), ``,``
    between RDNs, ``+`` inside a multi-valued one; 2.4: special characters
    escaped with a backslash.
    """
    rdns = certificate.get("subject", ())
    return ",".join(
        "+".join(f"{_SHORT_NAMES.get(kind, kind)}={_escape(value)}" for kind, value in rdn)
        for rdn in reversed(rdns))


def _escape(value: str) -> str:
    """RFC 4514 2.4 escaping of an attribute value."""
    out = "".join(f"\\{c}" if c in _SPECIAL else "\\00" if c == "\0" else c for c in value)
    if out.startswith(("#", " ")):
        out = "\\" + out
    if out.endswith(" ") and not out.endswith("\\ "):
        out = out[:-1] + "\\ "
    return out
