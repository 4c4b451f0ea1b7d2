from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.config import Settings
from api.db import utcnow
from api.portfolio.models import SubjectType
from api.visits import service
from api.visits.models import Visit, VisitOrigin, VisitStatus
from tests.factories import (
    make_borrower,
    make_branch,
    make_collateral,
    make_facility,
    make_project,
    make_published_template,
    make_user,
    make_visit,
)

pytestmark = pytest.mark.calendar

TODAY = dt.date(2026, 11, 29)


def _portfolio(
    session: Session, *, disbursed_days_ago: int, grade: str = "normal"
) -> tuple[Visit | None, object]:
    make_published_template(session)
    make_published_template(session, subject_type=SubjectType.project)
    branch = make_branch(session)
    manager = make_user(session, branch=branch)
    borrower = make_borrower(session, branch=branch)
    facility = make_facility(
        session,
        borrower=borrower,
        manager=manager,
        disbursed_on=TODAY - dt.timedelta(days=disbursed_days_ago),
        risk_grade=grade,
    )
    collateral = make_collateral(session, facility=facility)
    return None, collateral


def _scheduled(session: Session) -> list[Visit]:
    return list(session.scalars(select(Visit).where(Visit.origin == VisitOrigin.scheduled)))


def test_first_visit_is_due_fifteen_days_after_disbursement(session: Session, settings: Settings) -> None:
    _portfolio(session, disbursed_days_ago=3)
    report = service.schedule(session, settings=settings, today=TODAY)
    assert report.created == 1
    (visit,) = _scheduled(session)
    assert visit.due_on == TODAY + dt.timedelta(days=12)
    assert visit.status == VisitStatus.scheduled


def test_scheduling_twice_creates_nothing_new(session: Session, settings: Settings) -> None:
    _portfolio(session, disbursed_days_ago=20)
    assert service.schedule(session, settings=settings, today=TODAY).created == 1
    session.commit()
    second = service.schedule(session, settings=settings, today=TODAY)
    assert second.created == 0
    assert second.already_open == 1
    assert len(_scheduled(session)) == 1


def test_next_visit_follows_the_risk_grade_after_the_last_approval(
    session: Session, settings: Settings
) -> None:
    for grade, cadence in [("normal", 90), ("special_mention", 30), ("substandard", 15), ("loss", 15)]:
        _, collateral = _portfolio(session, disbursed_days_ago=200, grade=grade)
        version = make_published_template(session)
        approved_at = utcnow() - dt.timedelta(days=80)
        make_visit(
            session,
            collateral=collateral,  # type: ignore[arg-type]
            version=version,
            status=VisitStatus.approved,
            decided_at=approved_at,
        )
        service.schedule(session, settings=settings, today=TODAY, horizon_days=400)
        visit = session.scalar(
            select(Visit).where(Visit.subject_id == collateral.id, Visit.origin == VisitOrigin.scheduled)  # type: ignore[attr-defined]
        )
        assert visit is not None
        assert visit.due_on == approved_at.date() + dt.timedelta(days=cadence), grade


def test_far_future_visits_wait_and_matured_loans_get_none(session: Session, settings: Settings) -> None:
    _portfolio(session, disbursed_days_ago=-60)  # disbursement planned in two months
    report = service.schedule(session, settings=settings, today=TODAY)
    assert report.created == 0 and report.not_due_yet == 1


def test_projects_get_the_project_template(session: Session, settings: Settings) -> None:
    _portfolio(session, disbursed_days_ago=20)
    branch = make_branch(session)
    manager = make_user(session, branch=branch)
    facility = make_facility(
        session,
        borrower=make_borrower(session, branch=branch),
        manager=manager,
        kind="project_finance",
        disbursed_on=TODAY - dt.timedelta(days=20),
    )
    project = make_project(session, facility=facility)
    service.schedule(session, settings=settings, today=TODAY)
    visit = session.scalar(select(Visit).where(Visit.subject_id == project.id))
    assert visit is not None and visit.subject_type == SubjectType.project
    assert visit.due_on == TODAY - dt.timedelta(days=5)
    assert service.is_overdue(visit, TODAY)
