"""Exports: the visit list's filters and scope, as CSV (UTF-8 with BOM, so Excel reads Chinese, and
formula-looking cells neutralised), XLSX (a sheet per template) or JSON Lines."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import tempfile
from collections.abc import Iterator
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from api.auth.dependencies import ExportsReader, SettingsDep
from api.db import CommitFirstRoute, SessionDep, utcnow
from api.exports import service
from api.visits.dependencies import VisitFilterDep

router = APIRouter(prefix="/api/v1", tags=["exports"], route_class=CommitFirstRoute)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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


XLSX_VISIT_COLUMNS = [c for c in service.VISIT_COLUMNS if c != "template_version_id"]


def _xlsx(sheets: list[service.Sheet], rows: Iterator[dict[str, Any]], zone: str) -> Iterator[bytes]:
    """One sheet per template version, its items as columns (the label, then the key), header frozen,
    dates and times as Excel dates (in the bank's zone: Excel has none), text always written as text (never a
    formula). xlsxwriter in constant-memory mode writes each row out as it goes; the file is sent once
    finished (a workbook is a zip: it cannot be streamed while being written)."""
    import xlsxwriter  # only the XLSX export needs it

    local = ZoneInfo(zone)
    with tempfile.TemporaryDirectory(prefix="fieldvisit-export-") as folder:
        path = f"{folder}/export.xlsx"
        book = xlsxwriter.Workbook(
            path, {"constant_memory": True, "tmpdir": folder, "strings_to_formulas": False}
        )
        bold = book.add_format({"bold": True, "bg_color": "#e8eef6"})
        day = book.add_format({"num_format": "yyyy-mm-dd"})
        moment = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        places: dict[str, tuple[Any, list[tuple[str, str]], list[int]]] = {}
        for sheet in sheets:
            worksheet = book.add_worksheet(sheet.name)
            columns = [(c, c) for c in XLSX_VISIT_COLUMNS] + [
                (f"answer.{item.key}", f"{item.label_zh} ({item.key})") for item in sheet.items
            ]
            for n, (_, title) in enumerate(columns):
                worksheet.write_string(0, n, title, bold)
            worksheet.freeze_panes(1, 0)
            places[sheet.version_id] = (worksheet, columns, [1])
        for row in rows:
            place = places.get(str(row.get("template_version_id")))
            if place is None:
                continue
            worksheet, columns, next_row = place
            r = next_row[0]
            for n, (key, _) in enumerate(columns):
                value = row.get(key)
                if value is None:
                    continue
                if isinstance(value, bool):
                    worksheet.write_boolean(r, n, value)
                elif isinstance(value, int | float):
                    worksheet.write_number(r, n, value)
                elif isinstance(value, dt.datetime):
                    worksheet.write_datetime(r, n, value.astimezone(local).replace(tzinfo=None), moment)
                elif isinstance(value, dt.date):
                    worksheet.write_datetime(r, n, dt.datetime.combine(value, dt.time()), day)
                elif isinstance(value, list):
                    worksheet.write_string(r, n, "; ".join(str(v) for v in value))
                else:
                    worksheet.write_string(r, n, str(value))
            next_row[0] = r + 1
        book.close()
        with open(path, "rb") as handle:
            while chunk := handle.read(64 * 1024):
                yield chunk


def _geojson(features: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    yield b'{"type":"FeatureCollection","features":['
    for n, feature in enumerate(features):
        yield (("," if n else "") + json.dumps(feature, ensure_ascii=False, default=str)).encode("utf-8")
    yield b"]}"


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
        Literal["csv", "jsonl", "xlsx", "geojson"],
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
    base = str(request.base_url).rstrip("/")
    maker = request.app.state.read_sessionmaker

    def rows() -> Iterator[dict[str, Any]]:
        # Its own session: the stream outlives the request's.
        with maker() as db:
            yield from service.rows(db, user=user, where=where, settings=settings, base_url=base)

    def points() -> Iterator[dict[str, Any]]:
        with maker() as db:
            yield from service.features(db, user=user, where=where, settings=settings)

    if format == "jsonl":
        return _download(_jsonl(rows()), "application/x-ndjson", "jsonl")
    if format == "geojson":
        return _download(_geojson(points()), "application/geo+json", "geojson")
    sheets = service.sheets(session, user=user, where=where, settings=settings)
    if format == "xlsx":
        return _download(_xlsx(sheets, rows(), settings.timezone), XLSX, "xlsx")
    columns = service.VISIT_COLUMNS + service.answer_columns(sheets)
    return _download(_csv(columns, rows()), "text/csv; charset=utf-8", "csv")


def _download(body: Iterator[bytes], media_type: str, suffix: str) -> StreamingResponse:
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="fieldvisit-visits-{stamp}.{suffix}"'},
    )
