"""One rule for all text, and the HTTP hygiene every answer gets.

Text: no request may carry U+0000 or a lone UTF-16 surrogate in any text — query parameters, form
fields, JSON strings and keys, CSV cells — nor a JSON number that is not finite (`NaN`, `Infinity`,
`1e999`). PostgreSQL cannot store NUL in text and refuses lone surrogates in UTF-8, SQLite would keep
them as they are, and JSON has no infinity: so the same request would be a 500 on one database and
stored on the other. Refusing them here, before any endpoint runs, makes both databases behave alike:
422 `text_not_allowed` naming the field, and nothing stored.

Answers: `X-Content-Type-Options: nosniff` everywhere; the app shell also gets a Content-Security-Policy
without inline script and `frame-ancestors 'none'`; text answers are gzip-compressed when the client
accepts it (photos are already compressed, and Range requests need the bytes as they are).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import problem_response

LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
CHECKED_BODIES = ("application/json", "application/x-www-form-urlencoded", "text/csv", "text/plain")
LARGEST_CHECKED_BODY = 64 * 1024 * 1024
SHELL_CSP = (
    "default-src 'self'; script-src 'self'; "
    # Chartist (the dashboard's charts) writes two fixed style attributes: its axis labels' "overflow: visible;"
    # and its drawing's "width: 100%; height: 220px;" (the size the dashboard asks for). Only those two.
    "style-src 'self' 'unsafe-hashes' 'sha256-+7g9GIVwIQyRW5AWmV3tOknRu/VejUoNtGLu4+COYXU=' "
    "'sha256-WQaCafXHVp2xgcHGBWjX80wS1swDuPkL/HaCGlE3by8='; img-src 'self' blob: data:; "
    "media-src 'self' blob:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
PHOTO_BYTES = re.compile(r"^/api/v1/photos/[^/]+/(original|preview|thumbnail|stamped)$")


class BadText(Exception):
    def __init__(self, field: str, problem: str) -> None:
        self.field, self.problem = field, problem


def _check_text(value: str, field: str) -> None:
    if "\x00" in value:
        raise BadText(field, "contains the NUL character (U+0000)")
    if LONE_SURROGATE.search(value):
        raise BadText(field, "contains a lone surrogate (not valid Unicode)")


def _walk(value: Any, path: str) -> None:
    if isinstance(value, str):
        _check_text(value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, f"{path}.{key}")
            _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            _walk(item, f"{path}.{n}")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise BadText("body", f"the number {text[:40]} is not finite")
    return number


def _not_a_number(name: str) -> float:
    raise BadText("body", f"{name} is not a JSON number")


def check_body(content_type: str, body: bytes) -> None:
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            parsed = json.loads(body, parse_float=_finite, parse_constant=_not_a_number)
        except (ValueError, RecursionError):
            return  # not JSON at all: the endpoint's own validation answers that
        _walk(parsed, "body")
    elif kind == "application/x-www-form-urlencoded":
        for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            _check_text(key + value, f"body.{key}")
    elif b"\x00" in body:
        line = body[: body.index(b"\x00")].count(b"\n") + 1
        raise BadText(f"body.line {line}", "contains the NUL character (U+0000)")


def check_query(query_string: bytes) -> None:
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if "\x00" in key or "\x00" in value:
            raise BadText(f"query.{key.replace(chr(0), '')}", "contains the NUL character (U+0000)")


class TextGuard:
    """Pure ASGI: the body is read once, checked and handed on unchanged; uploads are never buffered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        try:
            check_query(scope.get("query_string", b""))
            length = int(headers.get(b"content-length", b"0") or 0)
        except BadText as exc:
            await self._refuse(scope, receive, send, exc)
            return
        except ValueError:
            length = 0
        checked = content_type.split(";")[0].strip().lower() in CHECKED_BODIES
        if not checked or length > LARGEST_CHECKED_BODY:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            check_body(content_type, body)
        except BadText as exc:
            await self._refuse(scope, receive, send, exc)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, exc: BadText) -> None:
        response = problem_response(
            Request(scope, receive),
            status=422,
            code="text_not_allowed",
            title_zh="输入包含不允许的字符或数值",
            title_en="Input contains a character or number that is not allowed",
            detail_zh=f"字段 {exc.field} 含有不允许的内容。",
            detail_en=f"{exc.field} {exc.problem}.",
            extra={"errors": [{"field": exc.field, "message": exc.problem, "type": "text_not_allowed"}]},
        )
        await response(scope, receive, send)


class Hygiene:
    """Security headers on every answer; gzip for text, never for photo bytes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.compressed = GZipMiddleware(app, minimum_size=1024)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        shell = not path.startswith(("/api/", "/docs", "/redoc", "/openapi.json"))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if shell:
                    headers.setdefault("Content-Security-Policy", SHELL_CSP)
                    headers.setdefault("X-Frame-Options", "DENY")
            await send(message)

        target = self.app if PHOTO_BYTES.match(path) else self.compressed
        await target(scope, receive, with_headers)


def install_guards(app: FastAPI) -> None:
    app.add_middleware(TextGuard)
    app.add_middleware(Hygiene)
