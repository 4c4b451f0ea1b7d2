"""Periodic work, run by `fieldvisit tick` (cron-friendly) and by the loop inside `serve`.

Every step is idempotent: running it twice, or in two processes at once, does the work once.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from sqlmodel import col

from api.audit import service as audit
from api.config import Settings
from api.exports import jobs as export_jobs
from api.integrations import webhooks
from api.photos import jobs as photo_jobs
from api.sync import changes

logger = logging.getLogger("fieldvisit.ticks")


@dataclass(frozen=True)
class TickReport:
    photos_processed: int
    overdue_opened: int
    changes_numbered: int
    audit_sealed: int
    files_swept: int = 0
    webhooks_sent: int = 0
    exports_made: int = 0
    signals_opened: int = 0

    def __str__(self) -> str:
        return (
            f"photos processed {self.photos_processed}; overdue visits flagged {self.overdue_opened}; "
            f"changes numbered {self.changes_numbered}; audit events sealed {self.audit_sealed}; "
            f"orphan files swept {self.files_swept}; webhook deliveries attempted {self.webhooks_sent}; "
            f"export files made {self.exports_made}; early-warning signals opened {self.signals_opened}"
        )


def tick(make_session: sessionmaker[Session], settings: Settings) -> TickReport:
    from api import flows

    with make_session() as session:
        overdue = flows.tick_overdue(session, settings=settings)
        session.commit()
    engine = make_session.kw["bind"]
    numbered = changes.publish(engine)
    if settings.change_retention_days:
        changes.prune(engine, keep=dt.timedelta(days=settings.change_retention_days))
    sealed = audit.seal(engine, settings=settings)
    swept = _sweep_now_and_then(make_session, settings)
    processed, sent, exported = quick_round(make_session, settings, photos=500)
    export_jobs.expire(make_session, settings)
    opened = evaluate_daily(make_session, settings)
    return TickReport(
        photos_processed=processed,
        overdue_opened=overdue,
        changes_numbered=numbered,
        audit_sealed=sealed,
        files_swept=swept,
        webhooks_sent=sent,
        exports_made=exported,
        signals_opened=opened,
    )


_evaluated_on: dict[str, dt.date] = {}
# Held by the process evaluating the whole bank, so that several workers at the day's first tick do not all do it.
DAILY_EVALUATION_LOCK_KEY = 0x46564556  # "FVEV"


def evaluate_daily(make_session: sessionmaker[Session], settings: Settings) -> int:
    """Every borrower's early-warning indicators, once per bank day in this process (the loop in `serve` ticks
    every few minutes; `fieldvisit tick` from cron runs it each time). Returns the signals opened. On
    PostgreSQL, a process that finds another one evaluating leaves today's evaluation to it."""
    from api.kit.clock import today_in
    from api.monitoring import service as monitoring

    today = today_in(settings.timezone)
    if _evaluated_on.get(settings.database_url) == today:
        return 0
    with make_session() as session:
        if session.get_bind().dialect.name == "postgresql" and not session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": DAILY_EVALUATION_LOCK_KEY}
        ):
            _evaluated_on[settings.database_url] = today
            return 0
        report = monitoring.evaluate(session, settings=settings)
        session.commit()
    _evaluated_on[settings.database_url] = today
    return report.opened


def quick_round(
    make_session: sessionmaker[Session], settings: Settings, *, photos: int = 100
) -> tuple[int, int, int]:
    """What must not wait for the next tick: photos still without derivatives (one whose process died while
    making them is taken up here, within seconds on PostgreSQL: see photos/jobs.py), webhook deliveries and
    export jobs; run every few seconds inside `serve` (FIELDVISIT_JOB_POLL_SECONDS). Returns (photos
    processed, delivery attempts, export files made)."""
    _made, sent = webhooks.run(make_session, settings)
    exported = export_jobs.run_pending(make_session, settings)
    return photo_jobs.process_pending(make_session, settings, limit=photos), sent, exported


# The sweep lists every stored file (a folder walk, or LIST requests over the whole bucket: ~3,000 per million
# photos) to find the few a crash left: inside a long-running process, once an hour is enough — nothing is
# swept before it is an hour old anyway. `fieldvisit tick` (cron) sweeps each time it runs.
SWEEP_EVERY_SECONDS = 3600.0
_swept_at: dict[tuple[str, str, str], float] = {}


def _sweep_now_and_then(make_session: sessionmaker[Session], settings: Settings) -> int:
    where = (settings.database_url, str(settings.photo_dir), settings.s3_bucket + settings.s3_prefix)
    now = time.monotonic()
    last = _swept_at.get(where)
    if last is not None and now - last < SWEEP_EVERY_SECONDS:
        return 0
    _swept_at[where] = now
    return sweep_photo_store(make_session, settings)


def sweep_photo_store(make_session: sessionmaker[Session], settings: Settings) -> int:
    """Forget finished uploads after a day, and remove files that no committed row owns (left by a crash
    or a failed transaction) once they are older than the store's grace period."""
    from sqlalchemy import select

    from api.photos import service as photo_service
    from api.photos.models import Photo, Upload

    with make_session() as session:
        photo_service.expired_uploads_forgotten(session)
        session.commit()
        live = {
            row.hex
            for row in session.scalars(select(col(Upload.id)).where(col(Upload.finished_photo_id).is_(None)))
        }

        def owned(digests: object) -> set[str]:
            wanted = list(digests)  # type: ignore[call-overload]
            return set(session.scalars(select(col(Photo.sha256)).where(col(Photo.sha256).in_(wanted))))

        return photo_service.photo_store(settings).sweep(owned=owned, live_uploads=live)
