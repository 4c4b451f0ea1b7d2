"""CSV import of portfolio records: every row is checked first; one bad row means nothing is imported.

Two steps, so that a large file never holds the database's write lock while it is checked (on SQLite
that lock is the whole database's: sign-ins would wait behind it):
1. `prepare`, on a read-only snapshot: every row is validated against its schema and checked by the very
   rules the API runs (service.*_values) against every key the file refers to, loaded in a few IN
   queries; rows may refer to earlier rows of the same file. Nothing is written.
2. `write`, in one short transaction: the rows and their audit events in one bulk statement each (on
   SQLite `write_staged_sqlite`, which holds the lock about half as long).
A row that another writer created between the two steps (the same unique key) fails the write as a whole.
`run` does both on its own connections; the API runs it in a child process (kit/offload.py).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ValidationError
from sqlalchemy import Dialect, Engine, Table
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import types as sa_types
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.audit import service as audit
from api.audit.models import AuditEvent
from api.db import READ_ONLY_OPTION, make_engine, make_sessionmaker, ordered_ids, utcnow, with_defaults
from api.errors import AppError
from api.monitoring import schemas as monitoring_schemas
from api.monitoring import service as monitoring
from api.monitoring.models import BorrowerFigures, ProjectFigures, RepaymentStatus
from api.portfolio import schemas, service
from api.portfolio.exceptions import ImportRejected, UnknownImportKind
from api.portfolio.lookup import BulkLookup, Lookup
from api.portfolio.models import Borrower, Collateral, Declaration, Facility, Milestone, Project

MAX_ROWS = 50_000
AUDIT_TABLE = cast(Table, sa_inspect(AuditEvent).local_table)


@dataclass(frozen=True)
class ImportKind:
    schema: type[BaseModel]
    values: Callable[[Any, Lookup], dict[str, Any]]
    model: type[Any]


def _identifiers(raw: str) -> dict[str, str]:
    pairs = [part.split("=", 1) for part in raw.split(";") if part.strip()]
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError("identifiers must look like 'key=value;key=value'")
    return {key.strip(): value.strip() for key, value in pairs}


KINDS: dict[str, ImportKind] = {
    "borrowers": ImportKind(schemas.BorrowerCreate, service.borrower_values, Borrower),
    "facilities": ImportKind(schemas.FacilityCreate, service.facility_values, Facility),
    "collateral": ImportKind(schemas.CollateralCreate, service.collateral_values, Collateral),
    "projects": ImportKind(schemas.ProjectCreate, service.project_values, Project),
    "milestones": ImportKind(schemas.MilestoneCreate, service.milestone_values, Milestone),
    "declarations": ImportKind(schemas.DeclarationCreate, service.declaration_values, Declaration),
    # Monitoring's periodic data (api/monitoring): kept as received, each row a new set of history.
    "figures": ImportKind(monitoring_schemas.FiguresImport, monitoring.figures_values, BorrowerFigures),
    "project_figures": ImportKind(
        monitoring_schemas.ProjectFiguresImport, monitoring.project_figures_values, ProjectFigures
    ),
    "repayments": ImportKind(
        monitoring_schemas.RepaymentImport, monitoring.repayment_values, RepaymentStatus
    ),
}
MONITORING_KINDS = ("figures", "project_figures", "repayments")


def kind_of(kind: str) -> ImportKind:
    spec = KINDS.get(kind)
    if spec is None:
        raise UnknownImportKind(
            f"Kinds are: {', '.join(KINDS)}.", detail_zh=f"支持的类型：{', '.join(KINDS)}。"
        )
    return spec


XLSX_MAGIC = b"PK\x03\x04"
LARGEST_XLSX_CELLS = MAX_ROWS * 40


def xlsx_as_csv(raw: bytes) -> str:
    """The first sheet of an Excel workbook as CSV text, so it goes through the very same checks (its row
    numbers are the CSV's line numbers). Read with openpyxl in read-only mode: formulas give their cached
    values, dates come as YYYY-MM-DD, whole numbers without a trailing .0."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:  # zipfile, XML and openpyxl's own errors: all mean "not a workbook we can read"
        raise ImportRejected(
            "Not a readable Excel workbook (.xlsx).", detail_zh="无法读取该 Excel 文件（.xlsx）。"
        ) from exc
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    cells = 0
    try:
        for row in book.worksheets[0].iter_rows(values_only=True):
            cells += len(row)
            if cells > LARGEST_XLSX_CELLS:
                raise ImportRejected(
                    f"At most {MAX_ROWS} rows per file.", detail_zh=f"每个文件最多 {MAX_ROWS} 行。"
                )
            writer.writerow([_cell_text(value) for value in row])
    finally:
        book.close()
    return out.getvalue()


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).replace("\n", " ")


def decode_csv(raw: bytes) -> str:
    """UTF-8 (with or without Excel's BOM), else GB18030, which Chinese Excel writes by default; an Excel
    workbook (.xlsx) is read as its first sheet."""
    if raw.startswith(XLSX_MAGIC):
        return xlsx_as_csv(raw)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return raw.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise ImportRejected(
                "The file is neither UTF-8 nor GB18030 text.",
                detail_zh="文件不是 UTF-8 或 GB18030 编码的文本。",
            ) from exc


def _row_errors(exc: ValidationError) -> list[str]:
    messages = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "row"
        messages.append(f"{where}: {error['msg']}")
    return messages


class ClientGone(AppError):
    status = 400
    code = "client_disconnected"
    title_zh = "连接已断开，导入已停止"
    title_en = "The client went away; the import was stopped"


class ImportRaced(AppError):
    status = 409
    code = "import_raced"
    title_zh = "导入期间数据已被修改，请重新导入"
    title_en = "Records changed while the file was checked; send it again"


@dataclass
class PreparedImport:
    kind: str
    spec: ImportKind
    rows: int = 0
    errors: list[schemas.ImportRowError] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def report(self, *, dry_run: bool) -> schemas.ImportReport:
        imported = 0 if self.errors or dry_run else self.rows
        return schemas.ImportReport(
            kind=self.kind, dry_run=dry_run, rows=self.rows, imported=imported, errors=self.errors
        )


def _parse(
    spec: ImportKind, kind: str, text: str
) -> tuple[PreparedImport, list[tuple[int, Any, dict[str, Any]]]]:
    prepared = PreparedImport(kind, spec)
    reader = csv.DictReader(io.StringIO(text))
    parsed: list[tuple[int, Any, dict[str, Any]]] = []
    try:
        for record in reader:
            prepared.rows += 1
            line = reader.line_num
            if prepared.rows > MAX_ROWS:
                raise ImportRejected(
                    f"At most {MAX_ROWS} rows per file.", detail_zh=f"每个文件最多 {MAX_ROWS} 行。"
                )
            if None in record:
                prepared.errors.append(
                    schemas.ImportRowError(line=line, errors=["more values than header columns"])
                )
                continue
            values: dict[str, Any] = {
                k.strip(): v.strip() for k, v in record.items() if k and v and v.strip()
            }
            try:
                if kind == "collateral" and "identifiers" in values:
                    values["identifiers"] = _identifiers(values["identifiers"])
                # A file holds text: its cells are read laxly ("5" is 5), where the JSON API is strict.
                parsed.append((line, spec.schema.model_validate(values, strict=False), values))
            except ValidationError as exc:
                prepared.errors.append(schemas.ImportRowError(line=line, errors=_row_errors(exc)))
            except ValueError as exc:
                prepared.errors.append(schemas.ImportRowError(line=line, errors=[str(exc)]))
    except csv.Error as exc:
        raise ImportRejected(
            f"Not a readable CSV file: {exc}", detail_zh=f"无法解析 CSV 文件：{exc}"
        ) from exc
    if prepared.rows == 0 and reader.fieldnames is None:
        raise ImportRejected("The file is empty.", detail_zh="文件为空。")
    return prepared, parsed


def prepare(
    session: Session,
    *,
    kind: str,
    text: str,
    actor_id: uuid.UUID | None = None,
    now: dt.datetime | None = None,
) -> PreparedImport:
    """Check every row and build the rows and their audit events; write nothing. `session` may be
    read-only; `now` stamps the rows (default: now)."""
    spec = kind_of(kind)
    prepared, parsed = _parse(spec, kind, text)
    lookup = BulkLookup.load(session, [values for _line, _data, values in parsed])
    table = spec.model.__tablename__
    now = now or utcnow()
    # Time-ordered ids in file order for the rows and their events: their indexes fill in order, which
    # shortens the write (on SQLite, the time everyone else waits for the lock).
    ids = ordered_ids(now)
    for line, data, _values in parsed:
        try:
            values = spec.values(data, lookup)
        except AppError as exc:
            prepared.errors.append(schemas.ImportRowError(line=line, errors=[exc.detail_en or exc.title_en]))
            continue
        values["id"] = next(ids)
        lookup.remember(table, values)
        prepared.records.append(with_defaults(spec.model, values, now=now))
    prepared.errors.sort(key=lambda error: error.line)
    if not prepared.errors:
        prepared.events = audit.created_events(
            entity_type=table, rows=prepared.records, actor_id=actor_id, recorded_at=now, ids=ids
        )
    return prepared


@dataclass(frozen=True)
class DriverRows:
    """Rows for one table in the driver's own form, every value already converted by its column's type:
    the conversion (most of the cost) happens before the write lock is taken, not under it."""

    table: str  # the table's name as the dialect quotes it
    names: str  # the columns, quoted, in the order of each row's values
    placeholders: str
    rows: list[tuple[Any, ...]]

    @classmethod
    def build(cls, dialect: Dialect, table: Table, rows: list[dict[str, Any]]) -> DriverRows:
        columns = [column for column in table.columns if column.key in rows[0]]
        processors = [_processor(column, dialect) for column in columns]
        preparer = dialect.identifier_preparer
        names = ", ".join(preparer.quote(c.name) for c in columns)
        placeholders = ", ".join(["?" if dialect.paramstyle == "qmark" else "%s"] * len(columns))
        keys = [column.key for column in columns]
        if not any(processors):
            converted = [tuple(row.get(key) for key in keys) for row in rows]
        else:
            converted = [
                tuple(
                    process(row.get(key)) if process else row.get(key)
                    for key, process in zip(keys, processors, strict=True)
                )
                for row in rows
            ]
        return cls(preparer.format_table(table), names, placeholders, converted)

    def insert_sql(self, into: str | None = None) -> str:
        return f"INSERT INTO {into or self.table} ({self.names}) VALUES ({self.placeholders})"

    @property
    def copy_sql(self) -> str:
        return f"COPY {self.table} ({self.names}) FROM STDIN"


def _processor(column: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """The column type's conversion to the driver's form. psycopg takes UUIDs, aware datetimes, dates and
    decimals as they are (COPY adapts them itself), so on PostgreSQL only JSON and enums need converting —
    converting every value of 100,000 rows in Python costs about a second and a half."""
    impl = column.type.dialect_impl(dialect)
    if dialect.name == "postgresql" and not isinstance(impl, sa_types.JSON | sa_types.Enum):
        return None
    processor: Callable[[Any], Any] | None = impl.bind_processor(dialect)
    return processor


def driver_rows(dialect: Dialect, prepared: PreparedImport) -> list[DriverRows]:
    """The prepared rows and events in the driver's form (see DriverRows)."""
    if prepared.errors or not prepared.records:
        return []
    return [
        DriverRows.build(dialect, cast(Table, prepared.spec.model.__table__), prepared.records),
        DriverRows.build(dialect, AUDIT_TABLE, prepared.events),
    ]


def write(session: Session, prepared: PreparedImport, statements: list[DriverRows] | None = None) -> None:
    """Store the prepared rows and their audit events: one bulk statement each, in the caller's
    transaction."""
    statements = driver_rows(session.get_bind().dialect, prepared) if statements is None else statements
    if not statements:
        return
    # COPY runs on the driver's own cursor, so its unique violation arrives as the driver's exception.
    driver_integrity_error = session.get_bind().dialect.loaded_dbapi.IntegrityError
    try:
        with session.begin_nested():
            connection = session.connection()
            for statement in statements:
                if connection.dialect.name == "postgresql":
                    # COPY: several times faster than a multi-row INSERT for a whole file.
                    raw = connection.connection.dbapi_connection
                    with raw.cursor() as cursor, cursor.copy(statement.copy_sql) as copy:  # type: ignore[union-attr]
                        for row in statement.rows:
                            copy.write_row(row)
                else:
                    connection.exec_driver_sql(statement.insert_sql(), statement.rows)
    except (IntegrityError, driver_integrity_error) as exc:
        raise _raced() from exc


def _raced() -> ImportRaced:
    return ImportRaced(
        "Another change created one of these records while the file was checked.",
        detail_zh="检查文件期间已有其他操作创建了其中的记录。",
    )


def write_staged_sqlite(engine: Engine, statements: list[DriverRows]) -> None:
    """SQLite only: the same write as `write`, with a shorter hold on the database's one write lock. The
    rows first go, without the lock, into a scratch database file of their own (attached, no journal);
    then, under the lock, one INSERT … SELECT per table copies them in and commits. With 50,000 borrowers
    the lock is held about 1 s instead of 2 (sign-ins wait behind it: bench/import_load.py)."""
    if not statements:
        return
    folder = Path(tempfile.mkdtemp(prefix="fieldvisit-import-"))
    raw = engine.raw_connection()
    cursor = raw.cursor()
    try:
        cursor.execute("ATTACH DATABASE ? AS stage", (str(folder / "stage.db"),))
        cursor.execute("PRAGMA stage.journal_mode=OFF")
        cursor.execute("PRAGMA stage.synchronous=OFF")
        cursor.execute("BEGIN")  # deferred: only the scratch file is written
        for batch in statements:
            cursor.execute(
                f"CREATE TABLE stage.{batch.table} AS SELECT {batch.names} FROM main.{batch.table} WHERE 0"
            )
            cursor.executemany(batch.insert_sql(into=f"stage.{batch.table}"), batch.rows)
        cursor.execute("COMMIT")
        cursor.execute("BEGIN IMMEDIATE")
        for batch in statements:
            cursor.execute(
                f"INSERT INTO main.{batch.table} ({batch.names}) SELECT {batch.names} FROM stage.{batch.table}"
            )
        cursor.execute("COMMIT")
    except sqlite3.IntegrityError as exc:
        raise _raced() from exc
    finally:
        with contextlib.suppress(sqlite3.Error):
            if raw.in_transaction:  # a failure above rolls back whatever it left open
                cursor.execute("ROLLBACK")
            cursor.execute("DETACH DATABASE stage")
        cursor.close()
        raw.close()
        shutil.rmtree(folder, ignore_errors=True)


def run(
    database_url: str, *, kind: str, text: str, actor_id: uuid.UUID | None, dry_run: bool, now: dt.datetime
) -> schemas.ImportReport:
    """The whole import on its own connections: check on a read-only snapshot, then (all rows passing and
    not a dry run) write and commit. The API runs this in a child process (kit/offload.py), so `now`, the
    instant the rows and events carry, comes from the caller's clock."""
    engine = make_engine(database_url)
    try:
        reading = make_sessionmaker(engine.execution_options(**{READ_ONLY_OPTION: True}))
        with reading() as snapshot:
            prepared = prepare(snapshot, kind=kind, text=text, actor_id=actor_id, now=now)
        if not prepared.errors and not dry_run:
            statements = driver_rows(engine.dialect, prepared)
            if engine.dialect.name == "sqlite":
                write_staged_sqlite(engine, statements)
            else:
                with make_sessionmaker(engine)() as session:
                    write(session, prepared, statements)
                    session.commit()
        return prepared.report(dry_run=dry_run)
    finally:
        engine.dispose()


def import_csv(session: Session, *, kind: str, text: str, dry_run: bool) -> schemas.ImportReport:
    """Both steps in one session (the command line)."""
    prepared = prepare(session, kind=kind, text=text, actor_id=session.info.get("actor_id"))
    if not dry_run:
        write(session, prepared)
    return prepared.report(dry_run=dry_run)
