"""Visits: scoped reads, manual issue, reassignment, the state machine and risk-grade scheduling."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col, select

from api.auth.models import BRANCH_READERS, Role, User
from api.checklists import service as checklist_service
from api.checklists.models import TemplateVersion, VersionStatus
from api.config import Settings
from api.db import utcnow
from api.errors import Forbidden, InvalidTransition, NotFound
from api.integrations import accounts
from api.kit.clock import today_in
from api.kit.pagination import date_key, paginate, uuid_key
from api.portfolio import schemas as portfolio_schemas
from api.portfolio import service as portfolio_service
from api.portfolio.models import Borrower, Collateral, Facility, Project, SubjectType
from api.visits import schemas
from api.visits.exceptions import NoPublishedTemplate, NotAManagerOfBranch, UnknownSubject
from api.visits.models import (
    AWAITING_MANAGER,
    OPEN_STATUSES,
    Visit,
    VisitAssignment,
    VisitOrigin,
    VisitStatus,
)

ALLOWED: dict[VisitStatus, frozenset[VisitStatus]] = {
    VisitStatus.scheduled: frozenset({VisitStatus.in_progress, VisitStatus.submitted, VisitStatus.cancelled}),
    VisitStatus.in_progress: frozenset({VisitStatus.submitted, VisitStatus.cancelled}),
    VisitStatus.submitted: frozenset({VisitStatus.approved, VisitStatus.returned, VisitStatus.cancelled}),
    VisitStatus.returned: frozenset({VisitStatus.submitted, VisitStatus.cancelled}),
    VisitStatus.approved: frozenset(),
    VisitStatus.cancelled: frozenset(),
}


def transition(visit: Visit, to: VisitStatus) -> None:
    if to not in ALLOWED[visit.status]:
        raise InvalidTransition(
            f"A visit that is {visit.status.value} cannot become {to.value}.",
            detail_zh=f"检查状态为 {visit.status.value}，不能变为 {to.value}。",
            extra={"current_status": visit.status.value, "requested_status": to.value},
        )
    visit.status = to
    visit.updated_at = utcnow()


# ---- scope: the one place that decides which visits a user sees ----


def scope_visits(query: Select[Any], user: User) -> Select[Any]:
    if user.role == Role.admin:
        return query
    if user.role == Role.service:
        branches = accounts.branch_scope(user)
        return query if branches is None else query.where(col(Visit.branch_id).in_(branches))
    if user.role in BRANCH_READERS:
        return query.where(col(Visit.branch_id) == user.branch_id)
    return query.where(col(Visit.manager_id) == user.id)


def can_see_visit(session: Session, *, user: User, visit_id: uuid.UUID) -> bool:
    """Is this visit in the user's scope? For records that belong to a visit (photos, submissions...)."""
    return (
        session.scalar(scope_visits(select(col(Visit.id)), user).where(col(Visit.id) == visit_id)) is not None
    )


def get_visit_for(session: Session, *, user: User, visit_id: uuid.UUID) -> Visit:
    visit: Visit | None = session.scalar(scope_visits(select(Visit), user).where(col(Visit.id) == visit_id))
    if visit is None:
        # Another branch's visit answers exactly like a missing one.
        raise NotFound("No such visit.", detail_zh="检查任务不存在。")
    return visit


def get_visit_for_capture(session: Session, *, user: User, visit_id: uuid.UUID) -> Visit:
    """The visit a manager captures for: theirs now, or theirs before a reassignment they may not have
    heard of while offline (that capture is kept and flagged, never dropped)."""
    require_capturer(user)
    return captured_by(session, user=user, visit=session.get(Visit, visit_id))


def require_capturer(user: User) -> None:
    """Only managers capture: refused before anything is read."""
    if user.role != Role.manager:
        raise Forbidden("Only managers capture visits.", detail_zh="只有客户经理可以提交现场检查。")


def captured_by(session: Session, *, user: User, visit: Visit | None) -> Visit:
    """`visit` (read by the caller, often in one statement with what it needs beside it) if `user` may capture
    for it — see `get_visit_for_capture`; otherwise 404, like a visit that does not exist."""
    if visit is not None and (
        visit.manager_id == user.id or session.get(VisitAssignment, (visit.id, user.id)) is not None
    ):
        return visit
    raise NotFound("No such visit.", detail_zh="检查任务不存在。")


def record_assignment(session: Session, *, visit: Visit) -> None:
    if session.get(VisitAssignment, (visit.id, visit.manager_id)) is None:
        session.add(VisitAssignment(visit_id=visit.id, manager_id=visit.manager_id))
        session.flush()


@dataclass(frozen=True)
class VisitFilter:
    status: list[VisitStatus] | None = None
    branch_id: uuid.UUID | None = None
    manager_id: uuid.UUID | None = None
    subject_id: uuid.UUID | None = None
    borrower_id: uuid.UUID | None = None
    due_from: dt.date | None = None
    due_to: dt.date | None = None
    updated_since: dt.datetime | None = None
    overdue: bool | None = None


def list_visits(
    session: Session, *, user: User, settings: Settings, where: VisitFilter, cursor: str | None, limit: int
) -> tuple[list[schemas.VisitSummary], str | None]:
    query = filtered(scope_visits(select(Visit), user), where, settings)
    visits, next_cursor = paginate(
        session,
        query,
        kind="visits",
        keys=[date_key(col(Visit.due_on)), uuid_key(col(Visit.id))],
        cursor=cursor,
        limit=limit,
    )
    names = borrower_names(session, {v.borrower_id for v in visits})
    today = _today(settings)
    return [summary(v, names[v.borrower_id], today) for v in visits], next_cursor


def filtered(query: Select[Any], where: VisitFilter, settings: Settings) -> Select[Any]:
    """The visit list's filters, shared by the list and the exports."""
    if where.status:
        query = query.where(col(Visit.status).in_(where.status))
    if where.branch_id:
        query = query.where(col(Visit.branch_id) == where.branch_id)
    if where.manager_id:
        query = query.where(col(Visit.manager_id) == where.manager_id)
    if where.subject_id:
        query = query.where(col(Visit.subject_id) == where.subject_id)
    if where.borrower_id:
        query = query.where(col(Visit.borrower_id) == where.borrower_id)
    if where.due_from:
        query = query.where(col(Visit.due_on) >= where.due_from)
    if where.due_to:
        query = query.where(col(Visit.due_on) <= where.due_to)
    if where.updated_since:
        query = query.where(col(Visit.updated_at) > where.updated_since)
    today = _today(settings)
    if where.overdue is True:
        query = query.where(col(Visit.status).in_(AWAITING_MANAGER), col(Visit.due_on) < today)
    elif where.overdue is False:
        query = query.where(~(col(Visit.status).in_(AWAITING_MANAGER) & (col(Visit.due_on) < today)))
    return query


def _today(settings: Settings) -> dt.date:
    return today_in(settings.timezone)


def borrower_names(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    return dict(
        session.execute(select(col(Borrower.id), col(Borrower.name)).where(col(Borrower.id).in_(ids))).all()
    )


def is_overdue(visit: Visit, today: dt.date) -> bool:
    return visit.status in AWAITING_MANAGER and visit.due_on < today


def summary(visit: Visit, borrower_name: str, today: dt.date) -> schemas.VisitSummary:
    return schemas.VisitSummary(
        id=visit.id,
        status=visit.status,
        due_on=visit.due_on,
        overdue=is_overdue(visit, today),
        origin=visit.origin,
        branch_id=visit.branch_id,
        manager_id=visit.manager_id,
        borrower_id=visit.borrower_id,
        borrower_name=borrower_name,
        facility_id=visit.facility_id,
        subject_type=visit.subject_type,
        subject_id=visit.subject_id,
        template_version_id=visit.template_version_id,
        created_at=visit.created_at,
        updated_at=visit.updated_at,
    )


def detail(session: Session, *, visit: Visit, settings: Settings) -> schemas.VisitDetail:
    today = _today(settings)
    borrower = session.get(Borrower, visit.borrower_id)
    facility = session.get(Facility, visit.facility_id)
    assert borrower is not None and facility is not None  # foreign keys guarantee both
    collateral = project = None
    if visit.subject_type == SubjectType.collateral:
        row = session.get(Collateral, visit.subject_id)
        collateral = portfolio_service.collateral_public(row) if row else None
    elif visit.subject_type == SubjectType.project:
        prow = session.get(Project, visit.subject_id)
        project = portfolio_service.project_public(session, prow) if prow else None
    declared = portfolio_service.latest_declarations(
        session, subject_type=visit.subject_type, subject_id=visit.subject_id, as_of=today
    ) + portfolio_service.latest_declarations(
        session, subject_type=SubjectType.facility, subject_id=visit.facility_id, as_of=today
    )
    version = session.get(TemplateVersion, visit.template_version_id)
    assert version is not None
    base = summary(visit, borrower.name, today)
    return schemas.VisitDetail(
        **base.model_dump(),
        started_at=visit.started_at,
        submitted_at=visit.submitted_at,
        decided_at=visit.decided_at,
        cancel_reason=visit.cancel_reason,
        borrower=schemas.BorrowerBrief.model_validate(borrower),
        facility=portfolio_schemas.FacilityPublic.model_validate(facility),
        collateral=collateral,
        project=project,
        declared=[portfolio_schemas.DeclarationPublic.model_validate(d) for d in declared],
        template_version=checklist_service.version_public(session, version),
    )


# ---- issuing and changing visits ----


@dataclass(frozen=True)
class SubjectRef:
    facility: Facility
    subject_type: SubjectType
    subject_id: uuid.UUID


def resolve_subject(session: Session, *, subject_type: SubjectType, subject_id: uuid.UUID) -> SubjectRef:
    facility_id: uuid.UUID | None = None
    if subject_type == SubjectType.collateral:
        facility_id = session.scalar(select(Collateral.facility_id).where(Collateral.id == subject_id))
    elif subject_type == SubjectType.project:
        facility_id = session.scalar(select(Project.facility_id).where(Project.id == subject_id))
    facility = session.get(Facility, facility_id) if facility_id else None
    if facility is None:
        raise UnknownSubject("No collateral or project with this id.", detail_zh="押品或项目不存在。")
    return SubjectRef(facility, subject_type, subject_id)


def _check_manager(session: Session, *, manager_id: uuid.UUID, branch_id: uuid.UUID) -> User:
    manager = session.get(User, manager_id)
    if (
        manager is None
        or manager.role != Role.manager
        or manager.branch_id != branch_id
        or not manager.is_active
    ):
        raise NotAManagerOfBranch()
    return manager


def create_visit(session: Session, *, user: User, data: schemas.VisitCreate) -> Visit:
    ref = resolve_subject(session, subject_type=data.subject_type, subject_id=data.subject_id)
    # A reviewer issues visits only inside their branch; outside it the subject "does not exist".
    if user.role in BRANCH_READERS and ref.facility.branch_id != user.branch_id:
        raise UnknownSubject("No collateral or project with this id.", detail_zh="押品或项目不存在。")
    manager_id = data.manager_id or ref.facility.manager_id
    _check_manager(session, manager_id=manager_id, branch_id=ref.facility.branch_id)
    if data.template_version_id:
        version = session.get(TemplateVersion, data.template_version_id)
        if version is None or version.status != VersionStatus.published:
            raise NoPublishedTemplate(
                "The template version is not published.", detail_zh="该模板版本未发布。"
            )
    else:
        version = checklist_service.current_version_for(session, subject_type=data.subject_type)
        if version is None:
            raise NoPublishedTemplate()
    return issue(
        session, facility=ref.facility, subject_type=data.subject_type, subject_id=data.subject_id,
        version_id=version.id, due_on=data.due_on, origin=VisitOrigin.manual, manager_id=manager_id,
        created_by_id=user.id,
    )  # fmt: skip


def issue(
    session: Session,
    *,
    facility: Facility,
    subject_type: SubjectType,
    subject_id: uuid.UUID,
    version_id: uuid.UUID,
    due_on: dt.date,
    origin: VisitOrigin,
    manager_id: uuid.UUID | None = None,
    created_by_id: uuid.UUID | None = None,
    schedule_key: str | None = None,
) -> Visit:
    """A new scheduled visit of a facility's collateral or project (by hand, by the scheduler, by a signal),
    assigned to the facility's manager unless another is named."""
    visit = Visit(
        branch_id=facility.branch_id,
        borrower_id=facility.borrower_id,
        facility_id=facility.id,
        subject_type=subject_type,
        subject_id=subject_id,
        template_version_id=version_id,
        manager_id=manager_id or facility.manager_id,
        due_on=due_on,
        status=VisitStatus.scheduled,
        origin=origin,
        created_by_id=created_by_id,
        schedule_key=schedule_key,
    )
    session.add(visit)
    session.flush()
    record_assignment(session, visit=visit)
    return visit


def reassign(session: Session, *, visit: Visit, manager_id: uuid.UUID) -> Visit:
    if visit.status not in AWAITING_MANAGER:
        raise InvalidTransition(
            f"A visit that is {visit.status.value} cannot be reassigned.",
            detail_zh="只有待检查、检查中或已退回的任务可以改派。",
        )
    _check_manager(session, manager_id=manager_id, branch_id=visit.branch_id)
    visit.manager_id = manager_id
    visit.updated_at = utcnow()
    session.flush()
    record_assignment(session, visit=visit)
    return visit


def cancel(session: Session, *, visit: Visit, reason: str) -> Visit:
    transition(visit, VisitStatus.cancelled)
    visit.cancel_reason = reason
    session.flush()
    return visit


def start(session: Session, *, visit: Visit) -> Visit:
    """Opening a visit on the device. Idempotent: an already started (or later) visit is left as it is."""
    if visit.status == VisitStatus.scheduled:
        transition(visit, VisitStatus.in_progress)
        visit.started_at = utcnow()
        session.flush()
    elif visit.status == VisitStatus.cancelled:
        raise InvalidTransition("This visit was cancelled.", detail_zh="该检查任务已取消。")
    return visit


# ---- scheduling by risk grade ----


def schedule(
    session: Session, *, settings: Settings, today: dt.date | None = None, horizon_days: int = 30
) -> schemas.ScheduleReport:
    """Issue the next visit of every active collateral and project whose turn is within the horizon.

    First visit: `first_visit_days` after disbursement. Then: the cadence of the facility's risk grade
    after the last approved visit. A subject with an open visit gets nothing new.
    """
    today = today or _today(settings)
    cadence = settings.cadence
    created = already_open = not_due = no_template = 0
    versions = {
        kind: checklist_service.current_version_for(session, subject_type=kind)
        for kind in (SubjectType.collateral, SubjectType.project)
    }
    subjects: list[tuple[SubjectType, uuid.UUID, Facility]] = []
    for kind, model in ((SubjectType.collateral, Collateral), (SubjectType.project, Project)):
        rows = session.execute(
            select(model.id, Facility)
            .join(Facility, col(Facility.id) == model.facility_id)
            .where(col(Facility.disbursed_on).is_not(None), col(Facility.matures_on) >= today)
        )
        subjects.extend((kind, subject_id, facility) for subject_id, facility in rows)

    open_subjects = set(
        session.scalars(select(col(Visit.subject_id)).where(col(Visit.status).in_(OPEN_STATUSES))).all()
    )
    last_approved = dict(
        session.execute(
            select(Visit.subject_id, func.max(Visit.decided_at))
            .where(Visit.status == VisitStatus.approved)
            .group_by(col(Visit.subject_id))
        ).all()
    )
    for kind, subject_id, facility in subjects:
        if subject_id in open_subjects:
            already_open += 1
            continue
        assert facility.disbursed_on is not None
        last = last_approved.get(subject_id)
        if last is None:
            due_on = facility.disbursed_on + dt.timedelta(days=cadence.first_visit_days)
        else:
            due_on = last.date() + dt.timedelta(days=cadence.days_for(facility.risk_grade.value))
        if due_on > today + dt.timedelta(days=horizon_days):
            not_due += 1
            continue
        version = versions[kind]
        if version is None:
            no_template += 1
            continue
        savepoint = session.begin_nested()
        try:
            issue(
                session, facility=facility, subject_type=kind, subject_id=subject_id, version_id=version.id,
                due_on=due_on, origin=VisitOrigin.scheduled,
                schedule_key=f"{kind.value}:{subject_id}:{due_on.isoformat()}",
            )  # fmt: skip
            savepoint.commit()
            created += 1
        except IntegrityError:
            # Another scheduler issued the same visit a moment ago.
            savepoint.rollback()
            already_open += 1
    return schemas.ScheduleReport(
        created=created, already_open=already_open, not_due_yet=not_due, no_template=no_template
    )
