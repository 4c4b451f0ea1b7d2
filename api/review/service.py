"""The review queue and the rules of a decision (four-eyes, a comment to return, only complete captures)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func
from sqlalchemy.orm import Session
from sqlmodel import col, select

from api.auth.models import User
from api.checklists import service as checklist_service
from api.config import Settings
from api.db import utcnow
from api.errors import AppError, Forbidden, InvalidTransition
from api.kit.clock import today_in
from api.kit.pagination import datetime_key, paginate, uuid_key
from api.portfolio.models import Borrower
from api.review.models import Decision, VisitReview
from api.review.schemas import QueueItem
from api.rules.models import Discrepancy
from api.sync.models import Submission, SubmissionState
from api.visits import service as visit_service
from api.visits.models import Visit, VisitStatus


class FourEyes(Forbidden):
    code = "four_eyes"
    title_zh = "不能审批自己采集的检查"
    title_en = "Nobody approves a visit they captured"


class ReturnNeedsComment(AppError):
    status = 422
    code = "return_needs_comment"
    title_zh = "退回须填写意见"
    title_en = "Returning a visit needs a comment"


class ReviewItemsInvalid(AppError):
    status = 422
    code = "review_items_invalid"
    title_zh = "标出的检查项不属于本检查清单，或审批通过时不应标出检查项"
    title_en = "The marked items are not items of this checklist, or were sent with an approval"


class SubmissionIncomplete(AppError):
    status = 409
    code = "submission_incomplete"
    title_zh = "提交的照片尚未全部到达，不能审批通过"
    title_en = "The submission's photos have not all arrived; it cannot be approved"


def latest_submission(session: Session, *, visit_id: uuid.UUID) -> Submission | None:
    return session.scalar(
        select(Submission)
        .where(Submission.visit_id == visit_id)
        .order_by(col(Submission.received_at).desc(), col(Submission.id))
        .limit(1)
    )


def check_decision(
    session: Session,
    *,
    user: User,
    visit: Visit,
    decision: Decision,
    comment: str,
    items: Sequence[str] = (),
) -> Submission:
    """Refuse what may not be decided; returns the submission the decision is about."""
    if visit.status != VisitStatus.submitted:
        raise InvalidTransition(
            f"Only a submitted visit is reviewed; this one is {visit.status.value}.",
            detail_zh="只有已提交的检查可以审核。",
            extra={"current_status": visit.status.value},
        )
    submission = latest_submission(session, visit_id=visit.id)
    if submission is None:
        raise InvalidTransition("The visit has no submission.", detail_zh="该检查没有提交记录。")
    captured_by = set(
        session.scalars(select(Submission.submitted_by_id).where(Submission.visit_id == visit.id))
    )
    if user.id in captured_by:
        raise FourEyes()
    if decision == Decision.return_ and not comment.strip():
        raise ReturnNeedsComment()
    if items:
        _check_items(session, visit=visit, decision=decision, items=items)
    if decision == Decision.approve and submission.state != SubmissionState.complete:
        raise SubmissionIncomplete(extra={"submission_id": str(submission.id)})
    return submission


def _check_items(session: Session, *, visit: Visit, decision: Decision, items: Sequence[str]) -> None:
    if decision == Decision.approve:
        raise ReviewItemsInvalid(
            "Items are marked only when a visit is returned.", detail_zh="只有退回时才标出需修改的检查项。"
        )
    definition = checklist_service.pinned_definition(session, version_id=visit.template_version_id)
    unknown = sorted(key for key in set(items) if definition.item_for(key) is None)
    if unknown:
        raise ReviewItemsInvalid(
            f"Not items of this checklist: {', '.join(unknown)}.",
            detail_zh=f"以下不是本检查清单的检查项：{', '.join(unknown)}。",
            extra={"items": unknown},
        )


def record_decision(
    session: Session,
    *,
    user: User,
    visit: Visit,
    submission: Submission,
    decision: Decision,
    comment: str,
    items: Sequence[str] = (),
) -> VisitReview:
    visit_service.transition(
        visit, VisitStatus.approved if decision == Decision.approve else VisitStatus.returned
    )

    visit.decided_at = utcnow()
    review = VisitReview(
        visit_id=visit.id,
        submission_id=submission.id,
        reviewer_id=user.id,
        decision=decision,
        comment=comment.strip(),
        items=list(dict.fromkeys(items)),
    )
    session.add(review)
    session.flush()
    return review


def reviews_of(session: Session, *, visit_id: uuid.UUID) -> list[VisitReview]:
    return list(
        session.scalars(
            select(VisitReview)
            .where(col(VisitReview.visit_id) == visit_id)
            .order_by(col(VisitReview.decided_at))
        )
    )


def return_comment(session: Session, *, visit: Visit) -> str | None:
    review = last_return(session, visit=visit)
    return review.comment if review else None


def last_return(session: Session, *, visit: Visit) -> VisitReview | None:
    """The reviewer's decision that returned the visit, while it is returned."""
    if visit.status != VisitStatus.returned:
        return None
    return session.scalar(
        select(VisitReview)
        .where(VisitReview.visit_id == visit.id, VisitReview.decision == Decision.return_)
        .order_by(col(VisitReview.decided_at).desc())
        .limit(1)
    )


def queue(
    session: Session, *, user: User, settings: Settings, cursor: str | None, limit: int
) -> tuple[list[QueueItem], str | None]:
    """Submitted visits in the reviewer's scope, oldest submission first."""
    query = visit_service.scope_visits(select(Visit), user).where(col(Visit.status) == VisitStatus.submitted)
    visits, next_cursor = paginate(
        session,
        query,
        kind="review",
        keys=[datetime_key(col(Visit.submitted_at)), uuid_key(col(Visit.id))],
        cursor=cursor,
        limit=limit,
    )
    today = today_in(settings.timezone)
    items = []
    for visit in visits:
        submission = latest_submission(session, visit_id=visit.id)
        counts: dict[str, int] = dict(
            session.execute(
                select(Discrepancy.severity, func.count())
                .where(Discrepancy.visit_id == visit.id)
                .group_by(Discrepancy.severity)
            ).all()
        )
        conflict_reasons = sorted(
            {
                reason
                for s in session.scalars(select(Submission).where(Submission.visit_id == visit.id))
                for reason in s.conflict_reasons
            }
        )
        borrower = session.get(Borrower, visit.borrower_id)
        items.append(
            QueueItem(
                visit=visit_service.summary(visit, borrower.name if borrower else "", today),
                submission_id=submission.id if submission else None,
                submission_state=submission.state.value if submission else None,
                submitted_at=visit.submitted_at,
                discrepancies={
                    severity: int(counts.get(severity, 0)) for severity in ("critical", "major", "minor")
                },
                conflict=bool(conflict_reasons),
                conflict_reasons=conflict_reasons,
            )
        )
    return items, next_cursor
