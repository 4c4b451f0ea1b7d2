"""Exports: the visit list's filters and scope, as CSV (UTF-8 with BOM, so Excel reads Chinese, and
formula-looking cells neutralised), XLSX (a sheet per template) or JSON Lines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from api.auth.dependencies import ExportsReader, SettingsDep
from api.db import CommitFirstRoute, SessionDep, utcnow
from api.exports import formats
from api.exports.formats import XLSX
from api.visits.dependencies import VisitFilterDep

router = APIRouter(prefix="/api/v1", tags=["exports"], route_class=CommitFirstRoute)


@router.get(
    "/exports/visits",
    summary="Export visits with answers, findings, open tasks and photo links",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
                "application/geo+json": {"schema": {"type": "object"}},
                XLSX: {"schema": {"type": "string", "format": "binary"}},
            },
            "description": "One row per visit (a feature per place for GeoJSON), streamed.",
        }
    },
)
def export_visits(
    request: Request,
    user: ExportsReader,
    session: SessionDep,
    settings: SettingsDep,
    where: VisitFilterDep,
    format: Annotated[
        formats.Format,
        Query(
            description="csv (Excel, one sheet), xlsx (a sheet per template), jsonl (one JSON object per line) "
            "or geojson (declared sites, check-ins and photo positions, WGS-84)"
        ),
    ] = "csv",
) -> StreamingResponse:
    """The visit list's filters and scope (managers their visits, reviewers their branch, admins all), oldest
    due first. Columns: the visit's, then `answer.<item key>` for every item of the templates involved (a
    photo item's cell is its photo count; `photo_links` lists each original, `photo_stamped_links` the same
    photos with the watermark band). Streamed in batches: memory
    stays flat whatever the row count."""
    encoded = formats.encode(
        format,
        session=session,
        make_session=request.app.state.read_sessionmaker,
        user=user,
        where=where,
        settings=settings,
        base_url=str(request.base_url).rstrip("/"),
    )
    return _download(encoded.body, encoded.media_type, encoded.suffix)


def _download(body: Iterator[bytes], media_type: str, suffix: str) -> StreamingResponse:
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="fieldvisit-visits-{stamp}.{suffix}"'},
    )
