"""Health: liveness (the process answers) apart from readiness (it can do its work: the database is
reachable, the schema is current, the photo storage takes a write). A load balancer routes by readiness;
an orchestrator restarts by liveness only, so an outage of the database never restarts the API."""

from __future__ import annotations

import functools
import os
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from api.photos.service import photo_store

router = APIRouter(prefix="/api", tags=["meta"])


@functools.cache
def _head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    from api.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def _check_database(request: Request) -> dict[str, Any]:
    try:
        with request.app.state.engine.connect() as conn:
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception as exc:  # any failure means "not ready"; the reason is shown
        return {"database": f"unreachable: {type(exc).__name__}", "schema": "unknown"}
    head = _head_revision()
    return {"database": "ok", "schema": "ok" if current == head else f"at {current}, newest is {head}"}


def _check_storage(request: Request) -> str:
    """The node's scratch folder takes a write, and so does the photo store (the same folder when local;
    the bucket answers, when photos are on S3)."""
    settings = request.app.state.settings
    store = photo_store(settings)
    probe = store.tmp / f"ready-{uuid.uuid4().hex}"
    try:
        with open(probe, "wb") as handle:
            handle.write(b"ok")
            handle.flush()
            os.fsync(handle.fileno())
        probe.unlink()
    except OSError as exc:
        probe.unlink(missing_ok=True)
        return f"not writable: {exc.strerror}"
    if store.objects.kind == "local":
        return "ok"
    try:
        store.objects.check()
    except Exception as exc:  # any failure means "not ready"; the reason is shown
        return f"bucket unreachable: {type(exc).__name__}"
    return "ok"


@router.get("/health", summary="Liveness (kept for existing monitors)")
@router.get("/health/live", summary="Liveness: the process answers")
def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/health/ready",
    summary="Readiness: database reachable, schema current, photo storage writable",
    responses={503: {"description": "Not ready; `checks` names what failed"}},
)
async def ready(request: Request) -> JSONResponse:
    checks = await run_in_threadpool(_check_database, request)
    checks["storage"] = await run_in_threadpool(_check_storage, request)
    ok = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks},
        status_code=200 if ok else 503,
        headers={"Cache-Control": "no-store", **({} if ok else {"Retry-After": "5"})},
    )
