"""TLS contexts for MLLP over TLS (IHE ATNA secure node style: TLS 1.2 or later).

Paths are whatever the settings give; nothing here reads the environment.
"""

from __future__ import annotations

import ssl
from os import PathLike

StrPath = str | PathLike[str]


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
