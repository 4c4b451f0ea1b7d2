"""Keyset pagination over any select: order by a tuple of columns, resume strictly after the last row."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Mapped, Session

from api.kit.cursor import InvalidCursor, decode_cursor, encode_cursor

MAX_PAGE = 500


@dataclass(frozen=True)
class SortKey:
    column: InstrumentedAttribute[Any]
    dump: Callable[[Any], str | int]
    load: Callable[[Any], Any]


def _attribute(column: Mapped[Any]) -> InstrumentedAttribute[Any]:
    # SQLModel types a table's attributes as their Python values (`col()` gives Mapped); they are columns.
    if not isinstance(column, InstrumentedAttribute):
        raise TypeError(f"a sort key must be a table's column, not {column!r}")
    return column


def uuid_key(column: Mapped[Any]) -> SortKey:
    return SortKey(_attribute(column), str, lambda v: uuid.UUID(str(v)))


def date_key(column: Mapped[Any]) -> SortKey:
    return SortKey(_attribute(column), lambda d: d.isoformat(), lambda v: dt.date.fromisoformat(str(v)))


def datetime_key(column: Mapped[Any]) -> SortKey:
    return SortKey(_attribute(column), lambda d: d.isoformat(), lambda v: dt.datetime.fromisoformat(str(v)))


def text_key(column: Mapped[Any]) -> SortKey:
    return SortKey(_attribute(column), str, str)


def int_key(column: Mapped[Any]) -> SortKey:
    return SortKey(_attribute(column), int, int)


def paginate(
    session: Session,
    query: Select[Any],
    *,
    kind: str,
    keys: Sequence[SortKey],
    cursor: str | None,
    limit: int,
) -> tuple[list[Any], str | None]:
    """Run `query` (which selects one entity) in key order; return the page and the next cursor."""
    limit = max(1, min(limit, MAX_PAGE))
    columns = [key.column for key in keys]
    if cursor:
        raw = decode_cursor(kind, cursor, len(keys))
        try:
            values = [key.load(value) for key, value in zip(keys, raw, strict=True)]
        except (ValueError, TypeError) as exc:
            raise InvalidCursor("The cursor is damaged.", detail_zh="游标已损坏。") from exc
        query = query.where(tuple_(*columns) > tuple_(*values))
    rows = list(session.scalars(query.order_by(*columns).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    next_cursor = encode_cursor(kind, [key.dump(getattr(last, key.column.key)) for key in keys])
    return rows, next_cursor
