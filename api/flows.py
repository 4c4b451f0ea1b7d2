"""Chains across domains: a submission → rules → discrepancies → tasks; a photo ready → its rules again;
a review → the visit's state, tasks resolved by a passing visit; the overdue tick.

Every function flushes, none commits: the request (or job) that calls it owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, exists
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col, select

from api.auth.models import User
from api.checklists import service as checklist_service
from api.checklists.schemas import Severity
from api.config import Settings
from api.kit.clock import today_in
from api.kit.races import take_turns
from api.monitoring import service as monitoring
from api.photos.models import PHOTO_TURNS, Photo
from api.review import service as review_service
from api.review.models import Decision, VisitReview
from api.rules import engine
from api.rules import service as rules_service
from api.rules.models import Discrepancy
from api.sync import schemas as sync_schemas
from api.sync import service as sync_service
from api.sync.models import ManifestPhoto, Submission
from api.tasks import service as task_service
from api.visits.models import AWAITING_MANAGER, Visit


def evaluate_submission(
    session: Session,
    *,
    settings: Settings,
    visit: Visit,
    submission: Submission,
    only_photo: uuid.UUID | None = None,
    photos: Sequence[Photo] = (),
) -> tuple[engine.Evaluation, list[Discrepancy]]:
    """Run the rules on the submission (or on one of its photos, just arrived); keep new findings and
    open or extend their tasks. Returns the evaluation and the discrepancies it added. `photos`: those of
    its manifest just read (not read again)."""
    definition = checklist_service.pinned_definition(session, version_id=submission.template_version_id)
    evaluation = engine.evaluate(
        session,
        settings=settings,
        visit=visit,
        submission=submission,
        definition=definition,
        only_photo=only_photo,
        photos=photos,
    )
    added = []
    for finding in evaluation.findings:
        kept = rules_service.keep(session, visit=visit, submission_id=submission.id, finding=finding)
        if kept is not None:
            task = task_service.open_or_add(session, settings=settings, finding=kept, visit=visit)
            kept.task_id = task.id
            added.append(kept)
    session.flush()
    return evaluation, added


@dataclass(frozen=True)
class Accepted:
    submission: Submission
    # Its manifest and the findings kept, when this request stored it; None for a retry.
    stored: tuple[list[ManifestPhoto], list[Discrepancy]] | None

    @property
    def new(self) -> bool:
        return self.stored is not None


def accept_submission(
    session: Session,
    *,
    settings: Settings,
    user: User,
    visit_id: uuid.UUID,
    submission_id: uuid.UUID,
    body: sync_schemas.SubmissionIn,
) -> Accepted:
    """Store the submission (idempotently) and, the first time, run the rules."""
    try:
        submission, stored = sync_service.submit(
            session, settings=settings, user=user, visit_id=visit_id, submission_id=submission_id, body=body
        )
    except IntegrityError:
        # Stored meanwhile by another request: this transaction had written nothing else.
        session.rollback()
        submission = sync_service.stored_meanwhile(
            session, visit_id=visit_id, submission_id=submission_id, body=body
        )
        return Accepted(submission, None)
    if stored is None:
        return Accepted(submission, None)
    visit = session.get(Visit, visit_id)
    assert visit is not None
    _evaluation, added = evaluate_submission(
        session, settings=settings, visit=visit, submission=submission, photos=stored.photos
    )
    return Accepted(submission, (stored.manifest, added))


# Each listing of some photos with its submission and visit, in one statement (not one lookup each); built
# once, as it runs for every round of derivatives.
_LISTINGS = (
    select(col(ManifestPhoto.photo_id), Submission, Visit)
    .join(Submission, col(Submission.id) == col(ManifestPhoto.submission_id))
    .join(Visit, col(Visit.id) == col(Submission.visit_id))
    .where(col(ManifestPhoto.photo_id).in_(bindparam("ids", expanding=True)))
    .order_by(col(ManifestPhoto.submission_id), col(ManifestPhoto.photo_id))
)


def photos_ready(session: Session, *, settings: Settings, photos: list[Photo]) -> None:
    """Photos' derivatives exist (or failed): judge each in every submission that lists it."""
    # A submission being stored meanwhile either commits first (and is found here) or waits for this
    # transaction, and then reads the photos with their derivatives (and judges them itself).
    ids = [photo.id for photo in photos]
    take_turns(session, namespace=PHOTO_TURNS, ids=ids)
    listed = session.execute(_LISTINGS, {"ids": ids}).all()
    for photo_id, submission, visit in listed:
        evaluate_submission(
            session, settings=settings, visit=visit, submission=submission, only_photo=photo_id, photos=photos
        )


def review(
    session: Session,
    *,
    settings: Settings,
    user: User,
    visit: Visit,
    decision: Decision,
    comment: str,
    items: Sequence[str] = (),
) -> VisitReview:
    """Approve or return. An approval resolves the subject's open tasks whose rule this visit passed."""
    submission = review_service.check_decision(
        session, user=user, visit=visit, decision=decision, comment=comment, items=items
    )
    decided = review_service.record_decision(
        session,
        user=user,
        visit=visit,
        submission=submission,
        decision=decision,
        comment=comment,
        items=items,
    )
    if decision == Decision.approve:
        evaluation, _added = evaluate_submission(
            session, settings=settings, visit=visit, submission=submission
        )
        failed = {(f.rule_key, f.item_key) for f in evaluation.findings}
        passed = {pair for pair in evaluation.passed if pair not in failed}
        passed.add(("visit_overdue", ""))  # the visit happened
        task_service.resolve_passed(session, visit=visit, passed=passed)
        # What was found on site counts for the borrower's early-warning indicators (repeated findings).
        monitoring.evaluate(session, settings=settings, borrower_ids=[visit.borrower_id])
    return decided


def tick_overdue(session: Session, *, settings: Settings, today: dt.date | None = None) -> int:
    """Open a `visit_overdue` finding and task for every visit past its due date with no submission.
    Idempotent: a visit holds that finding once, and the task is one per subject."""
    today = today or today_in(settings.timezone)
    overdue = session.scalars(
        select(Visit).where(
            col(Visit.status).in_(AWAITING_MANAGER),
            Visit.due_on < today,
            ~exists().where(col(Submission.visit_id) == col(Visit.id)),
            ~exists().where(
                col(Discrepancy.visit_id) == col(Visit.id), col(Discrepancy.rule_key) == "visit_overdue"
            ),
        )
    )
    opened = 0
    for visit in list(overdue):
        days = (today - visit.due_on).days
        finding = engine.Finding(
            "visit_overdue",
            "",
            Severity.major,
            {"due_on": visit.due_on.isoformat()},
            {"days_overdue": days},
            f"现场检查已逾期 {days} 天（应于 {visit.due_on.isoformat()} 前完成）",
            f"visit overdue by {days} days (due {visit.due_on.isoformat()})",
        )
        kept = rules_service.keep(session, visit=visit, submission_id=None, finding=finding)
        if kept is not None:
            kept.task_id = task_service.open_or_add(session, settings=settings, finding=kept, visit=visit).id
            opened += 1
    session.flush()
    return opened
