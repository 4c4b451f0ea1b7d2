"""Monitoring: figures and repayment status kept as received; indicators evaluated per borrower into signals;
a new or worse signal schedules an ad-hoc visit with its follow-up task and proposes a risk-grade change,
as the bank's settings say; a reviewer decides the proposal, and an accepted one re-plans the cadence.

Flushes, never commits: the request or the tick that calls it owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, func
from sqlalchemy.orm import Session
from sqlmodel import col, select

from api.auth.models import BRANCH_READERS, Role, User
from api.checklists import service as checklist_service
from api.checklists.schemas import Severity
from api.config import Settings
from api.db import new_id, utcnow
from api.errors import Conflict, Forbidden, NotFound
from api.integrations import accounts
from api.kit.clock import today_in
from api.kit.races import inserted
from api.kit.ranked import first_per
from api.monitoring import periods, schemas
from api.monitoring.indicators import (
    INDICATORS,
    SEVERITIES,
    FacilityFacts,
    Facts,
    Measure,
    ProjectFacts,
    SubjectVisits,
)
from api.monitoring.models import (
    BorrowerFigures,
    GradeProposal,
    IndicatorSetting,
    ProjectFigures,
    ProposalState,
    RepaymentStatus,
    Signal,
    SignalState,
)
from api.portfolio import service as portfolio_service
from api.portfolio.lookup import Lookup
from api.portfolio.models import Borrower, Collateral, Facility, Project, RiskGrade, SubjectType
from api.rules.models import Discrepancy
from api.tasks import service as task_service
from api.tasks.models import FollowUpTask, TaskState
from api.visits import service as visit_service
from api.visits.models import OPEN_STATUSES, Visit, VisitOrigin, VisitStatus

FIGURES = (
    "revenue",
    "net_profit",
    "operating_cash_flow",
    "accounts_receivable",
    "inventory",
    "total_liabilities",
    "total_assets",
    "current_assets",
    "current_liabilities",
)
PROJECT_FIGURES = ("planned_investment", "actual_investment", "planned_progress_pct", "actual_progress_pct")
GRADES = list(RiskGrade)
RANK = {Severity.minor: 1, Severity.major: 2, Severity.critical: 3}


# ---- figures and repayment status in ----


def _period_values(data: schemas.FiguresIn | schemas.ProjectFiguresIn) -> dict[str, Any]:
    return data.model_dump(exclude={"borrower_credit_code", "project_reference"}) | {
        "id": new_id(),
        "period_end": periods.period_end(data.period),
    }


def figures_values(data: schemas.FiguresImport, lookup: Lookup) -> dict[str, Any]:
    borrower = lookup.borrower(data.borrower_credit_code)
    if borrower is None:
        raise portfolio_service.unknown_reference(
            "borrower with credit code", "借款企业统一社会信用代码", data.borrower_credit_code
        )
    return _period_values(data) | {"borrower_id": borrower.id}


def project_figures_values(data: schemas.ProjectFiguresImport, lookup: Lookup) -> dict[str, Any]:
    project_id = lookup.project(data.project_reference)
    if project_id is None:
        raise portfolio_service.unknown_reference("project", "项目", data.project_reference)
    return _period_values(data) | {"project_id": project_id}


def repayment_values(data: schemas.RepaymentImport, lookup: Lookup) -> dict[str, Any]:
    facility = lookup.facility(data.facility_reference)
    if facility is None:
        raise portfolio_service.unknown_reference("facility", "贷款合同编号", data.facility_reference)
    return data.model_dump(exclude={"facility_reference"}) | {"id": new_id(), "facility_id": facility.id}


def add_figures(session: Session, *, borrower: Borrower, data: schemas.FiguresIn) -> BorrowerFigures:
    row = BorrowerFigures(**_period_values(data), borrower_id=borrower.id)
    session.add(row)
    session.flush()
    return row


def add_project_figures(
    session: Session, *, project: Project, data: schemas.ProjectFiguresIn
) -> ProjectFigures:
    row = ProjectFigures(**_period_values(data), project_id=project.id)
    session.add(row)
    session.flush()
    return row


def add_repayment(session: Session, *, facility: Facility, data: schemas.RepaymentIn) -> RepaymentStatus:
    row = RepaymentStatus(**data.model_dump(), id=new_id(), facility_id=facility.id)
    session.add(row)
    session.flush()
    return row


def project_for(session: Session, *, user: User, project_id: uuid.UUID) -> Project:
    query = select(Project).where(
        col(Project.id) == project_id,
        col(Project.facility_id).in_(portfolio_service.visible_facility_ids(user)),
    )
    found: Project | None = session.scalar(query)
    if found is None:
        raise NotFound("No such project.", detail_zh="项目不存在。")
    return found


def _newest_first(session: Session, model: Any, owner: Any, owner_id: uuid.UUID, day: Any) -> list[Any]:
    """Every set received for one owner: the newest day (period end, as-of date) first, and for one day the
    newest received first."""
    query = (
        select(model).where(col(owner) == owner_id).order_by(col(day).desc(), col(model.created_at).desc())
    )
    return list(session.scalars(query))


def figures_history(session: Session, *, borrower_id: uuid.UUID) -> list[BorrowerFigures]:
    return _newest_first(
        session, BorrowerFigures, BorrowerFigures.borrower_id, borrower_id, BorrowerFigures.period_end
    )


def repayment_history(session: Session, *, facility_id: uuid.UUID) -> list[RepaymentStatus]:
    return _newest_first(
        session, RepaymentStatus, RepaymentStatus.facility_id, facility_id, RepaymentStatus.as_of
    )


def project_history(session: Session, *, project_id: uuid.UUID) -> list[ProjectFigures]:
    return _newest_first(
        session, ProjectFigures, ProjectFigures.project_id, project_id, ProjectFigures.period_end
    )


def borrowers_of_import(session: Session, *, kind: str, text: str) -> set[uuid.UUID]:
    """The borrowers a just-imported monitoring file touched (their indicators are evaluated again)."""
    import csv
    import io

    column, model, key = {
        "figures": ("borrower_credit_code", Borrower, Borrower.credit_code),
        "project_figures": ("project_reference", Project, Project.reference),
        "repayments": ("facility_reference", Facility, Facility.reference),
    }[kind]
    values = {row.get(column, "").strip() for row in csv.DictReader(io.StringIO(text))} - {""}
    found: set[uuid.UUID] = set()
    listed = sorted(values)
    for start in range(0, len(listed), 500):
        chunk = listed[start : start + 500]
        if model is Borrower:
            found.update(session.scalars(select(Borrower.id).where(col(key).in_(chunk))))
        elif model is Facility:
            found.update(session.scalars(select(Facility.borrower_id).where(col(key).in_(chunk))))
        else:
            found.update(
                session.scalars(
                    select(Facility.borrower_id)
                    .join(Project, col(Project.facility_id) == col(Facility.id))
                    .where(col(key).in_(chunk))
                )
            )
    return found


# ---- indicator settings ----


def thresholds(session: Session) -> dict[str, tuple[bool, dict[str, Any]]]:
    """Each indicator: whether it is on, and its thresholds (the bank's, else the defaults)."""
    saved = {row.key: row for row in session.scalars(select(IndicatorSetting))}
    return {
        key: (saved[key].enabled, saved[key].thresholds) if key in saved else (True, indicator.defaults)
        for key, indicator in INDICATORS.items()
    }


def indicator_public(key: str, enabled: bool, levels: dict[str, Any]) -> schemas.IndicatorPublic:
    indicator = INDICATORS[key]
    return schemas.IndicatorPublic(
        key=key,
        name_zh=indicator.name_zh,
        name_en=indicator.name_en,
        direction=indicator.direction,
        enabled=enabled,
        thresholds=levels,
        defaults=indicator.defaults,
    )


def set_thresholds(
    session: Session, *, key: str, data: schemas.IndicatorUpdate, user: User
) -> tuple[bool, dict[str, Any]]:
    indicator = INDICATORS.get(key)
    if indicator is None:
        raise NotFound(f"No indicator {key!r}.", detail_zh=f"预警指标 {key!r} 不存在。")
    levels = data.model_dump(exclude={"enabled"})
    given = [(s, levels[s.value]) for s in SEVERITIES if levels[s.value] is not None]
    # Most severe first: an at_least indicator's bounds go down, a below one's go up.
    ordered = all(
        (a >= b) if indicator.direction == "at_least" else (a <= b)
        for (_s, a), (_t, b) in itertools.pairwise(given)
    )
    if not ordered:
        raise Conflict(
            "The thresholds must grow with the severity (critical the furthest).",
            detail_zh="阈值须随严重程度递进（严重级最远）。",
        )
    row = session.get(IndicatorSetting, key) or IndicatorSetting(key=key, thresholds={})
    row.enabled, row.thresholds, row.updated_at, row.updated_by_id = data.enabled, levels, utcnow(), user.id
    session.add(row)
    session.flush()
    return row.enabled, row.thresholds


# ---- facts ----


def _latest_per_period(rows: Iterable[Any], names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Rows come newest first within each period: the first one seen for a period is the one that counts."""
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.period not in found:
            found[row.period] = {name: getattr(row, name) for name in names}
    return found


def load_facts(session: Session, *, borrower: Borrower, today: dt.date) -> Facts:
    return load_facts_many(session, borrowers=[borrower], today=today)[borrower.id]


# How many borrowers' facts are read at once by the daily evaluation: bounded so that the lists of ids in the
# queries stay well under SQLite's limit on bound parameters whatever the borrowers hold.
FACTS_BATCH = 200


def load_facts_many(session: Session, *, borrowers: list[Borrower], today: dt.date) -> dict[uuid.UUID, Facts]:
    """The facts of many borrowers in a fixed number of queries (nine), whatever their number and what they
    hold: the daily evaluation of a whole bank reads them a batch at a time, not a few queries per facility,
    collateral, project and subject. Each borrower's facts are exactly what reading it alone gives."""
    facts = {b.id: Facts(b.id, b.name) for b in borrowers}
    for borrower_id, rows in _grouped(
        session.scalars(
            select(BorrowerFigures)
            .where(col(BorrowerFigures.borrower_id).in_(facts))
            .order_by(col(BorrowerFigures.period_end).desc(), col(BorrowerFigures.created_at).desc())
        ),
        "borrower_id",
    ).items():
        facts[borrower_id].figures = _latest_per_period(rows, FIGURES)
    facilities = list(
        session.scalars(
            select(Facility).where(col(Facility.borrower_id).in_(facts)).order_by(col(Facility.reference))
        )
    )
    facility_ids = [f.id for f in facilities]
    latest = {
        row.facility_id: row
        for row in first_per(
            session,
            RepaymentStatus,
            RepaymentStatus.facility_id,
            facility_ids,
            (col(RepaymentStatus.as_of).desc(), col(RepaymentStatus.created_at).desc()),
        )
    }
    collateral = _grouped(
        session.scalars(
            select(Collateral)
            .where(col(Collateral.facility_id).in_(facility_ids))
            .order_by(col(Collateral.id))
        ),
        "facility_id",
    )
    projects = _grouped(
        session.scalars(
            select(Project).where(col(Project.facility_id).in_(facility_ids)).order_by(col(Project.id))
        ),
        "facility_id",
    )
    project_figures = _grouped(
        session.scalars(
            select(ProjectFigures)
            .where(col(ProjectFigures.project_id).in_([p.id for ps in projects.values() for p in ps]))
            .order_by(col(ProjectFigures.period_end).desc(), col(ProjectFigures.created_at).desc())
        ),
        "project_id",
    )
    for facility in facilities:
        owner = facts[facility.borrower_id]
        repayment = latest.get(facility.id)
        items = collateral.get(facility.id, [])
        owner.facilities.append(
            FacilityFacts(
                facility.id,
                facility.reference,
                facility.amount,
                days_past_due=repayment.days_past_due if repayment else None,
                as_of=repayment.as_of if repayment else None,
                outstanding=repayment.outstanding if repayment else None,
                collateral_value=sum((c.declared_value for c in items), decimal.Decimal(0)),
                collateral_count=len(items),
            )
        )
        for item in items:
            owner.subjects.append(SubjectVisits("collateral", item.id, facility.id, item.description))
        for project in projects.get(facility.id, []):
            figures = _latest_per_period(project_figures.get(project.id, []), PROJECT_FIGURES)
            owner.projects.append(ProjectFacts(project.id, facility.id, project.name, figures))
            owner.subjects.append(SubjectVisits("project", project.id, facility.id, project.name))
    _subjects_visits(session, [s for f in facts.values() for s in f.subjects], today)
    return facts


def _grouped(rows: Iterable[Any], key: str) -> dict[uuid.UUID, list[Any]]:
    """Rows by an owner's id, each owner's in the order the query gave them."""
    found: dict[uuid.UUID, list[Any]] = {}
    for row in rows:
        found.setdefault(getattr(row, key), []).append(row)
    return found


def _subjects_visits(session: Session, subjects: list[SubjectVisits], today: dt.date) -> None:
    """Each subject's most overdue open visit and its three newest approved visits with their critical
    findings: three queries for every subject at once."""
    by_id = {s.subject_id: s for s in subjects}
    ids = list(by_id)
    late = first_per(
        session,
        Visit,
        Visit.subject_id,
        ids,
        (col(Visit.due_on),),
        where=(
            col(Visit.status).in_([VisitStatus.scheduled, VisitStatus.in_progress]),
            col(Visit.due_on) < today,
        ),
    )
    for visit in late:
        subject = by_id[visit.subject_id]
        subject.overdue_visit_id, subject.overdue_days = visit.id, (today - visit.due_on).days
    approved = first_per(
        session,
        Visit,
        Visit.subject_id,
        ids,
        (col(Visit.decided_at).desc(),),
        where=(col(Visit.status) == VisitStatus.approved,),
        keep=3,
    )
    critical: dict[uuid.UUID, set[str]] = {}
    if approved:
        for visit_id, rule, item in session.execute(
            select(col(Discrepancy.visit_id), col(Discrepancy.rule_key), col(Discrepancy.item_key)).where(
                col(Discrepancy.visit_id).in_([v.id for v in approved]),
                Discrepancy.severity == Severity.critical,
            )
        ):
            critical.setdefault(visit_id, set()).add(f"{rule}:{item}")
    for visit in approved:  # by rank: each subject's newest first
        decided = visit.decided_at.date() if visit.decided_at else today
        by_id[visit.subject_id].approved.append((visit.id, decided, critical.get(visit.id, set())))


# ---- signals ----


def _open_key(indicator: str, measure: Measure) -> str:
    return f"{indicator}:{measure.subject_type}:{measure.subject_id}"


def evaluate_borrower(
    session: Session,
    *,
    settings: Settings,
    borrower: Borrower,
    settings_of: dict[str, tuple[bool, dict[str, Any]]],
    report: schemas.EvaluationReport,
    facts: Facts | None = None,
) -> None:
    """Every indicator on one borrower: new firings open signals (and their actions), firings already open are
    brought up to date (a worse severity acts again), open signals that no longer fire are cleared.
    `settings_of` is `thresholds(session)`, read once for a whole evaluation."""
    today = today_in(settings.timezone)
    if facts is None:
        facts = load_facts(session, borrower=borrower, today=today)
    firing: dict[str, tuple[str, Severity, Measure]] = {}
    for key, indicator in INDICATORS.items():
        enabled, levels = settings_of[key]
        if not enabled:
            continue
        for measure in indicator.measure(facts):
            severity = indicator.severity(measure.value, levels)
            if severity is not None:
                firing[_open_key(key, measure)] = (key, severity, measure)
    report.borrowers += 1
    open_signals = {
        signal.open_key: signal
        for signal in session.scalars(
            select(Signal).where(Signal.borrower_id == borrower.id, Signal.state == SignalState.open)
        )
    }
    for open_key, stale in open_signals.items():
        if open_key not in firing:
            stale.state, stale.open_key, stale.cleared_at = SignalState.cleared, None, utcnow()
            report.cleared += 1
    for open_key, (key, severity, measure) in firing.items():
        signal = open_signals.get(open_key)
        worse = signal is None or RANK[severity] > RANK[signal.severity]
        if signal is None:
            opened = _open_signal(session, borrower, open_key, key, severity, measure)
            if opened is None:
                continue  # another evaluation opened it a moment ago
            signal = opened
            report.opened += 1
        else:
            if measure.evidence != signal.evidence:
                signal.occurrences += 1
            signal.severity = severity if worse else signal.severity
            signal.evidence, signal.last_seen_at = measure.evidence, utcnow()
            signal.explanation_zh, signal.explanation_en = _explain(key, measure)
            report.updated += 1
        if worse:
            _act(
                session,
                settings=settings,
                signal=signal,
                levels=settings_of[key][1],
                today=today,
                report=report,
            )
    session.flush()


def _explain(key: str, measure: Measure) -> tuple[str, str]:
    indicator = INDICATORS[key]
    return (f"{indicator.name_zh}：{measure.said_zh}"[:500], f"{indicator.name_en}: {measure.said_en}"[:500])


def _open_signal(
    session: Session, borrower: Borrower, open_key: str, key: str, severity: Severity, measure: Measure
) -> Signal | None:
    zh, en = _explain(key, measure)
    signal = Signal(
        id=new_id(),
        open_key=open_key,
        branch_id=borrower.branch_id,
        borrower_id=borrower.id,
        facility_id=measure.facility_id,
        subject_type=measure.subject_type,
        subject_id=measure.subject_id,
        indicator=key,
        severity=severity,
        state=SignalState.open,
        evidence=measure.evidence,
        explanation_zh=zh,
        explanation_en=en,
        visit_id=measure.visit_id,
    )
    if not inserted(session, signal):
        return None
    return signal


def _reaches(severity: Severity, level: str | None) -> bool:
    return level is not None and RANK[severity] >= RANK[Severity(level)]


def _act(
    session: Session,
    *,
    settings: Settings,
    signal: Signal,
    levels: dict[str, Any],
    today: dt.date,
    report: schemas.EvaluationReport,
) -> None:
    """What a signal does as it opens or gets worse: an ad-hoc visit with its follow-up task, and a proposed
    risk-grade change, each from the severity the bank set."""
    if _reaches(signal.severity, levels.get("visit_from")) and signal.task_id is None:
        visit = _adhoc_visit(session, settings=settings, signal=signal, today=today)
        if visit is not None:
            if signal.visit_id is None:
                report.visits_scheduled += 1
            signal.visit_id = visit.id
            signal.task_id = _task(session, settings=settings, signal=signal, visit=visit, today=today).id
    if _reaches(signal.severity, levels.get("grade_from")):
        for facility in _facilities_of(session, signal):
            if _propose(session, signal=signal, facility=facility) is not None:
                report.grade_changes_proposed += 1


def _facilities_of(session: Session, signal: Signal) -> list[Facility]:
    if signal.facility_id is not None:
        facility = session.get(Facility, signal.facility_id)
        return [facility] if facility else []
    query = (
        select(Facility).where(Facility.borrower_id == signal.borrower_id).order_by(col(Facility.reference))
    )
    return list(session.scalars(query))


def _subject_for_visit(session: Session, signal: Signal) -> tuple[SubjectType, uuid.UUID, Facility] | None:
    """What an ad-hoc visit inspects: the signal's own collateral or project, else the first of its facility,
    else the first of the borrower's."""
    if signal.subject_type in ("collateral", "project") and signal.facility_id:
        facility = session.get(Facility, signal.facility_id)
        if facility is not None:
            return SubjectType(signal.subject_type), signal.subject_id, facility
    for facility in _facilities_of(session, signal):
        for kind, model in ((SubjectType.collateral, Collateral), (SubjectType.project, Project)):
            first = session.scalar(
                select(model.id)
                .where(model.facility_id == facility.id)
                .order_by(col(model.reference))
                .limit(1)
            )
            if first is not None:
                return kind, first, facility
    return None


def _adhoc_visit(session: Session, *, settings: Settings, signal: Signal, today: dt.date) -> Visit | None:
    """A visit of origin `signal`, due within the severity's days; the subject's open visit when it has one
    (it is moved earlier, never later)."""
    subject = _subject_for_visit(session, signal)
    if subject is None:
        return None
    kind, subject_id, facility = subject
    due_on = today + dt.timedelta(days=task_service.due_days(settings, signal.severity))
    open_visit = session.scalar(
        select(Visit).where(Visit.subject_id == subject_id, col(Visit.status).in_(OPEN_STATUSES)).limit(1)
    )
    if open_visit is not None:
        if open_visit.due_on > due_on and open_visit.status == VisitStatus.scheduled:
            open_visit.due_on = due_on
            open_visit.schedule_key = None  # no longer the scheduler's own date
        return open_visit
    version = checklist_service.current_version_for(session, subject_type=kind)
    if version is None:
        return None
    return visit_service.issue(
        session, facility=facility, subject_type=kind, subject_id=subject_id, version_id=version.id, due_on=due_on,
        origin=VisitOrigin.signal,
    )  # fmt: skip


def _task(
    session: Session, *, settings: Settings, signal: Signal, visit: Visit, today: dt.date
) -> FollowUpTask:
    open_key = f"signal:{signal.indicator}:{signal.subject_id}"
    existing = session.scalar(select(FollowUpTask).where(FollowUpTask.open_key == open_key))
    if existing is not None:
        return existing
    task = FollowUpTask(
        id=new_id(),
        open_key=open_key,
        branch_id=visit.branch_id,
        facility_id=visit.facility_id,
        subject_type=visit.subject_type,
        subject_id=visit.subject_id,
        rule_key=signal.indicator[:32],
        severity=signal.severity,
        state=TaskState.open,
        title_zh=signal.explanation_zh,
        title_en=signal.explanation_en,
        due_on=today + dt.timedelta(days=task_service.due_days(settings, signal.severity)),
        assignee_id=visit.manager_id,
        opened_by_visit_id=visit.id,
        last_seen_visit_id=visit.id,
    )
    session.add(task)
    session.flush()
    return task


def _propose(session: Session, *, signal: Signal, facility: Facility) -> GradeProposal | None:
    current = facility.risk_grade
    if current == RiskGrade.loss:
        return None
    open_key = f"grade:{facility.id}"
    if session.scalar(select(GradeProposal.id).where(GradeProposal.open_key == open_key)) is not None:
        return None
    proposed = GRADES[GRADES.index(current) + 1]
    proposal = GradeProposal(
        id=new_id(),
        open_key=open_key,
        facility_id=facility.id,
        branch_id=facility.branch_id,
        signal_id=signal.id,
        current_grade=current,
        proposed_grade=proposed,
        state=ProposalState.proposed,
        reason_zh=signal.explanation_zh,
        reason_en=signal.explanation_en,
    )
    if not inserted(session, proposal):
        return None
    return proposal


def evaluate(
    session: Session, *, settings: Settings, borrower_ids: Iterable[uuid.UUID] | None = None
) -> schemas.EvaluationReport:
    """The indicators on these borrowers (every borrower when None)."""
    report = schemas.EvaluationReport(
        borrowers=0, opened=0, updated=0, cleared=0, visits_scheduled=0, grade_changes_proposed=0
    )
    query = select(Borrower).order_by(col(Borrower.id))
    if borrower_ids is not None:
        ids = list(borrower_ids)
        if not ids:
            return report
        query = query.where(col(Borrower.id).in_(ids))
    settings_of = thresholds(session)
    borrowers = list(session.scalars(query).all())
    today = today_in(settings.timezone)
    for start in range(0, len(borrowers), FACTS_BATCH):
        batch = borrowers[start : start + FACTS_BATCH]
        facts = load_facts_many(session, borrowers=batch, today=today)
        for borrower in batch:
            evaluate_borrower(
                session,
                settings=settings,
                borrower=borrower,
                settings_of=settings_of,
                report=report,
                facts=facts[borrower.id],
            )
    return report


def evaluate_import(
    session: Session, *, settings: Settings, kind: str, text: str
) -> schemas.EvaluationReport:
    """After a monitoring file is imported (API or command line): the indicators of the borrowers it touched."""
    return evaluate(
        session, settings=settings, borrower_ids=borrowers_of_import(session, kind=kind, text=text)
    )


# ---- reading signals and proposals, deciding proposals ----


def scope_signals(query: Select[Any], user: User) -> Select[Any]:
    if user.role == Role.admin:
        return query
    if user.role == Role.service:  # a system granted portfolio:read: its branches
        branches = accounts.branch_scope(user)
        return query if branches is None else query.where(col(Signal.branch_id).in_(branches))
    if user.role in BRANCH_READERS:
        return query.where(col(Signal.branch_id) == user.branch_id)
    if user.role == Role.manager:
        mine = select(Facility.borrower_id).where(Facility.manager_id == user.id)
        return query.where(col(Signal.borrower_id).in_(mine))
    raise Forbidden("Signals are for the bank's staff.", detail_zh="预警信号仅供本行员工查看。")


def signal_public(session: Session, signal: Signal) -> schemas.SignalPublic:
    borrower = session.get(Borrower, signal.borrower_id)
    indicator = INDICATORS.get(signal.indicator)
    return schemas.SignalPublic.model_validate(
        signal,
        update={
            "borrower_name": borrower.name if borrower else "",
            "indicator_name_zh": indicator.name_zh if indicator else signal.indicator,
            "indicator_name_en": indicator.name_en if indicator else signal.indicator,
        },
    )


def list_signals(session: Session, *, user: User, where: schemas.SignalFilter) -> list[Signal]:
    query = scope_signals(select(Signal), user)
    if where.state:
        query = query.where(col(Signal.state) == where.state)
    if where.severity:
        query = query.where(col(Signal.severity) == where.severity)
    if where.indicator:
        query = query.where(col(Signal.indicator) == where.indicator)
    if where.borrower_id:
        query = query.where(col(Signal.borrower_id) == where.borrower_id)
    rows = list(session.scalars(query.order_by(col(Signal.last_seen_at).desc()).limit(500)))
    # Open first, then the most severe (a stable sort keeps the newest first within each).
    return sorted(rows, key=lambda s: (s.state != SignalState.open, -RANK[s.severity]))


def scope_proposals(query: Select[Any], user: User) -> Select[Any]:
    if user.role == Role.admin:
        return query
    if user.role in BRANCH_READERS:
        return query.where(col(GradeProposal.branch_id) == user.branch_id)
    if user.role == Role.manager:
        return query.where(
            col(GradeProposal.facility_id).in_(select(Facility.id).where(Facility.manager_id == user.id))
        )
    raise Forbidden("Risk grades are for the bank's staff.", detail_zh="风险分类仅供本行员工查看。")


def proposal_public(session: Session, proposal: GradeProposal) -> schemas.GradeProposalPublic:
    facility = session.get(Facility, proposal.facility_id)
    borrower = session.get(Borrower, facility.borrower_id) if facility else None
    return schemas.GradeProposalPublic.model_validate(
        proposal,
        update={
            "facility_reference": facility.reference if facility else "",
            "borrower_name": borrower.name if borrower else "",
        },
    )


def list_proposals(session: Session, *, user: User, state: ProposalState | None) -> list[GradeProposal]:
    query = scope_proposals(select(GradeProposal), user)
    if state is not None:
        query = query.where(col(GradeProposal.state) == state)
    return list(session.scalars(query.order_by(col(GradeProposal.created_at).desc()).limit(500)))


def decide_proposal(
    session: Session,
    *,
    settings: Settings,
    user: User,
    proposal_id: uuid.UUID,
    data: schemas.ProposalDecision,
) -> GradeProposal:
    """A reviewer of the facility's branch (or an admin) accepts or rejects; an accepted grade re-plans the
    facility's scheduled visits by the new grade's cadence."""
    if user.role not in (Role.reviewer, Role.admin):
        raise Forbidden("Only reviewers decide risk grades.", detail_zh="只有审核人员可以决定风险分类。")
    proposal: GradeProposal | None = session.scalar(
        scope_proposals(select(GradeProposal), user).where(col(GradeProposal.id) == proposal_id)
    )
    if proposal is None:
        raise NotFound("No such proposal.", detail_zh="风险分类调整建议不存在。")
    if proposal.state != ProposalState.proposed:
        raise Conflict("This proposal has been decided.", detail_zh="该建议已处理。")
    proposal.state = ProposalState.accepted if data.decision == "accept" else ProposalState.rejected
    proposal.decided_by_id, proposal.decided_at = user.id, utcnow()
    proposal.decision_comment, proposal.open_key = data.comment, None
    if proposal.state == ProposalState.accepted:
        facility = session.get(Facility, proposal.facility_id)
        assert facility is not None
        facility.risk_grade = proposal.proposed_grade
        replan(session, settings=settings, facility=facility)
    session.flush()
    return proposal


def replan(session: Session, *, settings: Settings, facility: Facility) -> int:
    """Move each visit the scheduler issued and nobody has moved or started to the new grade's cadence after the
    subject's last approved visit — never into the past. Returns how many moved."""
    today = today_in(settings.timezone)
    days = settings.cadence.days_for(facility.risk_grade.value)
    moved = 0
    visits = session.scalars(
        select(Visit).where(
            Visit.facility_id == facility.id,
            Visit.status == VisitStatus.scheduled,
            Visit.origin == VisitOrigin.scheduled,
            # A date someone brought forward (a signal) is no longer the scheduler's: it stays.
            col(Visit.schedule_key).is_not(None),
        )
    )
    for visit in visits:
        last = session.scalar(
            select(func.max(Visit.decided_at)).where(
                Visit.subject_id == visit.subject_id, Visit.status == VisitStatus.approved
            )
        )
        start = last.date() if last else (facility.disbursed_on or today)
        due_on = max(today, start + dt.timedelta(days=days))
        if due_on != visit.due_on:
            visit.due_on = due_on
            visit.schedule_key = f"{visit.subject_type.value}:{visit.subject_id}:{due_on.isoformat()}"
            moved += 1
    return moved


# ---- the borrower page ----


def overview(
    session: Session, *, settings: Settings, user: User, borrower_id: uuid.UUID
) -> schemas.BorrowerOverview:
    """One borrower's facilities (with the newest repayment status and an open grade proposal), collateral and
    projects, figures (the newest set per period), signals, visits and open tasks — within the user's scope."""
    from api.portfolio import schemas as portfolio_schemas
    from api.tasks.models import OPEN_TASK_STATES

    borrower = portfolio_service.visible_borrower(session, user=user, borrower_id=borrower_id)
    facilities = list(
        session.scalars(
            portfolio_service.scope_facilities(select(Facility), user)
            .where(col(Facility.borrower_id) == borrower.id)
            .order_by(col(Facility.reference))
        )
    )
    facility_ids = [f.id for f in facilities]
    rows = []
    for facility in facilities:
        repayment = next(iter(repayment_history(session, facility_id=facility.id)), None)
        proposal = session.scalar(
            select(GradeProposal).where(
                GradeProposal.facility_id == facility.id, GradeProposal.state == ProposalState.proposed
            )
        )
        rows.append(
            schemas.FacilityOverview(
                facility=portfolio_schemas.FacilityPublic.model_validate(facility),
                repayment=schemas.RepaymentPublic.model_validate(repayment) if repayment else None,
                open_proposal=proposal_public(session, proposal) if proposal else None,
            )
        )
    collateral = session.scalars(
        select(Collateral)
        .where(col(Collateral.facility_id).in_(facility_ids))
        .order_by(col(Collateral.reference))
    )
    projects = session.scalars(
        select(Project).where(col(Project.facility_id).in_(facility_ids)).order_by(col(Project.reference))
    )
    newest: dict[str, BorrowerFigures] = {}
    for row in figures_history(session, borrower_id=borrower.id):
        newest.setdefault(row.period, row)
    periods_kept = sorted(newest.values(), key=lambda r: r.period_end)[-12:]
    signals = list_signals(session, user=user, where=schemas.SignalFilter(borrower_id=borrower.id))
    today = today_in(settings.timezone)
    visits = session.scalars(
        visit_service.scope_visits(select(Visit), user)
        .where(col(Visit.borrower_id) == borrower.id)
        .order_by(col(Visit.due_on).desc())
        .limit(50)
    ).all()
    tasks = session.scalars(
        task_service.scope_tasks(select(FollowUpTask), user)
        .where(col(FollowUpTask.facility_id).in_(facility_ids), col(FollowUpTask.state).in_(OPEN_TASK_STATES))
        .order_by(col(FollowUpTask.due_on))
    ).all()
    return schemas.BorrowerOverview(
        borrower=portfolio_schemas.BorrowerPublic.model_validate(borrower),
        facilities=rows,
        collateral=[portfolio_service.collateral_public(c) for c in collateral],
        projects=[portfolio_service.project_public(session, p) for p in projects],
        figures=[schemas.FiguresPublic.model_validate(r) for r in periods_kept],
        signals=[signal_public(session, s) for s in signals[:50]],
        visits=[visit_service.summary(v, borrower.name, today) for v in visits],
        tasks=[task_service.public(session, t, today) for t in tasks],
        **_cases_and_contacts(session, user=user, borrower_id=borrower.id, today=today),
    )


def _cases_and_contacts(
    session: Session, *, user: User, borrower_id: uuid.UUID, today: dt.date
) -> dict[str, list[Any]]:
    """The borrower's cases and contact log, for people (a system reading the portfolio sees neither)."""
    from api.cases import service as case_service
    from api.contacts import service as contact_service

    if user.role == Role.service:
        return {"cases": [], "contacts": []}
    cases = case_service.list_cases(
        session, user=user, where=case_service.CaseFilter(borrower_id=borrower_id)
    )
    contacts = contact_service.list_contacts(session, user=user, borrower_id=borrower_id, visit_id=None)
    return {
        "cases": [case_service.public(session, c, user=user, today=today) for c in cases],
        "contacts": [contact_service.public(session, c) for c in contacts[:50]],
    }
