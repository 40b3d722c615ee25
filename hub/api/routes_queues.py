"""Broker queues and parked deliveries: look, then redrive."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from hub.api.deps import HubDep
from hub.api.errors import unknown_destination
from hub.api.models import ParkedItem, QueueStat, Redriven, RedriveRequest
from hub.api.shapes import parked_item
from hub.app import Hub
from hub.delivery import delivery_queue

router = APIRouter(prefix="/api", tags=["queues"])


def _check_destination(hub: Hub, name: str | None) -> None:
    if name is not None and name not in hub.workers:
        raise unknown_destination(name, hub.workers)


@router.get("/queues", response_model=list[QueueStat], summary="Depth of every queue")
async def list_queues(hub: HubDep) -> list[dict[str, Any]]:
    """Ingress and one delivery queue per destination: ready, parked, oldest age."""
    return await hub.refresh_queue_gauges()


@router.get("/parked", response_model=list[ParkedItem], summary="Parked deliveries")
async def list_parked(
    hub: HubDep,
    destination: Annotated[str | None, Query(description="one destination, or all")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[dict[str, Any]]:
    """Deliveries that gave up, with the reason; ``key`` is what redrive takes."""
    _check_destination(hub, destination)
    names = {delivery_queue(name): name for name in hub.workers}
    parked = await hub.parked(destination, limit)
    return [parked_item(p, names.get(p.queue, p.queue)) for p in parked]


@router.post("/parked/redrive", response_model=Redriven,
             summary="Put parked deliveries back in their queue")
async def redrive_parked(
    hub: HubDep,
    request: Annotated[RedriveRequest | None, Body()] = None,
) -> Redriven:
    """All parked deliveries, those of one destination, or only the given keys."""
    wanted = request or RedriveRequest()
    _check_destination(hub, wanted.destination)
    count, found = await hub.redrive(wanted.destination, wanted.keys)
    return Redriven(redriven=count, not_parked=sorted(set(wanted.keys or ()) - found))
