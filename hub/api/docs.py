"""The OpenAPI pages (``/docs``: Swagger UI, ``/redoc``: ReDoc), served without a CDN.

FastAPI's default pages load their scripts, styles and fonts from public
CDNs, so on a network without Internet access they stay blank. Here the
assets come from the ``fastapi-offline`` package, installed with the hub,
and are served under :data:`STATIC_PREFIX`; the pages name only the hub's
own URLs.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_PREFIX = "/static/docs"
DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"


def assets_directory() -> Path:
    """The directory of the Swagger UI and ReDoc bundles shipped by ``fastapi-offline``."""
    directory = Path(str(files("fastapi_offline") / "static"))
    if not (directory / "swagger-ui-bundle.js").is_file():
        raise RuntimeError(f"the OpenAPI page assets are missing from {directory}: "
                           "reinstall the 'fastapi-offline' package")
    return directory


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and ``/redoc`` from local assets (``app`` built with both set to None)."""
    app.mount(STATIC_PREFIX, StaticFiles(directory=assets_directory()), name="docs-assets")

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{STATIC_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_PREFIX}/favicon.png",
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_URL}")

    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{STATIC_PREFIX}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{STATIC_PREFIX}/favicon.png", with_google_fonts=False)

    app.add_api_route(DOCS_URL, swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route(OAUTH2_REDIRECT_URL, swagger_ui_redirect, methods=["GET"],
                      include_in_schema=False)
    app.add_api_route(REDOC_URL, redoc, methods=["GET"], include_in_schema=False)
