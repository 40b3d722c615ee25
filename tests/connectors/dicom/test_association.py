"""The C-STORE SCU's association (:class:`connectors.dicom.scu.StoreLink`) against a real SCP.

The peer is a pynetdicom storage SCP on a free port that counts the
associations it accepts and the ones released. A link keeps one association
for consecutive instances, replaces one left idle longer than ``timeout_s``
(releasing it first), and one the peer aborted while it was idle, without
failing the next instance.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import CTImageStorage

from connectors.dicom.scu import StoreLink, prepare_outgoing
from hub.config import DicomDestination as DicomDestinationSettings
from tests.support.dicom import local_sample
from tests.support.hubproc import wait_until


class CountingScp:
    """A storage SCP that records what happens to its associations."""

    def __init__(self) -> None:
        self.accepted = 0
        self.released = 0
        self.stored = 0
        self.abort_after_store = False
        self._ae = AE(ae_title="COUNTING")
        self._ae.add_supported_context(CTImageStorage, [
            "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"])
        handlers = [(evt.EVT_ACCEPTED, self._on_accepted),
                    (evt.EVT_RELEASED, self._on_released),
                    (evt.EVT_C_STORE, self._on_store)]
        self._server = self._ae.start_server(("127.0.0.1", 0), block=False,
                                             evt_handlers=handlers)
        self.port: int = self._server.server_address[1]

    def _on_accepted(self, event: Any) -> None:
        self.accepted += 1

    def _on_released(self, event: Any) -> None:
        self.released += 1

    def _on_store(self, event: Any) -> int:
        self.stored += 1
        if self.abort_after_store:
            # The peer ends the association on its own while the hub's link is idle.
            threading.Timer(0.2, event.assoc.abort).start()
        return 0x0000

    def stop(self) -> None:
        self._server.shutdown()


@pytest.fixture
def scp() -> Iterator[CountingScp]:
    peer = CountingScp()
    try:
        yield peer
    finally:
        peer.stop()


def _ct() -> bytes:
    path = local_sample("CT_small.dcm")
    if path is None:
        pytest.skip("pydicom test file CT_small.dcm not installed")
    return path.read_bytes()


def _link(port: int, timeout_s: float) -> StoreLink:
    return StoreLink(DicomDestinationSettings(
        type="dicom", host="127.0.0.1", port=port, called_ae="COUNTING", timeout_s=timeout_s))


def test_consecutive_instances_share_one_association(scp: CountingScp) -> None:
    link = _link(scp.port, timeout_s=5)
    try:
        statuses = [link.send(prepare_outgoing(_ct())) for _ in range(3)]
    finally:
        link.release()
    assert statuses == [0, 0, 0]
    assert scp.stored == 3
    assert scp.accepted == 1
    wait_until(lambda: scp.released == 1, 5, "the association is released when the link closes")


def test_an_association_idle_longer_than_the_timeout_is_released_and_replaced(
        scp: CountingScp) -> None:
    link = _link(scp.port, timeout_s=0.5)
    try:
        assert link.send(prepare_outgoing(_ct())) == 0
        time.sleep(0.8)
        assert link.send(prepare_outgoing(_ct())) == 0
    finally:
        link.release()
    assert scp.accepted == 2
    wait_until(lambda: scp.released == 2, 5,
               "the idle association and the second one are released")


def test_an_association_the_peer_aborted_while_idle_is_replaced(scp: CountingScp) -> None:
    scp.abort_after_store = True
    link = _link(scp.port, timeout_s=5)
    try:
        assert link.send(prepare_outgoing(_ct())) == 0
        time.sleep(0.6)  # the peer's abort arrives while the link is idle
        assert link.send(prepare_outgoing(_ct())) == 0
    finally:
        link.release()
    assert scp.stored == 2
    assert scp.accepted == 2
