"""DICOM sources bound to client certificates, over real DICOM TLS (PS3.15 B.1) on loopback.

The hub's listener serves TLS with a server certificate from a test CA and
verifies client certificates against it without demanding one. The source
``modality`` (AE ``MODALITY``) is bound to its certificate's fingerprint and
requires it; ``viewer`` (AE ``VIEWER``) is bound to nothing. pynetdicom is
the SCU, with an ``ssl.SSLContext`` holding the client certificate or none.
A refused association gets A-ASSOCIATE-RJ rejected-permanent, service-user,
calling-AE-title-not-recognized (PS3.8 Table 9-21), and nothing is stored.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, Verification  # type: ignore[attr-defined]

from connectors.mllp.tls import client_context
from hub.app import Hub
from tests.connectors.dicom.conftest import HubFactory, dicom_port
from tests.connectors.dicom.test_listener import journal
from tests.support.certs import Issued, issue, make_ca
from tests.support.dicom import local_sample, make_instance

ROUTE_TO_DROP = """\
routes:
  - name: images-to-drop
    when: {protocol: dicom}
    action: deliver
    to: [drop]
"""


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Issued]:
    ca = make_ca(tmp_path)
    return {"ca": ca, "hub": issue(tmp_path, ca, "hub", server=True),
            "modality": issue(tmp_path, ca, "ct.chu-x", organization="CHU X"),
            "viewer": issue(tmp_path, ca, "viewer.chu-y", organization="CHU Y")}


@pytest.fixture
async def hub(start_hub: HubFactory, pki: dict[str, Issued], tmp_path: Path) -> Hub:
    server, ca = pki["hub"], pki["ca"]
    hub: Hub = await start_hub(
        ROUTE_TO_DROP, {"drop": {"type": "file", "directory": str(tmp_path / "drop"),
                                 "suffix": ".dcm"}},
        tls={"certfile": str(server.cert), "keyfile": str(server.key),
             "cafile": str(ca.cert), "require_client_cert": False},
        sources=[{"name": "modality", "ae_titles": ["MODALITY"],
                  "certificate": {"sha256": pki["modality"].sha256},
                  "require_certificate": True},
                 {"name": "viewer", "ae_titles": ["VIEWER"]}])
    return hub


def associate(port: int, calling: str, ca: Issued, client: Issued | None,
              instance: Path | None = None) -> tuple[bool, Any, int | None]:
    """Associate over TLS; (established, A-ASSOCIATE response primitive, C-STORE status)."""
    ae = AE(ae_title=calling)
    ae.add_requested_context(Verification)
    ae.add_requested_context(CTImageStorage)
    context = client_context(ca.cert, client.cert if client else None,
                             client.key if client else None)
    assoc = ae.associate("127.0.0.1", port, ae_title="HUB", tls_args=(context, "localhost"))
    status, established = None, assoc.is_established
    if established:
        if instance is not None:
            answer = assoc.send_c_store(dcmread(instance))
            status = int(answer.Status) if answer else None
        assoc.release()
    return established, assoc.acceptor.primitive, status


def assert_rejected(established: bool, primitive: Any) -> None:
    assert not established
    assert primitive is not None
    assert (primitive.result, primitive.result_source, primitive.diagnostic) == (1, 1, 3)


async def test_a_bound_source_stores_with_its_certificate(
        hub: Hub, pki: dict[str, Issued], tmp_path: Path) -> None:
    sample = local_sample("CT_small.dcm")
    if sample is None:
        pytest.skip("pydicom's CT_small.dcm is not on this machine")
    instance = make_instance(sample, tmp_path / "ct.dcm")
    established, _, status = await asyncio.to_thread(
        associate, dicom_port(hub), "MODALITY", pki["ca"], pki["modality"], instance)
    assert established and status == 0x0000
    rows = await journal(hub)
    assert [(r.protocol, r.source) for r in rows] == [("dicom", "modality")]


async def test_the_bound_title_without_a_certificate_is_rejected(
        hub: Hub, pki: dict[str, Issued]) -> None:
    established, primitive, _ = await asyncio.to_thread(
        associate, dicom_port(hub), "MODALITY", pki["ca"], None)
    assert_rejected(established, primitive)


async def test_the_bound_title_with_another_certificate_is_rejected(
        hub: Hub, pki: dict[str, Issued]) -> None:
    established, primitive, _ = await asyncio.to_thread(
        associate, dicom_port(hub), "MODALITY", pki["ca"], pki["viewer"])
    assert_rejected(established, primitive)


async def test_a_bound_certificate_calling_as_another_source_is_rejected(
        hub: Hub, pki: dict[str, Issued], tmp_path: Path) -> None:
    established, primitive, _ = await asyncio.to_thread(
        associate, dicom_port(hub), "VIEWER", pki["ca"], pki["modality"])
    assert_rejected(established, primitive)
    assert await journal(hub) == []


async def test_an_unbound_source_associates_without_a_certificate(
        hub: Hub, pki: dict[str, Issued]) -> None:
    established, _, _ = await asyncio.to_thread(
        associate, dicom_port(hub), "VIEWER", pki["ca"], None)
    assert established
