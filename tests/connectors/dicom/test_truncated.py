"""A truncated instance is refused at C-STORE, with the reason, and kept as rejected.

dcmtk's ``storescu`` will not send a file shorter than its elements say
("larger than remaining bytes in file"), so the truncated bytes go out
through pynetdicom's SCU in chunked mode, which sends the file's dataset as
it is. The hub answers ``0xC000`` with an Error Comment saying what is
short (PS3.7 C.4.2), journals the instance as rejected with the same
reason and forwards nothing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, _config
from sqlalchemy import select

from hub.db.tables import messages
from tests.connectors.dicom.conftest import (
    ROUTE_ALL_TO_SINK,
    HubFactory,
    dicom_destination,
    dicom_port,
)
from tests.support.dicom import StoreScp, local_sample, make_instance

CT = "1.2.840.10008.5.1.4.1.1.2"


def send_as_is(port: int, path: Path) -> Dataset:
    """C-STORE the dataset bytes of ``path`` unparsed; the C-STORE-RSP status dataset."""
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(CT, "1.2.840.10008.1.2.1")
    assoc = ae.associate("127.0.0.1", port, ae_title="HUB")
    assert assoc.is_established
    chunked = _config.STORE_SEND_CHUNKED_DATASET
    _config.STORE_SEND_CHUNKED_DATASET = True
    try:
        response: Dataset = assoc.send_c_store(path)
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = chunked
        assoc.release()
    return response


@pytest.mark.parametrize("keep", [20_000, 6_000], ids=["in-pixel-data", "in-header"])
async def test_a_truncated_instance_is_refused_with_the_reason(
        start_hub: HubFactory, sink: StoreScp, tmp_path: Path, keep: int) -> None:
    source = local_sample("CT_small.dcm")
    if source is None:
        pytest.skip("pydicom test file CT_small.dcm not installed")
    whole = make_instance(source, tmp_path / "whole.dcm")
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(whole.read_bytes()[:keep])
    hub = await start_hub(ROUTE_ALL_TO_SINK, {"sink": dicom_destination(sink.port)})

    response = await asyncio.to_thread(send_as_is, dicom_port(hub), truncated)

    assert response.Status == 0xC000
    comment = str(response.ErrorComment)
    assert comment.startswith("truncated:") and len(comment) <= 64
    assert hub.db is not None
    rows = await hub.db.fetch(select(messages))
    assert [(r.protocol, r.status) for r in rows] == [("dicom", "rejected")]
    assert rows[0].error == comment
    assert rows[0].control_id  # the SOP Instance UID it carries, for finding it
    await asyncio.sleep(0.5)
    assert sink.files() == []
