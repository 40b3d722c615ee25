"""The FastAPI application of one hub: health, metrics, the admin API and FHIR.

Every route is authorised by :func:`hub.api.auth.authorise` against the
rules of :mod:`hub.auth.policy`: ``Authorization: Bearer <token>`` (the
admin token, an API key, a login session, an OAuth2 or OpenID Connect
token) or a client certificate. ``/healthz``, ``/readyz``, ``/docs``,
``/redoc`` (with their assets under ``/static/docs``), ``/openapi.json``,
the FHIR CapabilityStatement ``/fhir/metadata`` and the login are open.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI

from hub.api import auth, capabilities, fhir, routes_health, routes_messages, routes_queues
from hub.api.docs import install_docs
from hub.api.errors import install_error_handlers
from hub.app import Hub
from hub.audit.middleware import AuditMiddleware


def create_app(hub: Hub) -> FastAPI:
    """The ASGI application serving ``hub``."""
    app = FastAPI(
        title="Regional hub admin API",
        version=capabilities.hub_version(),
        description=__doc__,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(auth.authorise)],
    )
    app.state.hub = hub
    install_error_handlers(app, override=fhir.fhir_error_response)
    install_docs(app)
    app.include_router(auth.router)
    app.include_router(routes_health.router)
    app.include_router(routes_messages.router)
    app.include_router(routes_queues.router)
    app.include_router(capabilities.router)
    for component in hub.components:
        for router in component.routers():
            app.include_router(router)
    auth.document_security(app)
    app.add_middleware(AuditMiddleware, trail=lambda: hub.audit)
    return app
