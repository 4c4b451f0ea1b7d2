"""The whole inspection in one answer, for consumers: the visit, its submissions, photo links,
discrepancies, follow-up tasks and reviews. Composed here, above the domains it reads."""

from __future__ import annotations

from pydantic import Field
from sqlalchemy.orm import Session
from sqlmodel import col, select

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
from api.sync.schemas import SubmissionRecord
from api.tasks import service as task_service
from api.tasks.models import FollowUpTask
from api.tasks.schemas import TaskPublic
from api.visits import service as visit_service
from api.visits.models import Visit
from api.visits.schemas import VisitDetail


class VisitRecord(VisitDetail):
    submissions: list[SubmissionRecord] = Field(default_factory=list)
    photos: list[PhotoPublic] = Field(default_factory=list)
    discrepancies: list[DiscrepancyPublic] = Field(default_factory=list)
    tasks: list[TaskPublic] = Field(
        default_factory=list, description="Tasks this visit's findings opened or added to."
    )
    reviews: list[ReviewPublic] = Field(default_factory=list)


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
    )
