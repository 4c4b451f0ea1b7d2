"""The risk dashboard: each figure one aggregate query over the visits, tasks, findings and signals a reviewer
(their branch) or an admin (the bank, or one branch) may see, filtered by manager, risk grade and period.

Every figure carries the filters of the list behind it, so the web app links each number to its list. Kept to
grouped counts the indexes answer (ix_visit_branch_due_on_id, task and signal state/severity), so the whole page
stays well under a second at 100,000 visits (bench/dashboard.py).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Select, and_, case, func
from sqlalchemy.orm import Session
from sqlmodel import col, select

from api.auth.models import BRANCH_READERS, User
from api.checklists.schemas import Severity
from api.config import Settings
from api.dashboard import schemas
from api.kit.clock import today_in
from api.kit.geo import to_wgs84
from api.monitoring.indicators import INDICATORS
from api.monitoring.models import Signal, SignalState
from api.portfolio.models import Borrower, Collateral, Facility, Project
from api.rules.models import Discrepancy
from api.tasks.models import OPEN_TASK_STATES, FollowUpTask
from api.visits.models import AWAITING_MANAGER, OPEN_STATUSES, Visit, VisitStatus

SEVERITIES = [s.value for s in Severity]
MAX_SITES = 5000
TREND_MONTHS = 6


def _month_start(day: dt.date, back: int = 0) -> dt.date:
    month = day.month - 1 - back
    return dt.date(day.year + month // 12, month % 12 + 1, 1)


def period_of(where: schemas.DashboardFilter, today: dt.date) -> tuple[dt.date, dt.date]:
    """The period asked for; this month by default."""
    if where.period == "quarter":
        start = dt.date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
        end = _month_start(start, -3) - dt.timedelta(days=1)
    else:
        start, end = _month_start(today), _month_start(today, -1) - dt.timedelta(days=1)
    return (where.date_from or start, where.date_to or end)


def _branch(user: User, where: schemas.DashboardFilter) -> uuid.UUID | None:
    return user.branch_id if user.role in BRANCH_READERS else where.branch_id


def _facilities(user: User, where: schemas.DashboardFilter) -> Select[Any]:
    """The facilities in view: the branch, and the risk grade when one is asked for."""
    query = select(Facility.id)
    branch = _branch(user, where)
    if branch is not None:
        query = query.where(col(Facility.branch_id) == branch)
    if where.risk_grade is not None:
        query = query.where(col(Facility.risk_grade) == where.risk_grade)
    if where.manager_id is not None:
        query = query.where(col(Facility.manager_id) == where.manager_id)
    return query


def _visits(user: User, where: schemas.DashboardFilter) -> list[Any]:
    conditions: list[Any] = []
    branch = _branch(user, where)
    if branch is not None:
        conditions.append(col(Visit.branch_id) == branch)
    if where.manager_id is not None:
        conditions.append(col(Visit.manager_id) == where.manager_id)
    if where.risk_grade is not None:
        conditions.append(col(Visit.facility_id).in_(_facilities(user, where)))
    return conditions


def dashboard(
    session: Session, *, user: User, settings: Settings, where: schemas.DashboardFilter
) -> schemas.Dashboard:
    today = today_in(settings.timezone)
    start, end = period_of(where, today)
    in_view = _visits(user, where)
    links = schemas.Links.of(user, where, today, start, end)

    awaiting = col(Visit.status).in_(AWAITING_MANAGER)
    # Still to do in the period and not late yet (late ones are `overdue`, whatever their period).
    due = func.sum(
        case((and_(awaiting, col(Visit.due_on) >= max(start, today), col(Visit.due_on) <= end), 1), else_=0)
    )
    overdue = func.sum(case((and_(awaiting, col(Visit.due_on) < today), 1), else_=0))
    window = (
        col(Visit.decided_at) >= dt.datetime.combine(start, dt.time(), dt.UTC),
        col(Visit.decided_at) < dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC),
    )
    done = func.sum(case((and_(col(Visit.status) == VisitStatus.approved, *window), 1), else_=0))
    rows = session.execute(
        select(col(Visit.manager_id), due, overdue, done)
        .where(*in_view, col(Visit.status).in_([*AWAITING_MANAGER, VisitStatus.approved]))
        .group_by(col(Visit.manager_id))
    ).all()
    names = dict(
        session.execute(
            select(User.id, User.display_name).where(col(User.id).in_([r[0] for r in rows]))
        ).all()
    )
    managers = sorted(
        (
            schemas.ManagerRow(
                manager_id=r[0],
                name=names.get(r[0], ""),
                due=int(r[1] or 0),
                overdue=int(r[2] or 0),
                done=int(r[3] or 0),
            )
            for r in rows
        ),
        key=lambda m: (-m.overdue, -m.due, m.name),
    )
    visits = schemas.VisitFigures(
        due=sum(m.due for m in managers),
        overdue=sum(m.overdue for m in managers),
        done=sum(m.done for m in managers),
        by_manager=[m for m in managers if m.due or m.overdue or m.done],
    )
    return schemas.Dashboard(
        period_from=start,
        period_to=end,
        today=today,
        visits=visits,
        tasks=_tasks(session, user, where, today),
        cases=_cases(session, user, where, today),
        signals=_signals(session, user, where),
        findings_trend=_trend(session, in_view, today),
        repeated_findings=_repeated(session, in_view),
        sites=_sites(session, user, where, today) if where.sites else [],
        links=links,
    )


def _cases(
    session: Session, user: User, where: schemas.DashboardFilter, today: dt.date
) -> schemas.CaseFigures:
    """Cases waiting for a decision, as the user may see them, in the branch in view."""
    from api.cases.models import Case, CaseState
    from api.cases.service import scope_cases

    waiting = (CaseState.submitted, CaseState.under_review)
    query = scope_cases(select(Case), user).where(col(Case.state).in_(waiting))
    branch = _branch(user, where)
    if branch is not None:
        query = query.where(col(Case.branch_id) == branch)
    cases = query.subquery()
    counted = select(func.count(), func.count().filter(cases.c.due_on < today)).select_from(cases)
    total, overdue = session.execute(counted).one()
    return schemas.CaseFigures(open=int(total), overdue=int(overdue))


def _tasks(
    session: Session, user: User, where: schemas.DashboardFilter, today: dt.date
) -> schemas.TaskFigures:
    conditions: list[Any] = [col(FollowUpTask.state).in_(OPEN_TASK_STATES)]
    branch = _branch(user, where)
    if branch is not None:
        conditions.append(col(FollowUpTask.branch_id) == branch)
    if where.manager_id is not None:
        conditions.append(col(FollowUpTask.assignee_id) == where.manager_id)
    if where.risk_grade is not None:
        conditions.append(col(FollowUpTask.facility_id).in_(_facilities(user, where)))
    week = dt.datetime.combine(today - dt.timedelta(days=7), dt.time(), dt.UTC)
    month = dt.datetime.combine(today - dt.timedelta(days=30), dt.time(), dt.UTC)
    bucket = case(
        (col(FollowUpTask.created_at) >= week, "0-7"),
        (col(FollowUpTask.created_at) >= month, "8-30"),
        else_="31+",
    )
    rows = session.execute(
        select(
            col(FollowUpTask.severity),
            bucket,
            func.count(),
            func.sum(case((col(FollowUpTask.due_on) < today, 1), else_=0)),
        )
        .where(*conditions)
        .group_by(col(FollowUpTask.severity), bucket)
    ).all()
    by_severity = dict.fromkeys(SEVERITIES, 0)
    by_age = {"0-7": 0, "8-30": 0, "31+": 0}
    late = 0
    for severity, age_bucket, count, past_due in rows:
        by_severity[str(getattr(severity, "value", severity))] += count
        by_age[age_bucket] += count
        late += int(past_due or 0)
    return schemas.TaskFigures(open_by_severity=by_severity, open_by_age_days=by_age, past_due=late)


def _signals(session: Session, user: User, where: schemas.DashboardFilter) -> list[schemas.IndicatorRow]:
    conditions: list[Any] = [col(Signal.state) == SignalState.open]
    branch = _branch(user, where)
    if branch is not None:
        conditions.append(col(Signal.branch_id) == branch)
    if where.manager_id is not None or where.risk_grade is not None:
        borrowers = select(Facility.borrower_id).where(col(Facility.id).in_(_facilities(user, where)))
        conditions.append(col(Signal.borrower_id).in_(borrowers))
    rows = session.execute(
        select(col(Signal.indicator), col(Signal.severity), func.count())
        .where(*conditions)
        .group_by(col(Signal.indicator), col(Signal.severity))
    ).all()
    found: dict[str, dict[str, int]] = {}
    for indicator, severity, count in rows:
        found.setdefault(indicator, dict.fromkeys(SEVERITIES, 0))[
            str(getattr(severity, "value", severity))
        ] += count
    return sorted(
        (
            schemas.IndicatorRow(
                indicator=key,
                name_zh=INDICATORS[key].name_zh if key in INDICATORS else key,
                name_en=INDICATORS[key].name_en if key in INDICATORS else key,
                by_severity=counts,
                open=sum(counts.values()),
            )
            for key, counts in found.items()
        ),
        key=lambda row: (-row.by_severity["critical"], -row.open, row.indicator),
    )


def _trend(session: Session, in_view: list[Any], today: dt.date) -> list[schemas.FindingsMonth]:
    """Findings per month over the last six, by severity: found on the visits in view."""
    first = _month_start(today, TREND_MONTHS - 1)
    since = dt.datetime.combine(first, dt.time(), dt.UTC)
    rows = session.execute(
        select(col(Discrepancy.severity), col(Discrepancy.created_at))
        .join(Visit, col(Visit.id) == col(Discrepancy.visit_id))
        .where(*in_view, col(Discrepancy.created_at) >= since)
    ).all()
    months = [_month_start(today, back) for back in range(TREND_MONTHS - 1, -1, -1)]
    counts = {m.strftime("%Y-%m"): dict.fromkeys(SEVERITIES, 0) for m in months}
    for severity, created_at in rows:
        key = created_at.astimezone(dt.UTC).strftime("%Y-%m")
        if key in counts:
            counts[key][str(getattr(severity, "value", severity))] += 1
    return [schemas.FindingsMonth(month=month, by_severity=values) for month, values in counts.items()]


def _repeated(session: Session, in_view: list[Any]) -> list[schemas.RepeatedRow]:
    """Borrowers with the same finding (rule and item) on two or more approved visits."""
    twice = (
        select(
            col(Visit.borrower_id),
            col(Discrepancy.rule_key),
            col(Discrepancy.item_key),
            func.count(func.distinct(Visit.id)).label("visits"),
        )
        .join(Visit, col(Visit.id) == col(Discrepancy.visit_id))
        .where(*in_view, col(Visit.status) == VisitStatus.approved)
        .group_by(col(Visit.borrower_id), col(Discrepancy.rule_key), col(Discrepancy.item_key))
        .having(func.count(func.distinct(Visit.id)) >= 2)
        .subquery()
    )
    rows = session.execute(
        select(twice.c.borrower_id, func.count(), func.max(twice.c.visits))
        .group_by(twice.c.borrower_id)
        .order_by(func.count().desc())
        .limit(20)
    ).all()
    names = dict(
        session.execute(
            select(Borrower.id, Borrower.name).where(col(Borrower.id).in_([r[0] for r in rows]))
        ).all()
    )
    return [
        schemas.RepeatedRow(
            borrower_id=r[0], name=names.get(r[0], ""), findings=int(r[1]), most_visits=int(r[2])
        )
        for r in rows
    ]


def _sites(
    session: Session, user: User, where: schemas.DashboardFilter, today: dt.date
) -> list[schemas.Site]:
    """Each collateral and project in view with the state of its visits: overdue, due (an open visit), else
    ok; at most 5,000, the overdue first."""
    in_view = _facilities(user, where)
    # Per subject, its earliest open visit: grouped in the database (a subject may have many visits; the page
    # needs one state per site), then that visit's id and status.
    earliest = (
        select(col(Visit.subject_id).label("subject_id"), func.min(Visit.due_on).label("due_on"))
        .where(col(Visit.facility_id).in_(in_view), col(Visit.status).in_(OPEN_STATUSES))
        .group_by(col(Visit.subject_id))
        .subquery()
    )
    open_visits: dict[uuid.UUID, tuple[uuid.UUID, dt.date, str]] = {}
    for visit_id, subject_id, due_on, status in session.execute(
        select(col(Visit.id), col(Visit.subject_id), col(Visit.due_on), col(Visit.status))
        .join(
            earliest,
            and_(earliest.c.subject_id == col(Visit.subject_id), earliest.c.due_on == col(Visit.due_on)),
        )
        .where(col(Visit.status).in_(OPEN_STATUSES))
    ):
        open_visits.setdefault(subject_id, (visit_id, due_on, str(getattr(status, "value", status))))
    sites: list[schemas.Site] = []
    for kind, model, label in (
        (("collateral", Collateral, Collateral.description)),
        ("project", Project, Project.name),
    ):
        columns: list[Any] = [
            model.id,
            label,
            model.site_lat,
            model.site_lon,
            model.site_datum,
            Borrower.name,
        ]
        rows = session.execute(
            select(
                *columns,
            )
            .join(Facility, col(Facility.id) == model.facility_id)
            .join(Borrower, col(Borrower.id) == col(Facility.borrower_id))
            .where(col(model.facility_id).in_(in_view))
            .limit(MAX_SITES)
        ).all()
        for subject_id, name, lat, lon, datum, borrower in rows:
            visit = open_visits.get(subject_id)
            if visit is None:
                state = "ok"
            elif visit[1] < today and visit[2] in ("scheduled", "in_progress", "returned"):
                state = "overdue"
            else:
                state = "due"
            wlat, wlon = to_wgs84(lat, lon, str(getattr(datum, "value", datum)))  # type: ignore[arg-type]
            sites.append(
                schemas.Site(
                    subject_type=kind,
                    subject_id=subject_id,
                    name=name,
                    borrower_name=borrower,
                    lat=wlat,
                    lon=wlon,
                    state=state,
                    visit_id=visit[0] if visit else None,
                )
            )
    order = {"overdue": 0, "due": 1, "ok": 2}
    return sorted(sites, key=lambda s: order[s.state])[:MAX_SITES]
