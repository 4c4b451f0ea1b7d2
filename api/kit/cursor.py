"""Opaque keyset cursors: the last row's sort key, base64url-encoded JSON. Never OFFSET."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from api.errors import AppError

T = TypeVar("T")


class InvalidCursor(AppError):
    status = 422
    code = "invalid_cursor"
    title_zh = "分页游标无效"
    title_en = "Invalid page cursor"


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        None, description="Opaque; pass as `cursor` for the next page. Null on the last page."
    )


def encode_cursor(kind: str, key: list[Any]) -> str:
    raw = json.dumps({"k": kind, "v": key}, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str, arity: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor(
            "The cursor is not one this API issued.", detail_zh="游标不是本接口签发的。"
        ) from exc
    if not isinstance(data, dict) or data.get("k") != kind:
        raise InvalidCursor("The cursor belongs to another list.", detail_zh="游标属于另一个列表。")
    key = data.get("v")
    if not isinstance(key, list) or len(key) != arity or not all(isinstance(v, str | int) for v in key):
        raise InvalidCursor("The cursor is damaged.", detail_zh="游标已损坏。")
    return key
