"""The FastAPI application of one hub: health, metrics, the admin API and FHIR.

Everything under ``/api``, ``/fhir`` and ``/metrics`` needs ``Authorization:
Bearer <admin token>``; ``/healthz``, ``/readyz``, ``/docs``, ``/redoc``
(with their assets under ``/static/docs``), ``/openapi.json`` and the FHIR
CapabilityStatement ``/fhir/metadata`` are open.
"""

from __future__ import annotations

from fastapi import FastAPI

from hub.api import capabilities, fhir, routes_health, routes_messages, routes_queues
from hub.api.docs import install_docs
from hub.api.errors import install_error_handlers
from hub.app import Hub


def create_app(hub: Hub) -> FastAPI:
    """The ASGI application serving ``hub``."""
    app = FastAPI(
        title="Regional hub admin API",
        version=capabilities.hub_version(),
        description=__doc__,
        docs_url=None,
        redoc_url=None,
    )
    app.state.hub = hub
    install_error_handlers(app, override=fhir.fhir_error_response)
    install_docs(app)
    app.include_router(routes_health.router)
    app.include_router(routes_messages.router)
    app.include_router(routes_queues.router)
    app.include_router(capabilities.router)
    for component in hub.components:
        for router in component.routers():
            app.include_router(router)
    return app
