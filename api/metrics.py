"""`/metrics` in Prometheus's text format (prometheus-client): requests and their latency by route, bytes
received, and — read from the database at each scrape — the background work waiting (photos without
derivatives, change-feed rows not numbered yet, audit events not sealed yet, webhook events not fanned out
and deliveries not delivered, export jobs not done), the oldest unprocessed photo, the oldest webhook delivery
still pending, how long the work done in the last minutes took by kind (job latency), how long finished visits
took to reach the server whole (sync lag), and the connection pool in use. Read from the database, these
include what `fieldvisit worker` processes did, which have no HTTP port of their own.

Each `fieldvisit serve` process has its own counters (a registry per app, so tests can build many apps);
with `--workers N` scrape each node, or put the processes behind one address and read the database-backed
figures, which are the same from any of them. `/metrics` answers only `Authorization: Bearer
$FIELDVISIT_METRICS_TOKEN` (Prometheus's `authorization` setting), and is off (404) while no token is set:
not "the loopback is trusted", since behind a reverse proxy on the same host every request is local.
"""

from __future__ import annotations

import datetime as dt
import hmac
import statistics
import time
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import col
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.audit.models import AuditEvent
from api.db import utcnow
from api.errors import Forbidden, NotFound
from api.exports.models import ExportJob, ExportState
from api.integrations.models import DeliveryState, WebhookDelivery, WebhookEvent
from api.kit.dates import assume_utc
from api.photos.models import Photo, PhotoState
from api.sync.models import ChangeLog, Submission

# The window of the job latency and sync lag figures, and at most how many finished rows of each kind they read.
RECENT_WINDOW = dt.timedelta(minutes=5)
RECENT_ROWS = 2000
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class MetricsForbidden(Forbidden):
    code = "metrics_forbidden"
    title_zh = "读取监控指标需要监控令牌"
    title_en = "Metrics need the metrics token"


class MetricsOff(NotFound):
    code = "metrics_off"
    title_zh = "监控指标未开启（请设置 FIELDVISIT_METRICS_TOKEN）"
    title_en = "Metrics are off (set FIELDVISIT_METRICS_TOKEN)"


class BacklogCollector(Collector):
    """Figures read from the database when Prometheus scrapes: the same on every node."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        waiting = GaugeMetricFamily(
            "fieldvisit_jobs_waiting", "Background work not done yet, by kind.", labels=["kind"]
        )
        oldest = GaugeMetricFamily(
            "fieldvisit_oldest_unprocessed_photo_seconds",
            "Age of the oldest photo still without derivatives.",
        )
        pool = GaugeMetricFamily("fieldvisit_db_connections_in_use", "Database connections checked out.")
        try:
            with self.engine.connect() as conn:
                unprocessed = col(Photo.state).in_([PhotoState.received, PhotoState.processing])
                photos, first = conn.execute(
                    select(func.count(), func.min(col(Photo.received_at))).where(unprocessed)
                ).one()
                changes = conn.execute(select(func.count()).where(col(ChangeLog.seq).is_(None))).scalar_one()
                events = conn.execute(select(func.count()).where(col(AuditEvent.seq).is_(None))).scalar_one()
                unfanned = conn.execute(
                    select(func.count()).where(col(WebhookEvent.fanned_out_at).is_(None))
                ).scalar_one()
                deliveries, oldest_delivery = conn.execute(
                    select(func.count(), func.min(col(WebhookDelivery.created_at))).where(
                        col(WebhookDelivery.state) == DeliveryState.pending
                    )
                ).one()
                exports = conn.execute(
                    select(func.count()).where(
                        col(ExportJob.state).in_([ExportState.pending, ExportState.running])
                    )
                ).scalar_one()
                try:  # read last on the same connection: a failure here leaves the figures above standing
                    recent = _recent_latencies(conn)
                except Exception:
                    recent = []
        except Exception:  # a scrape during an outage reports what it can; readiness says why
            return
        waiting.add_metric(["photo_derivatives"], photos)
        waiting.add_metric(["change_feed_numbering"], changes)
        waiting.add_metric(["audit_sealing"], events)
        waiting.add_metric(["webhook_fan_out"], unfanned)
        waiting.add_metric(["webhook_deliveries"], deliveries)
        waiting.add_metric(["export_jobs"], exports)
        lag = GaugeMetricFamily(
            "fieldvisit_oldest_pending_webhook_seconds",
            "Age of the oldest webhook delivery not delivered yet (a destination that is down shows here).",
        )
        lag.add_metric([], _age(oldest_delivery))
        oldest.add_metric([], _age(first))
        checked_out = getattr(self.engine.pool, "checkedout", None)
        pool.add_metric([], float(checked_out()) if callable(checked_out) else 0.0)
        yield waiting
        yield oldest
        yield lag
        yield pool
        yield from recent


def _recent_latencies(conn: Connection) -> list[GaugeMetricFamily]:
    """How long work took from being asked for to being done, over what finished in the last
    RECENT_WINDOW (at most RECENT_ROWS of it, newest first: an index on each finishing time keeps the read
    short however large the tables grow)."""
    since = utcnow() - RECENT_WINDOW
    jobs = GaugeMetricFamily(
        "fieldvisit_job_latency_seconds",
        f"From asked for to done, over the work done in the last {RECENT_WINDOW.seconds // 60} minutes: "
        "median and longest, by kind (photo derivatives from the photo's arrival, webhook deliveries "
        "from the change, export files from the request).",
        labels=["kind", "stat"],
    )
    sync = GaugeMetricFamily(
        "fieldvisit_sync_lag_seconds",
        f"From the manager finishing a visit on the phone to the server holding it with every photo, over "
        f"the submissions completed in the last {RECENT_WINDOW.seconds // 60} minutes: median and longest.",
        labels=["stat"],
    )
    finished_on_phone = col(Submission.body)["device_finished_at"].as_string()
    spans: list[tuple[str, Any, Any]] = [
        ("photo_derivatives", col(Photo.received_at), col(Photo.processed_at)),
        ("webhook_deliveries", col(WebhookDelivery.created_at), col(WebhookDelivery.delivered_at)),
        ("export_jobs", col(ExportJob.created_at), col(ExportJob.finished_at)),
    ]
    for kind, asked, done in spans:
        rows = conn.execute(
            select(asked, done).where(done >= since).order_by(done.desc()).limit(RECENT_ROWS)
        ).all()
        _add_spread(jobs, [kind], [_seconds(a, d) for a, d in rows])
    rows = conn.execute(
        select(finished_on_phone, col(Submission.completed_at))
        .where(col(Submission.completed_at) >= since)
        .order_by(col(Submission.completed_at).desc())
        .limit(RECENT_ROWS)
    ).all()
    lags = []
    for on_phone, completed in rows:
        try:
            finished = dt.datetime.fromisoformat(on_phone) if on_phone else None
        except ValueError:
            finished = None
        if finished is not None and finished.tzinfo is not None:
            # A phone whose clock runs ahead would give a negative lag: none is shown as none.
            lags.append(max(0.0, _seconds(finished, completed)))
    _add_spread(sync, [], lags)
    return [jobs, sync]


def _seconds(start: Any, end: Any) -> float:
    """Seconds from `start` to `end` (SQLite gives times back without a zone: they are UTC)."""
    return float((assume_utc(end) - assume_utc(start)).total_seconds())


def _add_spread(family: GaugeMetricFamily, labels: list[str], values: list[float]) -> None:
    """The median and the longest of `values` (both 0 when nothing finished in the window)."""
    ordered = sorted(values)
    family.add_metric([*labels, "median"], statistics.median(ordered) if ordered else 0.0)
    family.add_metric([*labels, "max"], ordered[-1] if ordered else 0.0)


def _age(moment: Any) -> float:
    """Seconds since `moment`; 0 for none."""
    return 0.0 if moment is None else _seconds(moment, utcnow())


class RequestMetrics:
    """ASGI middleware: one observation per HTTP request, labelled by the route's template (never the raw
    path, which would make a series per visit id)."""

    def __init__(self, app: ASGIApp, requests: Histogram, received: Counter) -> None:
        self.app, self.requests, self.received = app, requests, received

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        size = 0

        async def counting_receive() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
            return message

        async def noting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, counting_receive, noting_send)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            labels = (scope["method"], route, str(status))
            self.requests.labels(*labels).observe(time.perf_counter() - start)
            if size:
                self.received.labels(scope["method"], route).inc(size)


def install(app: FastAPI) -> None:
    registry = CollectorRegistry()
    requests = Histogram(
        "fieldvisit_http_request_seconds",
        "HTTP requests by method, route template and status, with their latency.",
        ["method", "route", "status"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    received = Counter(
        "fieldvisit_http_received_bytes",
        "Request body bytes received, by method and route (photo uploads among them).",
        ["method", "route"],
        registry=registry,
    )
    registry.register(BacklogCollector(app.state.engine))
    app.add_middleware(RequestMetrics, requests=requests, received=received)

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        token = app.state.settings.metrics_token
        if not token:
            raise MetricsOff()
        offered = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(offered.encode(), token.encode()):
            raise MetricsForbidden()
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
