"""Back-office review: the queue and the decision."""

from __future__ import annotations

from fastapi import APIRouter, Query

from api import flows
from api.auth.dependencies import SettingsDep, StaffUser
from api.db import CommitFirstRoute, SessionDep
from api.kit.cursor import Page
from api.review import schemas, service
from api.review.models import VisitReview
from api.visits.dependencies import VisitDep

router = APIRouter(prefix="/api/v1", tags=["review"], route_class=CommitFirstRoute)


@router.get(
    "/review/queue", response_model=Page[schemas.QueueItem], summary="Submitted visits awaiting review"
)
def review_queue(
    user: StaffUser,
    session: SessionDep,
    settings: SettingsDep,
    cursor: str | None = Query(None, max_length=500),
    limit: int = Query(50, ge=1, le=500),
) -> Page[schemas.QueueItem]:
    """The reviewer's branch (an admin's: the bank), oldest submission first, with discrepancy counts by
    severity and conflict flags."""
    items, next_cursor = service.queue(session, user=user, settings=settings, cursor=cursor, limit=limit)
    return Page(items=items, next_cursor=next_cursor)


@router.post(
    "/visits/{visit_id}/review", response_model=schemas.ReviewPublic, summary="Approve or return a visit"
)
def review_visit(
    visit: VisitDep, body: schemas.ReviewIn, user: StaffUser, session: SessionDep, settings: SettingsDep
) -> VisitReview:
    """`approve` needs a complete submission; `return` needs a comment, which the manager sees in the work
    package, and may mark the items to change (`items`), which the field app marks on the returned visit. Nobody approves a visit they captured. Approving resolves the subject's open follow-up tasks
    whose rule this visit passed."""
    return flows.review(
        session, settings=settings, user=user, visit=visit, decision=body.decision, comment=body.comment,
        items=body.items,
    )  # fmt: skip
