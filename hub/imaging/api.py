"""HTTP of the imaging component: ImagingStudy on FHIR, the study list for operators.

- ``GET /fhir/ImagingStudy?patient.identifier=system|value[&_count=&_offset=]``:
  a searchset of the complete studies filed under any identifier of the same
  patient (``hub.patients.equivalents``, asked at query time so that links
  and merges made later are seen);
- ``GET /fhir/ImagingStudy/{id}``: one study (the id is its StudyInstanceUID,
  a valid FHIR id: at most 64 digits and dots);
- ``GET /api/imaging/studies[?limit=]``: every study held, complete or still
  arriving (``hub studies list``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query, Request

from hub.api.fhir import FhirError, FhirResponse, base_url, bundle, fhir_router
from hub.patients import Identifier

if TYPE_CHECKING:
    from hub.imaging.component import ImagingComponent

_OID = re.compile(r"\d+(\.\d+)+")


def parse_identifier(raw: str) -> Identifier:
    """``system|value`` of a token search (a bare OID system becomes ``urn:oid:``)."""
    system, bar, value = raw.partition("|")
    if not bar or not system or not value:
        raise FhirError(400, f"patient.identifier {raw!r} is not system|value",
                        code="invalid", expression=["patient.identifier"])
    return (f"urn:oid:{system}" if _OID.fullmatch(system) else system), value


def routers(component: ImagingComponent) -> list[APIRouter]:
    """The FHIR and admin routers bound to ``component``."""
    fhir = fhir_router()
    admin = APIRouter(prefix="/api/imaging", tags=["imaging"])

    @fhir.get("/ImagingStudy", summary="Search ImagingStudy", response_class=FhirResponse)
    async def search_studies(
        request: Request,
        identifier: str = Query(alias="patient.identifier"),
        count: int = Query(50, alias="_count", ge=1, le=500),
        offset: int = Query(0, alias="_offset", ge=0),
    ) -> FhirResponse:
        equivalents = await component.hub.patients.equivalents(parse_identifier(identifier))
        found = await component.index.search(equivalents, limit=count, offset=offset)
        return FhirResponse(bundle(found, total=len(found) + offset, base=base_url(request)))

    @fhir.get("/ImagingStudy/{study_id}", summary="Read ImagingStudy",
              response_class=FhirResponse)
    async def read_study(study_id: str) -> FhirResponse:
        found = await component.index.get(study_id)
        if found is None:
            raise FhirError(404, f"ImagingStudy/{study_id} is not known", code="not-found")
        return FhirResponse(found)

    @admin.get("/studies", summary="Studies held by the imaging router")
    async def list_studies(limit: int = Query(100, ge=1, le=10_000)) -> list[dict[str, Any]]:
        rows = await component.index.held(limit=limit)
        return [{k: v for k, v in row.items() if k != "facts"} for row in rows]

    return [fhir, admin]
