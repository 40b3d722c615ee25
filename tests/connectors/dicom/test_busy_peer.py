"""Two lanes against a peer that serves one association at a time (dcmtk ``storescp``).

``storescp`` without ``--fork`` handles one association and only then reads
the next A-ASSOCIATE-RQ waiting on its socket. A lane that keeps its
association open while it has nothing to send holds the peer; the other lane
waits. A lane left idle releases its association after ``idle_release_s``,
so the instances of both lanes get through; how long the slowest one waited
is what this measures. A pynetdicom SCP limited to one association rejects
the second at once (A-ASSOCIATE-RJ, rejected-transient): the refused lane
backs off, the journal says why, and every instance still gets through.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import CTImageStorage
from sqlalchemy import func, select

from hub.app import Hub
from hub.db.tables import events, messages
from tests.connectors.dicom.conftest import (
    ROUTE_ALL_TO_SINK,
    HubFactory,
    dicom_destination,
    dicom_port,
)
from tests.support.dicom import StoreScp, make_study, need_dcmtk, samples, storescu
from tests.support.hubproc import await_until

INSTANCES = int(os.environ.get("BUSY_PEER_INSTANCES", "60"))


async def delivery_waits(hub: Hub) -> list[float]:
    """Seconds from receipt to delivery of every delivered instance."""
    assert hub.db is not None
    delivered = func.max(events.c.at).label("delivered")
    query = select(messages.c.received_at, delivered).join(
        events, events.c.message_id == messages.c.id).where(
        events.c.stage == "delivered").group_by(messages.c.id, messages.c.received_at)
    return [row.delivered - row.received_at for row in await hub.db.fetch(query)]


@pytest.mark.timeout(240)
async def test_two_lanes_share_a_peer_that_takes_one_association_at_a_time(
        start_hub: HubFactory, tmp_path: Path) -> None:
    need_dcmtk()
    files = samples(["CT_small.dcm"])
    if not files:
        pytest.skip("pydicom test file CT_small.dcm not installed")
    peer = StoreScp(tmp_path / "single", fork=False).start()
    try:
        hub = await start_hub(ROUTE_ALL_TO_SINK, {"sink": dicom_destination(
            peer.port, lanes=2, timeout_s=10, idle_release_s=0.5,
            retry={"max_attempts": 8, "initial_s": 0.2, "max_s": 2.0})})
        _, made = make_study(tmp_path / "in", files, patient_id="IPP-1", copies=INSTANCES)

        result = await asyncio.to_thread(storescu, made, dicom_port(hub), calling="MODALITY")

        assert result.returncode == 0, result.stderr

        async def all_delivered() -> list[float] | None:
            waits = await delivery_waits(hub)
            return waits if len(waits) >= INSTANCES else None

        waits = await await_until(all_delivered, 60, "every instance delivered")
        assert len(peer.files()) == INSTANCES
        print(f"\n{INSTANCES} instances, 2 lanes: longest wait {max(waits):.1f} s")
        assert max(waits) < 15
    finally:
        peer.stop()



class OneAtATimeScp:
    """A pynetdicom storage SCP accepting one association; the next is rejected (PS3.8 9.3.4)."""

    def __init__(self) -> None:
        self.stored = 0
        ae = AE(ae_title="SINK")
        ae.maximum_associations = 1
        ae.add_supported_context(CTImageStorage, ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"])
        self._server = ae.start_server(("127.0.0.1", 0), block=False,
                                       evt_handlers=[(evt.EVT_C_STORE, self._on_store)])
        self.port: int = self._server.server_address[1]

    def _on_store(self, event: Any) -> int:
        self.stored += 1
        return 0x0000

    def stop(self) -> None:
        self._server.shutdown()


@pytest.mark.timeout(120)
async def test_a_lane_refused_by_a_busy_peer_backs_off_and_every_instance_arrives(
        start_hub: HubFactory, tmp_path: Path) -> None:
    need_dcmtk()
    files = samples(["CT_small.dcm"])
    if not files:
        pytest.skip("pydicom test file CT_small.dcm not installed")
    peer = OneAtATimeScp()
    try:
        hub = await start_hub(ROUTE_ALL_TO_SINK, {"sink": dicom_destination(
            peer.port, lanes=2, idle_release_s=0.3,
            retry={"max_attempts": 8, "initial_s": 0.2, "max_s": 1.0})})
        _, made = make_study(tmp_path / "in", files, patient_id="IPP-1", copies=40)

        result = await asyncio.to_thread(storescu, made, dicom_port(hub), calling="MODALITY")

        assert result.returncode == 0, result.stderr

        async def all_delivered() -> list[float] | None:
            waits = await delivery_waits(hub)
            return waits if len(waits) >= len(made) else None

        await await_until(all_delivered, 60, "every instance delivered")
        assert peer.stored == len(made)
        assert hub.db is not None
        failures = [row.detail for row in await hub.db.fetch(
            select(events.c.detail).where(events.c.stage == "failed"))]
        assert failures, "the second lane was never refused"
        assert all("rejected-transient by the DICOM UL service-provider (Presentation "
                   "related function): local-limit-exceeded" in f for f in failures), failures
    finally:
        peer.stop()
