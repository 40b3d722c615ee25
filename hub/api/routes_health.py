"""Liveness, readiness and Prometheus metrics.

``/healthz`` and ``/readyz`` are open (load balancers and orchestrators probe
them); ``/metrics`` needs the admin bearer token, so a Prometheus scrape job
must send it (``authorization: {type: Bearer, credentials_file: ...}``).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from hub.api.deps import HubDep
from hub.api.models import Health

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The text exposition format 0.0.4, which ``generate_latest`` produces."""

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
async def healthz() -> Health:
    """Always ``{"status": "ok"}`` while the HTTP server runs."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="Readiness: storage, broker, workers and listeners are up",
    responses={503: {"model": Health, "description": "starting or stopping"}},
)
async def readyz(hub: HubDep) -> JSONResponse:
    """200 once the hub has started every part, 503 before and while stopping."""
    if hub.ready:
        return JSONResponse({"status": "ok"})
    return JSONResponse({"status": "not ready"}, status_code=503, headers={"Retry-After": "1"})


@router.get(
    "/metrics",
    summary="Prometheus metrics (bearer token required)",
    response_class=Response,
    responses={200: {"content": {PROMETHEUS_CONTENT_TYPE: {}}}},
)
async def metrics(hub: HubDep) -> Response:
    """The Prometheus text exposition, with queue gauges read just now."""
    if hub.broker is not None:
        await hub.refresh_queue_gauges()
    return Response(hub.metrics.render(), media_type=PROMETHEUS_CONTENT_TYPE)
