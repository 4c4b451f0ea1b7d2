"""Problem details (RFC 9457): every expected failure is an AppError with a stable code.

Titles are bilingual; the request's Accept-Language picks one (zh-CN unless English is preferred).
"""

from __future__ import annotations

import errno
import logging
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger("fieldvisit.errors")

PROBLEM_JSON = "application/problem+json"


class AppError(Exception):
    """An expected failure. Subclasses fix status, code and the bilingual title."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title_zh: ClassVar[str] = "请求有误"
    title_en: ClassVar[str] = "Bad request"
    # True when what the service flushed before raising must be committed all the same.
    commit_anyway: ClassVar[bool] = False

    def __init__(
        self,
        detail_en: str | None = None,
        *,
        detail_zh: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail_en or self.title_en)
        self.detail_en = detail_en
        self.detail_zh = detail_zh or detail_en
        self.extra = extra or {}
        self.headers = headers

    def __reduce__(self) -> tuple[Any, ...]:
        # Whole, across a process boundary (the CSV import runs in a child process: kit/offload.py);
        # Exception's own pickling would call __init__ with the message alone and lose the rest.
        return (_restore_error, (type(self), self.args, self.__dict__))


def _restore_error(kind: type[AppError], args: tuple[Any, ...], state: dict[str, Any]) -> AppError:
    error = kind.__new__(kind)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class NotFound(AppError):
    status = 404
    code = "not_found"
    title_zh = "记录不存在"
    title_en = "Not found"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"
    title_zh = "未登录或登录已过期"
    title_en = "Not signed in or session expired"

    def __init__(self, detail_en: str | None = None, *, detail_zh: str | None = None) -> None:
        super().__init__(detail_en, detail_zh=detail_zh, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    title_zh = "无权执行此操作"
    title_en = "Not allowed"


class Conflict(AppError):
    status = 409
    code = "conflict"
    title_zh = "与现有数据冲突"
    title_en = "Conflicts with existing data"


class InvalidTransition(AppError):
    status = 409
    code = "invalid_transition"
    title_zh = "当前状态下不允许此操作"
    title_en = "Not allowed in the current state"


class Unprocessable(AppError):
    status = 422
    code = "unprocessable"
    title_zh = "内容无法处理"
    title_en = "Unprocessable content"


class DatabaseUnavailable(AppError):
    """The database is down, unreachable or (SQLite) busy past its wait: an outage, not a bug."""

    status = 503
    code = "database_unavailable"
    title_zh = "服务暂时不可用，请稍后重试"
    title_en = "Service temporarily unavailable; try again shortly"

    def __init__(self) -> None:
        super().__init__(
            "The database cannot be reached right now; nothing from this request was stored.",
            detail_zh="数据库暂时无法访问，本次请求未保存任何内容。",
            headers={"Retry-After": "5"},
        )


class StorageFull(AppError):
    status = 507
    code = "storage_full"
    title_zh = "服务器存储空间已满，请稍后重试"
    title_en = "The server's storage is full; try again later"

    def __init__(self) -> None:
        super().__init__(
            "Nothing was kept; the upload can be resumed once space is freed.",
            detail_zh="本次内容未保存；释放空间后可继续上传。",
            headers={"Retry-After": "300"},
        )


class StorageUnavailable(AppError):
    """The photo bucket does not answer, or refuses us (credentials, a missing bucket): an outage, not a bug."""

    status = 503
    code = "storage_unavailable"
    title_zh = "照片存储暂时不可用，请稍后重试"
    title_en = "Photo storage temporarily unavailable; try again shortly"

    def __init__(self) -> None:
        super().__init__(
            "The photo storage cannot be reached right now; nothing from this request was kept.",
            detail_zh="照片存储暂时无法访问，本次请求未保存任何内容。",
            headers={"Retry-After": "10"},
        )


def storage_unavailable(exc: BaseException) -> bool:
    """An error of the S3 client: the bucket is down, slow, or refuses us. (A key that is not there is turned
    into FileNotFoundError where it is read, so what is left here is never the caller's fault.)"""
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, BotoCoreError | ClientError)


def full_disk(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


class ValidationFailed(AppError):
    status = 422
    code = "validation_failed"
    title_zh = "输入校验未通过"
    title_en = "Validation failed"


def prefers_english(request: Request) -> bool:
    """zh-CN is the default; English only when the client asks for it first."""
    header = request.headers.get("accept-language", "")
    first = header.split(",")[0].strip().lower()
    return first.startswith("en")


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    title_zh: str,
    title_en: str,
    detail_zh: str | None = None,
    detail_en: str | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    english = prefers_english(request)
    body: dict[str, Any] = {
        "type": f"https://fieldvisit.dev/problems/{code}",
        "title": title_en if english else title_zh,
        "status": status,
        "code": code,
        "instance": request.url.path,
    }
    detail = detail_en if english else detail_zh
    if detail:
        body["detail"] = detail
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    fields = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        fields.append(
            {"field": ".".join(loc), "message": error.get("msg", ""), "type": error.get("type", "")}
        )
    return fields


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return problem_response(
        request,
        status=exc.status,
        code=exc.code,
        title_zh=exc.title_zh,
        title_en=exc.title_en,
        detail_zh=exc.detail_zh,
        detail_en=exc.detail_en,
        extra=exc.extra,
        headers=exc.headers,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem_response(
        request,
        status=422,
        code=ValidationFailed.code,
        title_zh=ValidationFailed.title_zh,
        title_en=ValidationFailed.title_en,
        extra={"errors": _field_errors(exc)},
    )


_HTTP_TITLES = {
    404: ("not_found", "记录不存在", "Not found"),
    405: ("method_not_allowed", "不支持该请求方法", "Method not allowed"),
    401: ("unauthorized", "未登录或登录已过期", "Not signed in or session expired"),
    413: ("too_large", "内容过大", "Content too large"),
}


def _allowed_methods(request: Request) -> str | None:
    """Every method the API documents for this path (Starlette names only the first route's)."""
    import re

    allowed: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = "^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, request.url.path):
            allowed.update(method.upper() for method in operations if method != "parameters")
    return ", ".join(sorted(allowed)) if allowed else None


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        allow = _allowed_methods(request)
        if allow:
            exc.headers = {**(exc.headers or {}), "Allow": allow}
    code, zh, en = _HTTP_TITLES.get(exc.status_code, ("http_error", "请求失败", "Request failed"))
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail not in (zh, en) else None
    return problem_response(
        request,
        status=exc.status_code,
        code=code,
        title_zh=zh,
        title_en=en,
        detail_en=detail,
        detail_zh=detail,
        headers=getattr(exc, "headers", None),
    )


def database_unavailable(exc: BaseException) -> bool:
    """The database is down, unreachable or (SQLite) busy past its wait: not a bug, so 503, not 500."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        text = str(exc.orig).lower()
        return any(
            sign in text
            for sign in (
                "database is locked", "database is busy", "connection", "server closed", "terminating",
                "could not connect", "the database system is", "timeout", "timed out",
            )
        )  # fmt: skip
    return isinstance(exc, sa_exc.TimeoutError)  # the pool had no connection to give


async def _database_or_storage_error(request: Request, exc: Exception) -> JSONResponse:
    """An outage is an answer (503, 507) with Retry-After, wherever in a request it surfaced."""
    if database_unavailable(exc):
        logger.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return await _app_error(request, DatabaseUnavailable())
    if isinstance(exc, OSError) and full_disk(exc):
        logger.error("storage full on %s %s", request.method, request.url.path)
        return await _app_error(request, StorageFull())
    if storage_unavailable(exc):
        logger.warning("photo storage unavailable on %s %s: %s", request.method, request.url.path, exc)
        return await _app_error(request, StorageUnavailable())
    return await _unexpected(request, exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        request,
        status=500,
        code="internal_error",
        title_zh="服务器内部错误",
        title_en="Internal server error",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    from sqlalchemy.exc import SQLAlchemyError

    # Handled here, not by the catch-all, so that an outage is an answer and not a server error.
    app.add_exception_handler(SQLAlchemyError, _database_or_storage_error)
    app.add_exception_handler(OSError, _database_or_storage_error)
    from botocore.exceptions import BotoCoreError, ClientError

    app.add_exception_handler(BotoCoreError, _database_or_storage_error)
    app.add_exception_handler(ClientError, _database_or_storage_error)
    app.add_exception_handler(Exception, _unexpected)
