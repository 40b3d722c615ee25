"""The FastAPI application of one hub: health, metrics and the admin API.

Everything under ``/api`` and ``/metrics`` needs ``Authorization: Bearer
<admin token>``; ``/healthz``, ``/readyz``, ``/docs`` and ``/openapi.json``
are open.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI

from hub.api import fhir, routes_health, routes_messages, routes_queues
from hub.api.errors import install_error_handlers
from hub.app import Hub


def _version() -> str:
    try:
        return version("regional-hub")
    except PackageNotFoundError:
        return "0+unknown"


def create_app(hub: Hub) -> FastAPI:
    """The ASGI application serving ``hub``."""
    app = FastAPI(
        title="Regional hub admin API",
        version=_version(),
        description=__doc__,
    )
    app.state.hub = hub
    install_error_handlers(app, override=fhir.fhir_error_response)
    app.include_router(routes_health.router)
    app.include_router(routes_messages.router)
    app.include_router(routes_queues.router)
    for component in hub.components:
        for router in component.routers():
            app.include_router(router)
    app.include_router(fhir.router)
    return app
