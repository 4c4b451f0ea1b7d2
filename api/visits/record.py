"""The whole inspection in one answer, for consumers: the visit, its submissions, photo links,
discrepancies, follow-up tasks and reviews. Composed here, above the domains it reads."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from sqlmodel import col, select

from api.auth.models import User
from api.checklists.conditions import answer_number
from api.checklists.models import TemplateVersion
from api.checklists.schemas import Definition, ItemType
from api.config import Settings
from api.kit.clock import today_in
from api.photos import service as photo_service
from api.photos.models import Photo
from api.photos.schemas import PhotoPublic
from api.review import service as review_service
from api.review.schemas import ReviewPublic
from api.rules import service as rules_service
from api.rules.schemas import DiscrepancyPublic
from api.sync import service as sync_service
from api.sync.models import Submission
from api.sync.schemas import Answer, SubmissionIn, SubmissionRecord
from api.tasks import service as task_service
from api.tasks.models import FollowUpTask
from api.tasks.schemas import TaskPublic
from api.visits import service as visit_service
from api.visits.models import Visit, VisitStatus
from api.visits.schemas import VisitDetail


class TrendPoint(BaseModel):
    visit_id: uuid.UUID
    approved_at: dt.datetime | None
    value: float


class PreviousInspection(BaseModel):
    """The subject's last approved inspection before this one: what the reviewer compares with."""

    visit_id: uuid.UUID
    approved_at: dt.datetime | None
    manager_name: str
    answers: dict[str, Answer] = Field(description="The approved submission's answers, by item key.")
    photos: list[PhotoPublic] = Field(description="The photos of that submission.")
    trend: dict[str, list[TrendPoint]] = Field(
        default_factory=dict,
        description="Each number item's answers over the subject's last six approved inspections, oldest first.",
    )


class VisitRecord(VisitDetail):
    submissions: list[SubmissionRecord] = Field(default_factory=list)
    photos: list[PhotoPublic] = Field(default_factory=list)
    discrepancies: list[DiscrepancyPublic] = Field(default_factory=list)
    tasks: list[TaskPublic] = Field(
        default_factory=list, description="Tasks this visit's findings opened or added to."
    )
    reviews: list[ReviewPublic] = Field(default_factory=list)
    previous: PreviousInspection | None = Field(
        None, description="Before and after: the same subject's last approved inspection before this one."
    )


TREND_VISITS = 6


def _trend(
    approved: list[tuple[Visit, Submission | None]], number_items: set[str]
) -> dict[str, list[TrendPoint]]:
    """The number answers of these approved visits and their submissions (newest first as given), oldest
    first per item."""
    trend: dict[str, list[TrendPoint]] = {}
    for earlier, submission in reversed(approved):
        if submission is None:
            continue
        for key, answer in (submission.body.get("answers") or {}).items():
            value = answer_number((answer or {}).get("value"))
            if key in number_items and value is not None:
                trend.setdefault(key, []).append(
                    TrendPoint(visit_id=earlier.id, approved_at=earlier.decided_at, value=value)
                )
    return trend


def previous_inspection(session: Session, *, visit: Visit) -> PreviousInspection | None:
    query = select(Visit).where(
        col(Visit.subject_id) == visit.subject_id,
        col(Visit.status) == VisitStatus.approved,
        col(Visit.id) != visit.id,
    )
    if visit.submitted_at is not None:
        query = query.where(col(Visit.decided_at) < visit.submitted_at)
    approved = [
        (earlier, review_service.latest_submission(session, visit_id=earlier.id))
        for earlier in session.scalars(query.order_by(col(Visit.decided_at).desc()).limit(TREND_VISITS))
    ]
    if not approved:
        return None
    earlier, submission = approved[0]
    if submission is None:
        return None
    body = SubmissionIn.model_validate(submission.body)
    listed = [entry.id for entry in body.photos]
    photos: list[Photo] = (
        list(session.scalars(select(Photo).where(col(Photo.id).in_(listed)).order_by(col(Photo.received_at))))
        if listed
        else []
    )
    manager = session.get(User, earlier.manager_id)
    version = session.get(TemplateVersion, visit.template_version_id)
    numbers = (
        {
            item.key
            for item in Definition.model_validate(version.definition).items()
            if item.type in (ItemType.number, ItemType.integer)
        }
        if version is not None
        else set()
    )
    return PreviousInspection(
        visit_id=earlier.id,
        approved_at=earlier.decided_at,
        manager_name=manager.display_name if manager else "",
        answers=body.answers,
        photos=[photo_service.public(p) for p in photos],
        trend=_trend(approved, numbers),
    )


def build(session: Session, *, visit: Visit, settings: Settings) -> VisitRecord:
    detail = visit_service.detail(session, visit=visit, settings=settings)
    findings = rules_service.of_visit(session, visit_id=visit.id)
    task_ids = {f.task_id for f in findings if f.task_id}
    tasks = (
        list(session.scalars(select(FollowUpTask).where(col(FollowUpTask.id).in_(task_ids))))
        if task_ids
        else []
    )
    photos = session.scalars(
        select(Photo).where(col(Photo.visit_id) == visit.id).order_by(col(Photo.received_at))
    )
    today = today_in(settings.timezone)
    return VisitRecord(
        **detail.model_dump(),
        submissions=[
            sync_service.record(session, s) for s in sync_service.submissions_of(session, visit=visit)
        ],
        photos=[photo_service.public(p) for p in photos],
        discrepancies=[DiscrepancyPublic.model_validate(f) for f in findings],
        tasks=[task_service.public(session, t, today) for t in tasks],
        reviews=[
            ReviewPublic.model_validate(r) for r in review_service.reviews_of(session, visit_id=visit.id)
        ],
        previous=previous_inspection(session, visit=visit),
    )
