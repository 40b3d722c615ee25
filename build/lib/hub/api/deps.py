"""What the routes need from the running hub, as FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from hub.api.errors import ApiError
from hub.app import Hub
from hub.blobs import BlobStore
from hub.journal import Journal


def get_hub(request: Request) -> Hub:
    """The :class:`hub.app.Hub` the application was created for."""
    return cast(Hub, request.app.state.hub)


def _not_started() -> ApiError:
    return ApiError(503, "the hub is not started", None, {"Retry-After": "1"})


def get_journal(hub: Annotated[Hub, Depends(get_hub)]) -> Journal:
    """The hub's journal (503 while the hub is starting)."""
    if hub.journal is None:
        raise _not_started()
    return hub.journal


def get_blobs(hub: Annotated[Hub, Depends(get_hub)]) -> BlobStore:
    """The hub's blob store (503 while the hub is starting)."""
    if hub.blobs is None:
        raise _not_started()
    return hub.blobs


HubDep = Annotated[Hub, Depends(get_hub)]
JournalDep = Annotated[Journal, Depends(get_journal)]
BlobsDep = Annotated[BlobStore, Depends(get_blobs)]
