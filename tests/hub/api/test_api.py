"""The admin HTTP API on a real uvicorn (port 0) inside a started Hub."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from connectors.mllp.server import MLLPServer, PeerInfo
from hub.app import Hub
from hub.hl7.ack import build_ack, parse_ack
from hub.hl7.er7 import parse
from hub.journal import STATUSES
from tests.support.hubproc import await_until as wait_until

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

Send = Callable[..., Awaitable[list[bytes]]]
WaitFor = Callable[..., Awaitable[Any]]
Adt = Callable[..., bytes]


@pytest.fixture
async def api(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated client of the default hub's API."""
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{hub.http_port}", headers=AUTH, timeout=10
    ) as client:
        yield client


async def _message_with_status(
    api: httpx.AsyncClient, wait_for: WaitFor, control_id: str, status: str
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        page = (await api.get("/api/messages", params={"control_id": control_id})).json()
        found = [m for m in page["items"] if m["status"] == status]
        return found[0] if found else None

    result: dict[str, Any] = await wait_for(probe)
    return result


# -- health and authentication ------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/openapi.json", "/docs"])
async def test_open_endpoints_need_no_token(hub: Hub, path: str) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{hub.http_port}") as client:
        response = await client.get(path)
    assert response.status_code == 200
    if path in ("/healthz", "/readyz"):
        assert response.json() == {"status": "ok"}


async def test_openapi_documents_the_bearer_scheme(hub: Hub) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{hub.http_port}") as client:
        schema = (await client.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["bearerToken"]["scheme"] == "bearer"
    assert schema["paths"]["/metrics"]["get"]["security"] == [{"bearerToken": []}]
    assert "security" not in schema["paths"]["/healthz"]["get"]


async def test_readyz_is_503_when_the_hub_is_not_ready(hub: Hub, api: httpx.AsyncClient) -> None:
    hub.ready = False
    try:
        response = await api.get("/readyz")
    finally:
        hub.ready = True
    assert response.status_code == 503
    assert response.json()["status"] == "not ready"


@pytest.mark.parametrize("path", ["/api/messages", "/api/queues", "/api/parked", "/metrics"])
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": f"Basic {TOKEN}"}],
    ids=["missing", "wrong", "not-bearer"],
)
async def test_admin_endpoints_need_the_token(
    hub: Hub, path: str, headers: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{hub.http_port}") as client:
        response = await client.get(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert set(response.json()) == {"error", "detail"}


async def test_redrive_needs_the_token(hub: Hub) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{hub.http_port}") as client:
        response = await client.post("/api/parked/redrive", json={})
    assert response.status_code == 401


async def test_metrics_are_prometheus_text(
    hub: Hub, api: httpx.AsyncClient, send_mllp: Send, adt_a01: Adt
) -> None:
    assert hub.mllp_port is not None
    await send_mllp(hub.mllp_port, adt_a01("METRICS-1"))
    response = await api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'hub_messages_received_total{source="default"} 1.0' in response.text
    assert 'hub_queue_depth{queue="deliver.archive"}' in response.text


async def test_metrics_count_open_mllp_connections(hub: Hub, api: httpx.AsyncClient) -> None:
    assert hub.mllp_port is not None
    _, writer = await asyncio.open_connection("127.0.0.1", hub.mllp_port)
    try:
        async def gauge() -> str | None:
            text = (await api.get("/metrics")).text
            return "hub_mllp_connections 1.0" if "hub_mllp_connections 1.0" in text else None

        assert await wait_until(gauge, 5, "one open connection counted")
    finally:
        writer.close()
        await writer.wait_closed()

    async def closed() -> str | None:
        text = (await api.get("/metrics")).text
        return "closed" if "hub_mllp_connections 0.0" in text else None

    assert await wait_until(closed, 5, "the closed connection no longer counted")


# -- messages -----------------------------------------------------------------


async def test_a_message_sent_over_mllp_is_journaled_and_delivered(
    hub: Hub, api: httpx.AsyncClient, send_mllp: Send, wait_for: WaitFor, adt_a01: Adt
) -> None:
    assert hub.mllp_port is not None
    payload = adt_a01("FLOW-1")
    [ack] = await send_mllp(hub.mllp_port, payload)
    assert parse_ack(ack).code == "AA"

    listed = await _message_with_status(api, wait_for, "FLOW-1", "delivered")
    assert listed["source"] == "default"
    assert listed["message_type"] == "ADT^A01"
    assert listed["received_at"].endswith("Z")
    assert abs(_epoch(listed["received_at"]) - time.time()) < 60

    detail = (await api.get(f"/api/messages/{listed['id']}")).json()
    stages = [e["stage"] for e in detail["events"]]
    for stage in ("received", "routed", "delivered"):
        assert stage in stages
    [delivery] = detail["deliveries"]
    assert delivery["destination"] == "archive"
    assert delivery["status"] == "delivered"
    assert "raw" not in detail or detail["raw"] is None


async def test_raw_bytes_are_identical_and_text_is_decoded_with_msh18(
    hub: Hub, api: httpx.AsyncClient, send_mllp: Send, wait_for: WaitFor, adt_a01: Adt
) -> None:
    assert hub.mllp_port is not None
    payload = adt_a01("RAW-1").replace(b"TEST^PATIENT", "HÉLÈNE^TEST".encode("iso-8859-1"))
    await send_mllp(hub.mllp_port, payload)
    listed = await _message_with_status(api, wait_for, "RAW-1", "delivered")

    raw = await api.get(f"/api/messages/{listed['id']}/raw")
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "application/hl7-v2"
    assert raw.content == payload

    detail = (await api.get(f"/api/messages/{listed['id']}", params={"raw": "true"})).json()
    assert detail["charset"] == "iso-8859-1"
    assert detail["raw"] == payload.decode("iso-8859-1")
    assert "HÉLÈNE" in detail["raw"]


async def test_search_filters_and_pages(
    hub: Hub, api: httpx.AsyncClient, send_mllp: Send, wait_for: WaitFor, adt_a01: Adt
) -> None:
    assert hub.mllp_port is not None
    before = time.time() - 1
    await send_mllp(hub.mllp_port, *(adt_a01(f"PAGE-{n}", ipp=f"9{n}") for n in range(3)))

    first = (await api.get("/api/messages", params={"limit": 2})).json()
    assert len(first["items"]) == 2
    assert first["next"] == first["items"][-1]["id"]
    second = (await api.get("/api/messages", params={"limit": 2, "before": first["next"]})).json()
    assert [m["control_id"] for m in second["items"]] == ["PAGE-0"]
    assert second["next"] is None

    by_patient = (await api.get("/api/messages", params={"patient": "91"})).json()
    assert [m["control_id"] for m in by_patient["items"]] == ["PAGE-1"]
    since_epoch = (await api.get("/api/messages", params={"since": str(before)})).json()
    assert len(since_epoch["items"]) == 3
    future = (await api.get("/api/messages", params={"since": "2999-01-01T00:00:00Z"})).json()
    assert future == {"items": [], "next": None}
    until_past = (await api.get("/api/messages", params={"until": "2000-01-01"})).json()
    assert until_past["items"] == []


async def test_an_unknown_status_is_422_listing_the_valid_ones(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/messages", params={"status": "lost"})
    assert response.status_code == 422
    body = response.json()
    assert "'lost'" in body["error"]
    for status in STATUSES:
        assert status in body["error"]
    assert body["detail"]["valid"] == list(STATUSES)


@pytest.mark.parametrize(
    ("params", "named"),
    [({"since": "yesterday"}, "since"), ({"until": "01/05/2024"}, "until"),
     ({"limit": "0"}, "limit"), ({"limit": "many"}, "limit")],
    ids=["since", "until", "limit-zero", "limit-text"],
)
async def test_bad_query_parameters_are_422(
    api: httpx.AsyncClient, params: dict[str, str], named: str
) -> None:
    response = await api.get("/api/messages", params=params)
    assert response.status_code == 422
    assert named in str(response.json())


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/messages/nope"),
        ("GET", "/api/messages/nope/raw"),
        ("POST", "/api/messages/nope/replay"),
        ("POST", "/api/messages/nope/resend?destination=archive"),
    ],
    ids=["show", "raw", "replay", "resend"],
)
async def test_an_unknown_message_is_404(api: httpx.AsyncClient, method: str, path: str) -> None:
    response = await api.request(method, path)
    assert response.status_code == 404
    assert response.json() == {"error": "message 'nope' not found", "detail": {"message": "nope"}}


async def test_replay_creates_a_new_message(
    hub: Hub, api: httpx.AsyncClient, send_mllp: Send, wait_for: WaitFor, adt_a01: Adt
) -> None:
    assert hub.mllp_port is not None
    await send_mllp(hub.mllp_port, adt_a01("REPLAY-1"))
    original = await _message_with_status(api, wait_for, "REPLAY-1", "delivered")

    response = await api.post(f"/api/messages/{original['id']}/replay")
    assert response.status_code == 202
    body = response.json()
    assert body["replayed"] == original["id"]
    assert body["new_id"] != original["id"]

    async def replay_delivered() -> dict[str, Any] | None:
        detail = (await api.get(f"/api/messages/{body['new_id']}")).json()
        return detail if detail.get("status") == "delivered" else None

    replayed = await wait_for(replay_delivered)
    assert replayed["replay_of"] == original["id"]
    assert replayed["sha256"] == original["sha256"]


async def test_resend_delivers_again_and_names_unknown_destinations(
    hub: Hub, api: httpx.AsyncClient, send_mllp: Send, wait_for: WaitFor, adt_a01: Adt
) -> None:
    assert hub.mllp_port is not None
    await send_mllp(hub.mllp_port, adt_a01("RESEND-1"))
    original = await _message_with_status(api, wait_for, "RESEND-1", "delivered")

    unknown = await api.post(f"/api/messages/{original['id']}/resend",
                             params={"destination": "nowhere"})
    assert unknown.status_code == 422
    assert "'nowhere'" in unknown.json()["error"]
    assert unknown.json()["detail"]["valid"] == ["archive"]

    response = await api.post(f"/api/messages/{original['id']}/resend",
                              params={"destination": "archive"})
    assert response.status_code == 202
    assert response.json() == {"resent": original["id"], "destination": "archive"}

    async def delivered_twice() -> bool:
        detail = (await api.get(f"/api/messages/{original['id']}")).json()
        stages = [e["stage"] for e in detail["events"]]
        return "resent" in stages and stages.count("delivered") == 2

    await wait_for(delivered_twice)


async def test_queues_lists_ingress_and_every_destination(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/queues")
    assert response.status_code == 200
    queues = {q["queue"]: q for q in response.json()}
    assert {"ingress", "deliver.archive"} <= set(queues)
    assert set(queues["deliver.archive"]) >= {"ready", "parked", "oldest_age_s"}


async def test_unknown_paths_use_the_error_shape(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/nothing-here")
    assert response.status_code == 404
    assert set(response.json()) == {"error", "detail"}


# -- parking and redrive --------------------------------------------------------


class _AcceptingDownstream:
    """A downstream MLLP system answering AA to every message."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def on_frame(self, payload: bytes, peer: PeerInfo) -> bytes | None:
        self.received.append(payload)
        return build_ack(parse(payload), "AA", control_id="DOWN-1", timestamp="20240501")

    async def on_reject(self, event: object, peer: PeerInfo) -> bytes | None:
        return None


ROUTE_ALL_DOWNSTREAM = """\
routes:
  - name: everything-downstream
    when: {}
    action: deliver
    to: [downstream]
"""


async def test_a_parked_delivery_is_listed_then_redriven(
    start_hub: Callable[..., Awaitable[Hub]],
    send_mllp: Send,
    wait_for: WaitFor,
    adt_a01: Adt,
    free_port: Callable[[], int],
) -> None:
    port = free_port()
    downstream_settings = {
        "type": "mllp", "host": "127.0.0.1", "port": port, "timeout_s": 2,
        "connections": 1, "retry": {"max_attempts": 1, "initial_s": 0.05},
    }
    hub = await start_hub(routes=ROUTE_ALL_DOWNSTREAM,
                          destinations={"downstream": downstream_settings})
    assert hub.mllp_port is not None
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{hub.http_port}",
                                 headers=AUTH, timeout=10) as api:
        await send_mllp(hub.mllp_port, adt_a01("PARK-1"))
        parked_message = await _message_with_status(api, wait_for, "PARK-1", "parked")

        async def parked_list() -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = (await api.get("/api/parked")).json()
            return items

        [item] = await wait_for(parked_list)
        assert item["message_id"] == parked_message["id"]
        assert item["key"] == f"{parked_message['id']}:downstream"
        assert item["destination"] == "downstream"
        assert item["reason"]
        assert item["parked_at"].endswith("Z")
        unknown = await api.post("/api/parked/redrive", json={"destination": "nowhere"})
        assert unknown.status_code == 422

        downstream = _AcceptingDownstream()
        server = MLLPServer(downstream, host="127.0.0.1", port=port, name="downstream")
        await server.start()
        try:
            response = await api.post("/api/parked/redrive",
                                      json={"destination": "downstream", "keys": [item["key"]]})
            assert response.status_code == 200
            assert response.json() == {"redriven": 1, "not_parked": []}
            await _message_with_status(api, wait_for, "PARK-1", "delivered")
        finally:
            await server.close()
        assert (await api.get("/api/parked")).json() == []
        detail = (await api.get(f"/api/messages/{parked_message['id']}")).json()
        assert "redriven" in [e["stage"] for e in detail["events"]]
    assert downstream.received and b"PARK-1" in downstream.received[0]


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()
