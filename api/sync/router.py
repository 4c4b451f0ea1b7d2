"""Capture and sync endpoints: submissions, the work package and the change feed."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api import flows
from api.auth.dependencies import CurrentUser, SettingsDep, VisitsReader
from api.auth.models import Role
from api.db import CommitFirstRoute, SessionDep
from api.errors import Forbidden
from api.sync import changes, schemas, service
from api.visits.dependencies import ReadableVisitDep

router = APIRouter(prefix="/api/v1", tags=["sync"], route_class=CommitFirstRoute)
# How often a long poll looks for new changes: a consumer learns of one within about this long.
POLL_SECONDS = 0.4


@router.put(
    "/visits/{visit_id}/submissions/{submission_id}",
    response_model=schemas.SubmissionOut,
    summary="Submit a visit's capture (idempotent on the device's UUID)",
    responses={200: {"description": "A retry of an earlier identical submission: the first result."}},
    status_code=201,
)
def put_submission(
    visit_id: uuid.UUID,
    submission_id: uuid.UUID,
    body: schemas.SubmissionIn,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Stored at once, even before its photos arrive: it stays `incomplete`, listing the photos still
    missing, until every photo of the manifest has arrived with its SHA-256. Sending it again returns
    the first result; the same UUID with a different body answers 409. A submission for a visit that
    was reassigned, cancelled or approved while the phone was offline is stored and flagged `conflict`.
    The answer lists the discrepancies the rules found (photo rules run again as photos arrive)."""
    accepted = flows.accept_submission(
        session, settings=settings, user=user, visit_id=visit_id, submission_id=submission_id, body=body
    )
    answer = service.out(session, accepted.submission, stored=accepted.stored)
    return JSONResponse(answer.model_dump(mode="json"), status_code=201 if accepted.new else 200)


@router.get(
    "/submissions/{submission_id}",
    response_model=schemas.SubmissionRecord,
    summary="A submission and its state",
)
def get_submission(
    submission_id: uuid.UUID, user: VisitsReader, session: SessionDep
) -> schemas.SubmissionRecord:
    return service.record(
        session, service.get_submission_for(session, user=user, submission_id=submission_id)
    )


@router.get(
    "/visits/{visit_id}/submissions",
    response_model=list[schemas.SubmissionRecord],
    summary="A visit's submissions",
)
def visit_submissions(visit: ReadableVisitDep, session: SessionDep) -> list[schemas.SubmissionRecord]:
    return [service.record(session, s) for s in service.submissions_of(session, visit=visit)]


@router.get(
    "/me/work-package",
    response_model=schemas.WorkPackage,
    summary="Everything a manager needs to work offline",
    responses={304: {"description": "Nothing changed since the ETag sent in If-None-Match."}},
)
def work_package(
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The manager's open visits (scheduled, in progress, returned with the reviewer's comment), each with
    its pinned checklist, the subject's declared site and latest declared data, and the previous approved
    visit. Send the ETag back in If-None-Match: 304 when nothing changed."""
    if user.role != Role.manager:
        raise Forbidden("The work package is for managers.", detail_zh="工作包仅供客户经理使用。")
    package = service.work_package(session, settings=settings, user=user)
    etag = service.package_etag(package)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if if_none_match and etag in [tag.strip() for tag in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    return JSONResponse(package.model_dump(mode="json"), headers=headers)


def publish_changes(request: Request) -> None:
    # A dependency listed first, so numbering commits before the request's own snapshot is taken.
    changes.publish(request.app.state.engine)


@router.get(
    "/changes",
    response_model=schemas.ChangePage,
    summary="The change feed (follow by `after`; long-poll with `wait`)",
    responses={410: {"description": "`after` is older than the changes kept: read afresh, then follow."}},
)
async def change_feed(
    _published: Annotated[None, Depends(publish_changes)],
    request: Request,
    user: VisitsReader,
    session: SessionDep,
    settings: SettingsDep,
    after: Annotated[
        int, Query(ge=0, le=2**63 - 1, description="The last position you processed; 0 to start.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    wait: Annotated[
        int,
        Query(
            ge=0,
            le=30,
            description="Seconds to hold the answer while nothing new is in your scope: it returns as soon as "
            "a change commits (within about half a second), or empty when the time is up.",
        ),
    ] = 0,
) -> schemas.ChangePage:
    """Every created or changed visit, submission, photo and task in your scope, in one order given by a
    server-side sequence — never wall-clock time. Positions are only handed out once the change has
    committed, so following `next_after` never skips or repeats a change.

    Tombstones: `cancelled` (a visit), `removed` (the record was reassigned out of your scope; the new owner
    gets `reassigned`), `deleted`. Retention: every change is kept unless the operator sets
    `FIELDVISIT_CHANGE_RETENTION_DAYS`; a position older than what is kept answers 410
    `feed_position_expired` (read the records afresh, then follow from `newest`)."""
    engine = request.app.state.engine
    deadline = time.monotonic() + wait
    rows, next_after = await run_in_threadpool(changes.feed, session, user=user, after=after, limit=limit)
    while not rows and time.monotonic() < deadline:
        # Hold no thread and no snapshot while waiting; number what committed meanwhile, then look again.
        await run_in_threadpool(session.rollback)
        await asyncio.sleep(POLL_SECONDS)
        if await run_in_threadpool(changes.pending, session):
            await run_in_threadpool(session.rollback)
            await run_in_threadpool(changes.publish, engine)
        rows, next_after = await run_in_threadpool(changes.feed, session, user=user, after=after, limit=limit)
    return schemas.ChangePage(
        items=[
            schemas.Change(
                seq=int(row.seq or 0),
                entity_type=row.entity_type,
                entity_id=row.entity_id,
                op=row.op,
                visit_id=row.visit_id,
                recorded_at=row.recorded_at,
            )
            for row in rows
        ],
        next_after=next_after,
    )
