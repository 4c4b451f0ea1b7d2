"""Export jobs: an export made in the background into a file, downloaded through a signed link that expires.

For exports too large to wait for on one request (hundreds of thousands of rows, or a client with a short
timeout). The job runs the very same encoder as the streamed download (formats.encode), as the user who
asked, with their scope as it is when the job runs. It is picked up by `fieldvisit tick` and by the loop in
`serve` (FIELDVISIT_JOB_POLL_SECONDS), claimed with a conditional UPDATE so two processes never make one
file twice. On PostgreSQL the claim is also held for as long as its process lives (kit.races.held_while_alive):
a job whose process was killed is taken over by the next poll, within seconds. On SQLite (one process) a
claim older than CLAIM_LAPSES is taken over.

The link: `…/exports/jobs/{id}/file?expires=<unix>&signature=<HMAC-SHA256>` — no token needed, so it can be
handed to a downloader; it works until `expires` (FIELDVISIT_EXPORT_LINK_HOURS), after which `tick` removes
the file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import uuid
from typing import Any, cast

from sqlalchemy import or_, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from api.auth.models import User
from api.config import Settings
from api.db import READ_ONLY_OPTION, make_sessionmaker, utcnow
from api.errors import NotFound, Unauthorized
from api.exports import formats
from api.exports.models import ExportJob, ExportState
from api.exports.schemas import VisitFilterIn
from api.kit.faults import crash_point
from api.kit.races import held_while_alive
from api.object_store import object_store, scratch_folder

logger = logging.getLogger("fieldvisit.exports")
CLAIM_LAPSES = dt.timedelta(minutes=30)  # SQLite only
# The advisory-lock namespace of an export job's claim (kit.races.held_while_alive).
EXPORT_TURNS = 0x46564558  # "FVEX"


def key_of(job: ExportJob) -> str:
    """The job's file in the store (the state folder, or the bucket: any node serves what a worker made)."""
    return f"exports/{job.id}.{job.format}"


def create(session: Session, *, user: User, format: str, filters: dict[str, Any]) -> ExportJob:
    job = ExportJob(requested_by_id=user.id, format=format, filters=filters)
    session.add(job)
    session.flush()
    return job


def get_for(session: Session, *, user: User, job_id: uuid.UUID) -> ExportJob:
    """The asker's own job (an admin sees every one); anyone else's answers 404."""
    job = session.get(ExportJob, job_id)
    if job is None or (job.requested_by_id != user.id and user.role != "admin"):
        raise NotFound("No such export job.", detail_zh="导出任务不存在。")
    return job


def _signature(settings: Settings, job_id: uuid.UUID, expires: int) -> str:
    message = f"export:{job_id}:{expires}".encode()
    return hmac.new(settings.signing_key.encode(), message, hashlib.sha256).hexdigest()


def download_query(settings: Settings, job: ExportJob) -> dict[str, str]:
    assert job.expires_at is not None
    expires = int(job.expires_at.timestamp())
    return {"expires": str(expires), "signature": _signature(settings, job.id, expires)}


def check_link(
    settings: Settings, session: Session, *, job_id: uuid.UUID, expires: int, signature: str
) -> ExportJob:
    """A signed link, within its time, to a job whose file is still there."""
    if not hmac.compare_digest(_signature(settings, job_id, expires), signature):
        raise Unauthorized("This download link is not valid.", detail_zh="下载链接无效。")
    if utcnow().timestamp() >= expires:
        raise LinkExpired()
    job = session.get(ExportJob, job_id)
    if (
        job is None
        or job.state != ExportState.done
        or not object_store(settings, area="state").exists(key_of(job))
    ):
        raise LinkExpired()
    return job


class LinkExpired(NotFound):
    status = 410
    code = "export_link_expired"
    title_zh = "下载链接已过期，请重新导出"
    title_en = "The download link has expired; export again"


def _claimable(now: dt.datetime, *, alive_checked: bool) -> ColumnElement[bool]:
    """Waiting, or running under a claim that nobody alive holds: on PostgreSQL any running job (the
    advisory lock tells whether its process lives), on SQLite one whose claim has lapsed."""
    running = col(ExportJob.state) == ExportState.running
    return or_(
        col(ExportJob.state) == ExportState.pending,
        running if alive_checked else running & (col(ExportJob.claimed_at) < now - CLAIM_LAPSES),
    )


def run_pending(make_session: sessionmaker[Session], settings: Settings, *, limit: int = 5) -> int:
    """Make the files of waiting jobs, oldest first; returns how many were made (or failed)."""
    engine = make_session.kw["bind"]
    alive_checked = engine.dialect.name == "postgresql"
    done = 0
    busy: list[uuid.UUID] = []  # held by live processes: not this round's
    for _ in range(limit):
        with make_session() as session:
            waiting = session.scalar(
                select(col(ExportJob.id))
                .where(_claimable(utcnow(), alive_checked=alive_checked), col(ExportJob.id).not_in(busy))
                .order_by(col(ExportJob.created_at))
                .limit(1)
            )
        if waiting is None:
            return done
        with held_while_alive(engine, namespace=EXPORT_TURNS, key=waiting) as ours:
            if not ours:
                busy.append(waiting)
                continue
            with make_session() as session:
                # The same condition again, in the UPDATE: of two processes that picked this job, one claims
                # it (on PostgreSQL the lock already decided; a job finished meanwhile is no longer claimable).
                claimed = session.execute(
                    update(ExportJob)
                    .where(col(ExportJob.id) == waiting, _claimable(utcnow(), alive_checked=alive_checked))
                    .values(state=ExportState.running, claimed_at=utcnow())
                )
                session.commit()
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                continue
            _make(make_session, settings, waiting)
            done += 1
    return done


def _make(make_session: sessionmaker[Session], settings: Settings, job_id: uuid.UUID) -> None:
    # The file is read on read-only sessions (on SQLite a writing one would hold the one write lock for
    # the whole export); the job's row is written before and after, in short transactions.
    engine = make_session.kw["bind"]
    read_only = make_sessionmaker(engine.execution_options(**{READ_ONLY_OPTION: True}), settings=settings)
    with make_session() as session:
        job = session.get_one(ExportJob, job_id)
        key, format, filters = key_of(job), job.format, job.filters
        user_id = job.requested_by_id
    scratch = scratch_folder(settings)
    scratch.mkdir(parents=True, exist_ok=True)
    partial = scratch / f"export-{uuid.uuid4().hex}.part"
    try:
        with read_only() as reader:
            user = reader.get_one(User, user_id)
            if not user.is_active:
                raise PermissionError("the user who asked is no longer active")
            encoded = formats.encode(
                cast(formats.Format, format),
                session=reader,
                make_session=read_only,
                user=user,
                where=VisitFilterIn.model_validate(filters).visit_filter(),
                settings=settings,
                base_url=settings.public_url.rstrip("/"),
            )
            digest, size = hashlib.sha256(), 0
            with open(partial, "wb") as out:
                for chunk in encoded.body:
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
        object_store(settings, area="state").put_file(key, partial)
        crash_point("export_file_before_done")
    except Exception as exc:  # a failed job says why and never blocks the next
        logger.exception("export job %s failed", job_id)
        with make_session() as session:
            job = session.get_one(ExportJob, job_id)
            job.state, job.finished_at = ExportState.failed, utcnow()
            job.error = f"{type(exc).__name__}: {exc}"[:500]
            session.commit()
        return
    finally:
        partial.unlink(missing_ok=True)
    with make_session() as session:
        job = session.get_one(ExportJob, job_id)
        job.state, job.finished_at = ExportState.done, utcnow()
        job.size, job.sha256 = size, digest.hexdigest()
        job.expires_at = job.finished_at + dt.timedelta(hours=settings.export_link_hours)
        session.commit()


def expire(make_session: sessionmaker[Session], settings: Settings) -> int:
    """Remove the files whose links have expired; the rows stay, marked expired."""
    with make_session() as session:
        jobs = list(
            session.scalars(
                select(ExportJob).where(
                    col(ExportJob.state) == ExportState.done, col(ExportJob.expires_at) < utcnow()
                )
            )
        )
        object_store(settings, area="state").delete([key_of(job) for job in jobs])
        for job in jobs:
            job.state = ExportState.expired
        session.commit()
    return len(jobs)
