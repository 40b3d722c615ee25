"""MLLP over TLS through ``hub run``, with ``hub send hl7 --tls`` as the sender.

The hub's listener is configured with ``mllp.tls`` (a self-signed certificate
for 127.0.0.1 made with the openssl command); the message is acknowledged over
TLS and delivered to a plain MLLP sink. A client that does not trust the
certificate is refused, and a plain-TCP client gets no HL7 answer.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.messages import adt
from tests.support.certs import make_certificate
from tests.support.hubproc import HubProcess, mllp_destination, wait_until, write_config
from tests.support.sink import SinkThread

ROUTES = """\
routes:
  - name: everything
    when: {}
    action: deliver
    to: [main]
"""


@pytest.fixture(scope="module")
def tls_hub(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[HubProcess, SinkThread, Path]]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = make_certificate(directory)
    with SinkThread() as sink:
        config = write_config(
            directory, routes=ROUTES, destinations={"main": mllp_destination(sink.port)},
            mllp={"tls": {"certfile": str(cert), "keyfile": str(key)}},
        )
        with HubProcess(config) as hub:
            yield hub, sink, cert


def send_cli(port: int, message: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", "send", "hl7", str(message), "--host", "127.0.0.1",
         "--port", str(port), *options],
        capture_output=True, text=True, timeout=60, check=False,
    )


def test_hub_send_over_tls_is_acked_and_delivered(
    tls_hub: tuple[HubProcess, SinkThread, Path], tmp_path: Path
) -> None:
    hub, sink, cert = tls_hub
    message = tmp_path / "a01.hl7"
    message.write_bytes(adt("A01", "TLS-0001", "900001"))
    result = send_cli(hub.mllp_port, message, "--tls", "--cafile", str(cert))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "AA" in result.stdout
    wait_until(lambda: sink.sink.accepted_payload("TLS-0001"), 10, "delivered to the sink")
    assert sink.sink.accepted_payload("TLS-0001") == message.read_bytes()


def test_a_client_that_does_not_trust_the_certificate_is_refused(
    tls_hub: tuple[HubProcess, SinkThread, Path], tmp_path: Path
) -> None:
    hub, _, _ = tls_hub
    message = tmp_path / "a01.hl7"
    message.write_bytes(adt("A01", "TLS-0002", "900002"))
    result = send_cli(hub.mllp_port, message, "--tls")
    assert result.returncode != 0
    assert "AA" not in result.stdout


def test_plain_tcp_gets_no_hl7_answer(
    tls_hub: tuple[HubProcess, SinkThread, Path], tmp_path: Path
) -> None:
    hub, sink, _ = tls_hub
    message = tmp_path / "a01.hl7"
    message.write_bytes(adt("A01", "TLS-0003", "900003"))
    result = send_cli(hub.mllp_port, message)
    assert result.returncode != 0
    assert sink.sink.received_count("TLS-0003") == 0
