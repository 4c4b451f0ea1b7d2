"""`/metrics` in Prometheus's text format (prometheus-client): requests and their latency by route, bytes
received, and — read from the database at each scrape — the background work waiting (photos without
derivatives, change-feed rows not numbered yet, audit events not sealed yet, webhook events not fanned out
and deliveries not delivered, export jobs not done), the oldest unprocessed photo, the oldest webhook delivery
still pending, and the connection pool in use.

Each `fieldvisit serve` process has its own counters (a registry per app, so tests can build many apps);
with `--workers N` scrape each node, or put the processes behind one address and read the database-backed
figures, which are the same from any of them. `/metrics` answers only `Authorization: Bearer
$FIELDVISIT_METRICS_TOKEN` (Prometheus's `authorization` setting), and is off (404) while no token is set:
not "the loopback is trusted", since behind a reverse proxy on the same host every request is local.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import col
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.audit.models import AuditEvent
from api.db import utcnow
from api.errors import Forbidden, NotFound
from api.exports.models import ExportJob, ExportState
from api.integrations.models import DeliveryState, WebhookDelivery, WebhookEvent
from api.kit.dates import assume_utc
from api.photos.models import Photo, PhotoState
from api.sync.models import ChangeLog

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


def _age(moment: Any) -> float:
    """Seconds since `moment` (SQLite gives times back without a zone: they are UTC); 0 for none."""
    if moment is None:
        return 0.0
    return float((utcnow() - assume_utc(moment)).total_seconds())


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
