"""Exports: the visit list's filters and scope, as CSV (UTF-8 with BOM, so Excel reads Chinese, and
formula-looking cells neutralised), XLSX (a sheet per template) or JSON Lines."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse

from api.auth.dependencies import ExportsReader, SettingsDep
from api.config import Settings
from api.db import CommitFirstRoute, SessionDep, utcnow
from api.exports import formats, jobs, schemas
from api.exports.formats import XLSX
from api.exports.models import ExportJob, ExportState
from api.object_store import object_store
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


# ---- export jobs ----


def _job_public(request: Request, settings: Settings, job: ExportJob) -> schemas.ExportJobPublic:
    link = None
    if job.state == ExportState.done:
        query = urlencode(jobs.download_query(settings, job))
        link = f"{str(request.base_url).rstrip('/')}/api/v1/exports/jobs/{job.id}/file?{query}"
    return schemas.ExportJobPublic(
        id=job.id,
        format=job.format,
        filters=schemas.VisitFilterIn.model_validate(job.filters),
        state=job.state,
        created_at=job.created_at,
        finished_at=job.finished_at,
        expires_at=job.expires_at,
        size=job.size,
        sha256=job.sha256,
        error=job.error,
        download_url=link,
    )


@router.post(
    "/exports/jobs",
    response_model=schemas.ExportJobPublic,
    status_code=202,
    summary="Export in the background: a file and a download link that expires",
)
def create_export_job(
    body: schemas.ExportJobIn,
    request: Request,
    user: ExportsReader,
    session: SessionDep,
    settings: SettingsDep,
) -> schemas.ExportJobPublic:
    """The same export as `GET /exports/visits`, made into a file in the background (seconds later; poll
    `GET /exports/jobs/{id}`). When `done`, `download_url` works without a token until `expires_at`
    (FIELDVISIT_EXPORT_LINK_HOURS, 24 by default); then the file is removed."""
    job = jobs.create(session, user=user, format=body.format, filters=body.filters.model_dump(mode="json"))
    return _job_public(request, settings, job)


@router.get("/exports/jobs/{job_id}", response_model=schemas.ExportJobPublic, summary="An export job")
def get_export_job(
    job_id: uuid.UUID, request: Request, user: ExportsReader, session: SessionDep, settings: SettingsDep
) -> schemas.ExportJobPublic:
    return _job_public(request, settings, jobs.get_for(session, user=user, job_id=job_id))


@router.get(
    "/exports/jobs/{job_id}/file",
    response_class=FileResponse,
    summary="Download an export job's file (signed link; no token)",
    responses={410: {"description": "The link has expired, or the file was removed: export again."}},
)
def download_export(
    job_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    expires: Annotated[int, Query(ge=0, le=2**40)],
    signature: Annotated[str, Query(pattern="^[0-9a-f]{64}$")],
) -> Response:
    job = jobs.check_link(settings, session, job_id=job_id, expires=expires, signature=signature)
    stamp = (job.finished_at or utcnow()).strftime("%Y%m%d-%H%M%S")
    return object_store(settings, area="state").response(
        jobs.key_of(job),
        media_type=formats.MEDIA_TYPES[job.format],
        filename=f"fieldvisit-visits-{stamp}.{job.format}",
        headers={"Cache-Control": "private, no-store"},
        range_header=None,
    )
