"""Admin API of the ``mssante`` component (bearer token), under ``/api/mssante``.

* ``GET /api/mssante/directory/{rpps}``: the MSSanté address of a professional;
* ``PUT /api/mssante/directory/{rpps}`` ``{"address", "family", "given"}``: set it;
* ``POST /api/mssante/directory`` with a CSV body: import (see
  :data:`connectors.mssante.store.CSV_COLUMNS`), answers how many rows;
* ``POST /api/mssante/poll``: poll the applicative mailbox now.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from connectors.mssante.store import DirectoryEntry, check_address, check_rpps, read_directory_csv
from hub.errors import MappingError

if TYPE_CHECKING:
    from connectors.mssante.component import MssanteComponent


class AddressBody(BaseModel):
    """A directory entry as PUT."""

    address: str
    family: str | None = None
    given: str | None = None


def _entry_json(entry: DirectoryEntry) -> dict[str, Any]:
    return {"rpps": entry.rpps, "address": entry.address, "family": entry.family,
            "given": entry.given}


def router(component: MssanteComponent) -> APIRouter:
    """The routes above, bound to ``component``."""
    api = APIRouter(prefix="/api/mssante",
                    tags=["mssante"])

    @api.get("/directory/{rpps}", summary="MSSanté address of a professional (RPPS)")
    async def get_entry(rpps: str) -> dict[str, Any]:
        found = await component.store.lookup([_rpps(rpps)])
        if not found:
            raise HTTPException(404, f"RPPS {rpps} is not in the MSSanté directory")
        return _entry_json(next(iter(found.values())))

    @api.put("/directory/{rpps}", summary="Set the MSSanté address of a professional")
    async def put_entry(rpps: str, body: AddressBody) -> dict[str, Any]:
        try:
            entry = DirectoryEntry(check_rpps(rpps), check_address(body.address), body.family,
                                   body.given)
        except MappingError as exc:
            raise HTTPException(422, str(exc)) from exc
        await component.store.put_directory([entry], "api")
        return _entry_json(entry)

    @api.post("/directory", summary="Import a directory CSV (rpps, address, family, given)")
    async def import_csv(request: Request) -> dict[str, int]:
        try:
            entries = read_directory_csv((await request.body()).decode("utf-8-sig"))
        except (MappingError, UnicodeDecodeError) as exc:
            raise HTTPException(422, str(exc)) from exc
        return {"imported": await component.store.put_directory(entries, "csv")}

    @api.post("/poll", summary="Poll the applicative mailbox now")
    async def poll() -> dict[str, list[str]]:
        if component.poller is None:
            raise HTTPException(409, "mssante.imap is not configured")
        return {"outcomes": await component.poller.poll_once()}

    return api


def _rpps(value: str) -> str:
    try:
        return check_rpps(value)
    except MappingError as exc:
        raise HTTPException(422, str(exc)) from exc
