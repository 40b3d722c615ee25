"""MLLP sources bound to client certificates, through ``hub run`` over real mutual TLS.

A test CA (tests/support/certs.py) signs the hub's server certificate and
the senders' client certificates; the listener verifies client certificates
against it (``mllp.tls.cafile``) without demanding one, so that the same
listener also shows what happens to a connection without a certificate.

Sources: ``chu-x-gam`` (GAM / CHU-X) bound by fingerprint and requiring it,
``chu-y-gam`` (GAM / CHU-Y) bound by subject and requiring it, ``lab-z``
(SIL / LAB-Z) bound to nothing. Each message goes to a plain MLLP sink when
accepted; a refused one gets AR with an ERR naming MSH-4, is journaled
rejected with the reason and never reaches the sink.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connectors.mllp.client import MLLPClient
from connectors.mllp.tls import client_context
from hub.hl7.er7 import parse
from tests.e2e.api import HubApi
from tests.e2e.messages import adt
from tests.support.certs import Issued, issue, make_ca
from tests.support.hubproc import HubProcess, await_until, mllp_destination, write_config
from tests.support.sink import SinkThread

ROUTES = """\
routes:
  - name: everything
    when: {}
    action: deliver
    to: [main]
"""


@dataclass
class Pki:
    ca: Issued
    server: Issued
    chu_x: Issued
    chu_y: Issued
    stranger: Issued


def sources(pki: Pki) -> list[dict[str, Any]]:
    return [
        {"name": "chu-x-gam", "sending_application": "GAM", "sending_facility": "CHU-X",
         "certificate": {"sha256": pki.chu_x.sha256}, "require_certificate": True},
        {"name": "chu-y-gam", "sending_application": "GAM", "sending_facility": "CHU-Y",
         "certificate": {"subject": pki.chu_y.subject}, "require_certificate": True},
        {"name": "lab-z", "sending_application": "SIL", "sending_facility": "LAB-Z"},
    ]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca(directory)
    return Pki(ca, issue(directory, ca, "hub", server=True),
               issue(directory, ca, "gam.chu-x", organization="CHU X"),
               issue(directory, ca, "gam.chu-y", organization="CHU Y"),
               issue(directory, ca, "someone", organization="Elsewhere"))


@pytest.fixture(scope="module")
def sink() -> Iterator[SinkThread]:
    with SinkThread() as running:
        yield running


@pytest.fixture(scope="module")
def hub(pki: Pki, sink: SinkThread,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    directory = tmp_path_factory.mktemp("bound")
    tls = {"certfile": str(pki.server.cert), "keyfile": str(pki.server.key),
           "cafile": str(pki.ca.cert), "require_client_cert": False}
    config = write_config(directory, routes=ROUTES,
                          destinations={"main": mllp_destination(sink.port)},
                          mllp={"tls": tls}, sources=sources(pki))
    with HubProcess(config) as process:
        yield process


def message(control_id: str, app: str, facility: str) -> bytes:
    """An ADT^A01 whose MSH-3 / MSH-4 are ``app`` / ``facility``."""
    payload = adt("A01", control_id, "880" + control_id[-4:])
    head, rest = payload.split(b"\r", 1)
    fields = head.split(b"|")
    fields[2], fields[3] = app.encode(), facility.encode()
    return b"|".join(fields) + b"\r" + rest


async def send(port: int, payload: bytes, pki: Pki, client: Issued | None) -> Any:
    context = client_context(pki.ca.cert, client.cert if client else None,
                             client.key if client else None)
    async with MLLPClient("127.0.0.1", port, ssl=context, server_hostname="localhost") as mllp:
        return parse(await mllp.send(payload))


async def journal(hub: HubProcess, control_id: str) -> dict[str, Any]:
    api = HubApi(hub)
    try:
        records = await api.by_control_id(control_id)
        assert len(records) == 1, records
        return await api.message(records[0]["id"])
    finally:
        await api.close()


def assert_refused_naming_msh4(ack: Any, *words: str) -> str:
    assert ack.first("MSA-1") == "AR"
    assert ack.first("ERR-2") == "MSH^1^4"
    assert ack.first("ERR-3.1") == "103"
    text: str = ack.first("ERR-8")
    for word in words:
        assert word in text, text
    return text


async def test_a_bound_source_is_accepted_with_its_certificate(
        hub: HubProcess, sink: SinkThread, pki: Pki) -> None:
    ack = await send(hub.mllp_port, message("BOUND-0001", "GAM", "CHU-X"), pki, pki.chu_x)
    assert ack.first("MSA-1") == "AA"
    record = await journal(hub, "BOUND-0001")
    assert record["source"] == "chu-x-gam"
    await await_until(lambda: sink.sink.accepted_payload("BOUND-0001"), 10, "delivered")


async def test_a_source_bound_by_subject_is_known_by_it(hub: HubProcess, pki: Pki) -> None:
    ack = await send(hub.mllp_port, message("BOUND-0002", "GAM", "CHU-Y"), pki, pki.chu_y)
    assert ack.first("MSA-1") == "AA"
    assert (await journal(hub, "BOUND-0002"))["source"] == "chu-y-gam"


async def test_impersonation_is_refused_journaled_and_not_routed(
        hub: HubProcess, sink: SinkThread, pki: Pki) -> None:
    ack = await send(hub.mllp_port, message("BOUND-0003", "GAM", "CHU-Y"), pki, pki.chu_x)
    text = assert_refused_naming_msh4(ack, "CHU-Y", pki.chu_x.subject, "chu-x-gam")
    record = await journal(hub, "BOUND-0003")
    assert record["status"] == "rejected"
    assert record["source"] == "chu-x-gam"  # known by its certificate, not by MSH-4
    assert text in str(record)
    assert [e for e in record["events"] if e["stage"] == "rejected"]
    assert not record["deliveries"]
    await asyncio.sleep(0.5)
    assert sink.sink.received_count("BOUND-0003") == 0


async def test_a_facility_no_source_has_is_refused_on_a_bound_connection(
        hub: HubProcess, pki: Pki) -> None:
    ack = await send(hub.mllp_port, message("BOUND-0004", "GAM", "CHU-W"), pki, pki.chu_x)
    assert_refused_naming_msh4(ack, "CHU-W", "CHU-X")
    assert (await journal(hub, "BOUND-0004"))["status"] == "rejected"


async def test_tls_without_a_client_certificate_is_refused_for_a_requiring_source(
        hub: HubProcess, pki: Pki) -> None:
    ack = await send(hub.mllp_port, message("BOUND-0005", "GAM", "CHU-X"), pki, None)
    assert_refused_naming_msh4(ack, "CHU-X", "chu-x-gam", "presented none")
    record = await journal(hub, "BOUND-0005")
    assert (record["status"], record["source"]) == ("rejected", "default")


async def test_another_certificate_of_the_same_ca_is_not_the_bound_one(
        hub: HubProcess, pki: Pki) -> None:
    ack = await send(hub.mllp_port, message("BOUND-0006", "GAM", "CHU-X"), pki, pki.stranger)
    assert_refused_naming_msh4(ack, "CHU-X", pki.stranger.subject)


async def test_an_unbound_source_is_still_known_by_its_header(hub: HubProcess,
                                                              pki: Pki) -> None:
    ack = await send(hub.mllp_port, message("BOUND-0007", "SIL", "LAB-Z"), pki, None)
    assert ack.first("MSA-1") == "AA"
    assert (await journal(hub, "BOUND-0007"))["source"] == "lab-z"


def test_a_certificate_the_ca_did_not_sign_gets_no_connection(
        hub: HubProcess, pki: Pki, tmp_path: Path) -> None:
    other_ca = make_ca(tmp_path, "other-ca")
    forged = issue(tmp_path, other_ca, "gam.chu-x", organization="CHU X")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        asyncio.run(send(hub.mllp_port, message("BOUND-0008", "GAM", "CHU-X"), pki, forged))


@pytest.fixture(scope="module")
def plain_hub(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    directory = tmp_path_factory.mktemp("plain")
    config = write_config(directory, routes=ROUTES,
                          destinations={"main": mllp_destination(1)}, sources=sources(pki))
    with HubProcess(config) as process:
        yield process


async def test_a_requiring_source_refuses_plain_tcp(plain_hub: HubProcess) -> None:
    async with MLLPClient("127.0.0.1", plain_hub.mllp_port) as mllp:
        ack = parse(await mllp.send(message("PLAIN-0001", "GAM", "CHU-X")))
        lab = parse(await mllp.send(message("PLAIN-0002", "SIL", "LAB-Z")))
    assert_refused_naming_msh4(ack, "CHU-X", "chu-x-gam", "presented none")
    assert lab.first("MSA-1") == "AA"
    assert (await journal(plain_hub, "PLAIN-0001"))["status"] == "rejected"
