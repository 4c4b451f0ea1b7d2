"""create_app(): settings, database, routers, error handlers and the PWA's static files."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from api import metrics, openapi, workers
from api.audit.router import router as audit_router
from api.auth.router import router as auth_router
from api.cases.router import router as cases_router
from api.checklists.router import router as checklists_router
from api.config import Settings, get_settings
from api.contacts.router import router as contacts_router
from api.dashboard.router import router as dashboard_router
from api.db import READ_ONLY_OPTION, make_engine, make_sessionmaker
from api.errors import install_error_handlers
from api.exports.router import router as exports_router
from api.guards import install_guards
from api.health import router as health_router
from api.integrations.router import router as integrations_router
from api.kit import offload
from api.logs import RequestIds
from api.maps.router import router as maps_router
from api.monitoring.router import router as monitoring_router
from api.photos import jobs
from api.photos.router import router as photos_router
from api.photos.service import photo_store
from api.portfolio.router import router as portfolio_router
from api.reports.router import router as reports_router
from api.review.router import router as review_router
from api.sync.router import router as sync_router
from api.tasks.router import router as tasks_router
from api.visits.router import router as visits_router

logger = logging.getLogger("fieldvisit")
PWA_DIR = Path(__file__).resolve().parent.parent / "pwa"

DESCRIPTION = """
Fieldvisit is a post-loan field inspection service (贷后现场检查).

* Errors are RFC 9457 problem details (`application/problem+json`) with a stable `code`;
  titles are in Chinese unless `Accept-Language` prefers English.
* Every list answers `{"items": [...], "next_cursor": ...}`; pass `cursor` to get the next page.
* Times are RFC 3339 with an offset; money is a decimal string with an ISO 4217 currency.
* Reading another branch's record answers 404, exactly like a missing one.
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    # The background rounds run here unless `fieldvisit worker` processes do them
    # (FIELDVISIT_BACKGROUND_IN_SERVE=false); each one is safe in any number of processes (workers.py).
    chosen = (
        workers.loops(app.state.engine, app.state.sessionmaker, settings)
        if settings.background_in_serve
        else []
    )
    loops = [asyncio.create_task(workers.run_every(loop)) for loop in chosen]
    # The fork server for CPU-heavy jobs (kit/offload.py) starts in the background, not on the first import.
    warming = asyncio.create_task(run_in_threadpool(offload.warm_up))
    try:
        yield
    finally:
        try:
            await warming
        except Exception:  # the first import will start it, or say why it cannot
            logger.exception("the fork server for imports did not start")
        for loop_task in loops:
            loop_task.cancel()
            with suppress(asyncio.CancelledError):
                await loop_task


def _build_routes_now(app: FastAPI) -> None:
    """FastAPI (0.16x) builds an included router's routes on the first request that reaches it. Two
    first requests on two threads could then build pydantic adapters for the same models at once, which
    pydantic does not survive (seen as a 500 on a fresh process under load). Build them here, once."""

    def walk(routes: list[Any]) -> None:
        for route in routes:
            candidates = getattr(route, "effective_candidates", None)
            if callable(candidates):
                walk(candidates())
            low = getattr(route, "effective_low_priority_routes", None)
            if callable(low):
                low()

    walk(list(app.router.routes))
    app.openapi()


def shell_manifest() -> list[dict[str, str]]:
    """Every file of the app shell with a digest of its bytes, for Workbox's precache: a changed file
    changes the service worker, so the phones fetch that file again and show the "new version" banner."""
    served = {"index.html": "/", "manifest.webmanifest": "/manifest.webmanifest"}
    entries = []
    for path in sorted(PWA_DIR.rglob("*")):
        name = path.relative_to(PWA_DIR).as_posix()
        if not path.is_file() or name == "sw.js" or path.name.startswith("."):
            continue
        revision = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        entries.append({"url": served.get(name, f"/app/{name}"), "revision": revision})
    return entries


class ShellFiles(StaticFiles):
    """The shell's files; the service worker decides what is cached, so the browser revalidates."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


def _serve_pwa(app: FastAPI) -> None:
    index = PWA_DIR / "index.html"
    worker = (
        (PWA_DIR / "sw.js")
        .read_text(encoding="utf-8")
        .replace("self.__SHELL_MANIFEST__", json.dumps(shell_manifest(), separators=(",", ":")))
    )
    security = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def app_shell() -> Response:
        return FileResponse(index, headers={"Cache-Control": "no-cache", **security})

    @app.api_route("/sw.js", methods=["GET", "HEAD"], include_in_schema=False)
    def service_worker() -> Response:
        return Response(
            worker,
            media_type="text/javascript",
            headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/", **security},
        )

    @app.api_route("/manifest.webmanifest", methods=["GET", "HEAD"], include_in_schema=False)
    def manifest() -> Response:
        return FileResponse(
            PWA_DIR / "manifest.webmanifest",
            media_type="application/manifest+json",
            headers={"Cache-Control": "no-cache"},
        )

    app.mount("/app", ShellFiles(directory=PWA_DIR), name="pwa")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Fieldvisit", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
        docs_url=None, redoc_url=None,  # Swagger UI is served from our own files: openapi.install
    )  # fmt: skip
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url)
    app.state.sessionmaker = make_sessionmaker(app.state.engine, settings=settings)
    app.state.read_sessionmaker = make_sessionmaker(
        app.state.engine.execution_options(**{READ_ONLY_OPTION: True})
    )
    # Derivatives made right after a photo's answer, in batches under load (background_in_serve).
    app.state.derivatives_soon = jobs.SoonAfter(app.state.sessionmaker, settings)
    install_error_handlers(app)
    openapi.install(app)
    for router in (
        auth_router,
        portfolio_router,
        checklists_router,
        visits_router,
        sync_router,
        photos_router,
        review_router,
        tasks_router,
        audit_router,
        exports_router,
        integrations_router,
        reports_router,
        maps_router,
        monitoring_router,
        dashboard_router,
        cases_router,
        contacts_router,
    ):
        app.include_router(router)
    _build_routes_now(app)
    photo_store(settings).prepare()

    app.include_router(health_router)
    metrics.install(app)
    install_guards(app)
    app.add_middleware(RequestIds)  # outermost: every answer, even a guard's refusal, has its id and line

    if PWA_DIR.is_dir():
        _serve_pwa(app)
    return app
