"""Exports: the visit list's filters and scope, streamed as CSV (UTF-8 with BOM, so Excel reads Chinese,
and formula-looking cells neutralised) or JSON Lines."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from api.auth.dependencies import CurrentUser, SettingsDep
from api.db import CommitFirstRoute, SessionDep
from api.exports import service
from api.visits.dependencies import VisitFilterDep

router = APIRouter(prefix="/api/v1", tags=["exports"], route_class=CommitFirstRoute)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A cell as Excel should show it. Text that Excel would run as a formula (=, +, -, @ first) gets a
    leading apostrophe: a borrower name like "=HYPERLINK(...)" stays text (OWASP's CSV injection advice)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value)
    if isinstance(value, dict):
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _csv(header: list[str], rows: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(header)
    for n, row in enumerate(rows, 1):
        writer.writerow([csv_cell(row.get(column)) for column in header])
        if n % 200 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def _jsonl(rows: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    for row in rows:
        yield (json.dumps(row, ensure_ascii=False, default=str) + "\n").encode("utf-8")


@router.get(
    "/exports/visits",
    summary="Export visits with answers, findings, open tasks and photo links",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
            "description": "One row per visit, streamed.",
        }
    },
)
def export_visits(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    where: VisitFilterDep,
    format: Annotated[
        Literal["csv", "jsonl"], Query(description="csv (Excel) or jsonl (one JSON object per line)")
    ] = "csv",
) -> StreamingResponse:
    """The visit list's filters and scope (managers their visits, reviewers their branch, admins all), oldest
    due first. Columns: the visit's, then `answer.<item key>` for every item of the templates involved (a
    photo item's cell is its photo count; `photo_links` lists each original). Streamed in batches: memory
    stays flat whatever the row count."""
    columns = service.VISIT_COLUMNS + service.answer_columns(
        session, user=user, where=where, settings=settings
    )
    base = str(request.base_url).rstrip("/")
    maker = request.app.state.read_sessionmaker

    def rows() -> Iterator[dict[str, Any]]:
        # Its own session: the stream outlives the request's.
        with maker() as db:
            yield from service.rows(db, user=user, where=where, settings=settings, base_url=base)

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    if format == "jsonl":
        return StreamingResponse(
            _jsonl(rows()),
            media_type="application/x-ndjson",
            headers={"Content-Disposition": f'attachment; filename="fieldvisit-visits-{stamp}.jsonl"'},
        )
    return StreamingResponse(
        _csv(columns, rows()),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="fieldvisit-visits-{stamp}.csv"'},
    )
