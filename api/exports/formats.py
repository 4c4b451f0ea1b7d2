"""The export formats, as byte streams: CSV (UTF-8 with BOM, so Excel reads Chinese, and formula-looking
cells neutralised), XLSX (a sheet per template), JSON Lines and GeoJSON. Shared by the streamed download and
the export jobs."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from api.auth.models import User
from api.config import Settings
from api.exports import service
from api.visits.service import VisitFilter

Format = Literal["csv", "jsonl", "xlsx", "geojson"]
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


class _Rows:
    """csv.writer with QUOTE_MINIMAL quoting any field that holds CR or LF (it does so for the characters of
    its line terminator) but ending each row with LF alone: what PostgreSQL's COPY … (FORMAT csv) writes,
    so that both ways of making the export give the same bytes (copy_csv.py)."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\r\n")

    def write(self, cells: list[Any]) -> None:
        self.writer.writerow(cells)
        self.buffer.seek(self.buffer.tell() - 2)
        self.buffer.write("\n")
        self.buffer.truncate()

    def take(self) -> bytes:
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text.encode("utf-8")


def csv_head(header: list[str]) -> bytes:
    """The byte-order mark (so Excel reads the UTF-8 as UTF-8) and the header row."""
    rows = _Rows()
    rows.write(header)
    return "\ufeff".encode() + rows.take()


def csv_stream(header: list[str], rows: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    yield csv_head(header)
    out = _Rows()
    for n, row in enumerate(rows, 1):
        out.write([csv_cell(row.get(column)) for column in header])
        if n % 200 == 0:
            yield out.take()
    yield out.take()


XLSX_VISIT_COLUMNS = [c for c in service.VISIT_COLUMNS if c != "template_version_id"]


def xlsx_stream(sheets: list[service.Sheet], rows: Iterator[dict[str, Any]], zone: str) -> Iterator[bytes]:
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


def geojson_stream(features: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    yield b'{"type":"FeatureCollection","features":['
    for n, feature in enumerate(features):
        yield (("," if n else "") + json.dumps(feature, ensure_ascii=False, default=str)).encode("utf-8")
    yield b"]}"


def jsonl_stream(rows: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    for row in rows:
        yield (json.dumps(row, ensure_ascii=False, default=str) + "\n").encode("utf-8")


MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "xlsx": XLSX,
    "geojson": "application/geo+json",
}


@dataclass(frozen=True)
class Encoded:
    media_type: str
    suffix: str
    body: Iterator[bytes]


def encode(
    format: Format,
    *,
    session: Session,
    make_session: sessionmaker[Session],
    user: User,
    where: VisitFilter,
    settings: Settings,
    base_url: str,
) -> Encoded:
    """The export as bytes. The rows are read from a session of their own (`make_session`): a streamed
    answer outlives the request's session. `session` answers what is needed before the first byte."""

    def rows() -> Iterator[dict[str, Any]]:
        with make_session() as db:
            yield from service.rows(db, user=user, where=where, settings=settings, base_url=base_url)

    def points() -> Iterator[dict[str, Any]]:
        with make_session() as db:
            yield from service.features(db, user=user, where=where, settings=settings)

    if format == "jsonl":
        return Encoded(MEDIA_TYPES[format], format, jsonl_stream(rows()))
    if format == "geojson":
        return Encoded(MEDIA_TYPES[format], format, geojson_stream(points()))
    sheets = service.sheets(session, user=user, where=where, settings=settings)
    if format == "xlsx":
        return Encoded(MEDIA_TYPES[format], format, xlsx_stream(sheets, rows(), settings.timezone))
    columns = service.VISIT_COLUMNS + service.answer_columns(sheets)
    if session.get_bind().dialect.name == "postgresql":
        from api.exports import copy_csv  # PostgreSQL makes the whole file: ~10x the rows per second

        body = copy_csv.stream(
            make_session, user=user, where=where, settings=settings, base_url=base_url, header=columns
        )
        return Encoded(MEDIA_TYPES[format], format, body)
    return Encoded(MEDIA_TYPES[format], format, csv_stream(columns, rows()))
