"""CSV import of portfolio records: every row is checked first; one bad row means nothing is imported.

Rows are applied inside a savepoint, each in a savepoint of its own, so reference and duplicate checks
are the very ones the API runs, rows may refer to earlier rows of the same file, and the outer savepoint
is rolled back whenever any row failed or the run is a dry run.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from api.errors import AppError
from api.portfolio import schemas, service
from api.portfolio.exceptions import ImportRejected, UnknownImportKind

MAX_ROWS = 50_000


@dataclass(frozen=True)
class ImportKind:
    schema: type[BaseModel]
    create: Callable[..., Any]


def _identifiers(raw: str) -> dict[str, str]:
    pairs = [part.split("=", 1) for part in raw.split(";") if part.strip()]
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError("identifiers must look like 'key=value;key=value'")
    return {key.strip(): value.strip() for key, value in pairs}


KINDS: dict[str, ImportKind] = {
    "borrowers": ImportKind(schemas.BorrowerCreate, service.create_borrower),
    "facilities": ImportKind(schemas.FacilityCreate, service.create_facility),
    "collateral": ImportKind(schemas.CollateralCreate, service.create_collateral),
    "projects": ImportKind(schemas.ProjectCreate, service.create_project),
    "milestones": ImportKind(schemas.MilestoneCreate, service.create_milestone),
    "declarations": ImportKind(schemas.DeclarationCreate, service.create_declaration),
}


def decode_csv(raw: bytes) -> str:
    """UTF-8 (with or without Excel's BOM), else GB18030, which Chinese Excel writes by default."""
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


def import_csv(session: Session, *, kind: str, text: str, dry_run: bool) -> schemas.ImportReport:
    spec = KINDS.get(kind)
    if spec is None:
        raise UnknownImportKind(
            f"Kinds are: {', '.join(KINDS)}.", detail_zh=f"支持的类型：{', '.join(KINDS)}。"
        )
    reader = csv.DictReader(io.StringIO(text))
    errors: list[schemas.ImportRowError] = []
    rows = 0
    outer = session.begin_nested()
    try:
        for record in reader:
            rows += 1
            line = reader.line_num
            if rows > MAX_ROWS:
                raise ImportRejected(
                    f"At most {MAX_ROWS} rows per file.", detail_zh=f"每个文件最多 {MAX_ROWS} 行。"
                )
            if None in record:
                errors.append(schemas.ImportRowError(line=line, errors=["more values than header columns"]))
                continue
            values: dict[str, Any] = {
                k.strip(): v.strip() for k, v in record.items() if k and v and v.strip()
            }
            try:
                if kind == "collateral" and "identifiers" in values:
                    values["identifiers"] = _identifiers(values["identifiers"])
                data = spec.schema.model_validate(values)
            except ValidationError as exc:
                errors.append(schemas.ImportRowError(line=line, errors=_row_errors(exc)))
                continue
            except ValueError as exc:
                errors.append(schemas.ImportRowError(line=line, errors=[str(exc)]))
                continue
            row_savepoint = session.begin_nested()
            try:
                spec.create(session, data=data)
                row_savepoint.commit()
            except AppError as exc:
                row_savepoint.rollback()
                errors.append(schemas.ImportRowError(line=line, errors=[exc.detail_en or exc.title_en]))
        if rows == 0 and reader.fieldnames is None:
            raise ImportRejected("The file is empty.", detail_zh="文件为空。")
    except csv.Error as exc:
        outer.rollback()
        raise ImportRejected(
            f"Not a readable CSV file: {exc}", detail_zh=f"无法解析 CSV 文件：{exc}"
        ) from exc
    except BaseException:
        outer.rollback()
        raise
    if errors or dry_run:
        outer.rollback()
    else:
        outer.commit()
    return schemas.ImportReport(
        kind=kind, dry_run=dry_run, rows=rows, imported=0 if errors or dry_run else rows, errors=errors
    )
