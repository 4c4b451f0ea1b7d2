"""Monitoring endpoints: figures and repayment status in and out, indicator thresholds, signals, risk-grade
proposals and their decisions."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlmodel import col, select

from api.auth.dependencies import AdminUser, CurrentUser, PortfolioReader, SettingsDep, StaffUser
from api.checklists.schemas import Severity
from api.db import CommitFirstRoute, SessionDep
from api.errors import NotFound
from api.monitoring import schemas, service
from api.monitoring.models import (
    BorrowerFigures,
    ProjectFigures,
    ProposalState,
    RepaymentStatus,
    Signal,
    SignalState,
)
from api.portfolio import service as portfolio_service

router = APIRouter(prefix="/api/v1", tags=["monitoring"], route_class=CommitFirstRoute)


@router.post(
    "/borrowers/{borrower_id}/figures",
    response_model=schemas.FiguresPublic,
    status_code=201,
    summary="Add a borrower's figures for a period (财务数据)",
    description="Kept beside what was received before (a restated period is a newer set, the older one stays "
    "as history); the borrower's early-warning indicators are evaluated at once. Files: "
    "`POST /api/v1/imports/figures`.",
)
def add_figures(
    borrower_id: uuid.UUID,
    body: schemas.FiguresIn,
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
) -> BorrowerFigures:
    borrower = portfolio_service.visible_borrower(session, user=admin, borrower_id=borrower_id)
    row = service.add_figures(session, borrower=borrower, data=body)
    service.evaluate(session, settings=settings, borrower_ids=[borrower.id])
    return row


@router.get(
    "/borrowers/{borrower_id}/figures",
    response_model=list[schemas.FiguresPublic],
    summary="A borrower's figures, every set received, newest period first",
)
def figures(borrower_id: uuid.UUID, user: PortfolioReader, session: SessionDep) -> list[BorrowerFigures]:
    borrower = portfolio_service.visible_borrower(session, user=user, borrower_id=borrower_id)
    return service.figures_history(session, borrower_id=borrower.id)


@router.post(
    "/projects/{project_id}/figures",
    response_model=schemas.ProjectFiguresPublic,
    status_code=201,
    summary="Add a project's investment and progress for a period",
)
def add_project_figures(
    project_id: uuid.UUID,
    body: schemas.ProjectFiguresIn,
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
) -> ProjectFigures:
    project = service.project_for(session, user=admin, project_id=project_id)
    row = service.add_project_figures(session, project=project, data=body)
    facility = portfolio_service.visible_facility(session, user=admin, facility_id=project.facility_id)
    service.evaluate(session, settings=settings, borrower_ids=[facility.borrower_id])
    return row


@router.get(
    "/projects/{project_id}/figures",
    response_model=list[schemas.ProjectFiguresPublic],
    summary="A project's investment and progress, newest period first",
)
def project_figures(
    project_id: uuid.UUID, user: PortfolioReader, session: SessionDep
) -> list[ProjectFigures]:
    project = service.project_for(session, user=user, project_id=project_id)
    return service.project_history(session, project_id=project.id)


@router.post(
    "/facilities/{facility_id}/repayments",
    response_model=schemas.RepaymentPublic,
    status_code=201,
    summary="Add a facility's repayment status (逾期天数) from the core-banking extract",
)
def add_repayment(
    facility_id: uuid.UUID,
    body: schemas.RepaymentIn,
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
) -> RepaymentStatus:
    facility = portfolio_service.visible_facility(session, user=admin, facility_id=facility_id)
    row = service.add_repayment(session, facility=facility, data=body)
    service.evaluate(session, settings=settings, borrower_ids=[facility.borrower_id])
    return row


@router.get(
    "/facilities/{facility_id}/repayments",
    response_model=list[schemas.RepaymentPublic],
    summary="A facility's repayment status, newest first",
)
def repayments(facility_id: uuid.UUID, user: PortfolioReader, session: SessionDep) -> list[RepaymentStatus]:
    facility = portfolio_service.visible_facility(session, user=user, facility_id=facility_id)
    return service.repayment_history(session, facility_id=facility.id)


@router.get(
    "/indicators",
    response_model=list[schemas.IndicatorPublic],
    summary="Early-warning indicators (风险预警指标) and the bank's thresholds",
)
def indicators(user: StaffUser, session: SessionDep) -> list[schemas.IndicatorPublic]:
    return [
        service.indicator_public(key, enabled, levels)
        for key, (enabled, levels) in service.thresholds(session).items()
    ]


@router.put(
    "/indicators/{key}",
    response_model=schemas.IndicatorPublic,
    summary="Set an indicator's thresholds and actions, or turn it off",
)
def set_indicator(
    key: str, body: schemas.IndicatorUpdate, admin: AdminUser, session: SessionDep
) -> schemas.IndicatorPublic:
    enabled, levels = service.set_thresholds(session, key=key, data=body, user=admin)
    return service.indicator_public(key, enabled, levels)


@router.post(
    "/monitoring/evaluate",
    response_model=schemas.EvaluationReport,
    summary="Evaluate every borrower's indicators now (also done daily by `fieldvisit tick`)",
)
def evaluate_now(admin: AdminUser, session: SessionDep, settings: SettingsDep) -> schemas.EvaluationReport:
    return service.evaluate(session, settings=settings)


def _signal_filter(
    state: SignalState | None = None,
    severity: Severity | None = None,
    indicator: str | None = Query(None, max_length=40),
    borrower_id: uuid.UUID | None = None,
) -> schemas.SignalFilter:
    return schemas.SignalFilter(state=state, severity=severity, indicator=indicator, borrower_id=borrower_id)


@router.get(
    "/signals",
    response_model=list[schemas.SignalPublic],
    summary="Early-warning signals (风险预警信号), open first and most severe first",
)
def signals(
    user: PortfolioReader,
    session: SessionDep,
    where: Annotated[schemas.SignalFilter, Depends(_signal_filter)],
) -> list[schemas.SignalPublic]:
    return [service.signal_public(session, s) for s in service.list_signals(session, user=user, where=where)]


@router.get(
    "/signals/{signal_id}", response_model=schemas.SignalPublic, summary="One signal with its evidence"
)
def signal(signal_id: uuid.UUID, user: PortfolioReader, session: SessionDep) -> schemas.SignalPublic:
    found: Signal | None = session.scalar(
        service.scope_signals(select(Signal), user).where(col(Signal.id) == signal_id)
    )
    if found is None:
        raise NotFound("No such signal.", detail_zh="预警信号不存在。")
    return service.signal_public(session, found)


@router.get(
    "/grade-proposals",
    response_model=list[schemas.GradeProposalPublic],
    summary="Proposed changes of risk grade (五级分类调整建议)",
)
def proposals(
    user: CurrentUser, session: SessionDep, state: ProposalState | None = None
) -> list[schemas.GradeProposalPublic]:
    return [
        service.proposal_public(session, p) for p in service.list_proposals(session, user=user, state=state)
    ]


@router.post(
    "/grade-proposals/{proposal_id}/decision",
    response_model=schemas.GradeProposalPublic,
    summary="Accept or reject a proposed risk grade",
    description="A reviewer of the facility's branch, or an admin. Accepting changes the facility's grade and "
    "moves its scheduled visits to the new grade's cadence (never into the past).",
)
def decide(
    proposal_id: uuid.UUID,
    body: schemas.ProposalDecision,
    user: StaffUser,
    session: SessionDep,
    settings: SettingsDep,
) -> schemas.GradeProposalPublic:
    proposal = service.decide_proposal(
        session, settings=settings, user=user, proposal_id=proposal_id, data=body
    )
    return service.proposal_public(session, proposal)


@router.get(
    "/borrowers/{borrower_id}/overview",
    response_model=schemas.BorrowerOverview,
    summary="The borrower page: facilities, collateral, projects, figures, signals, visits and tasks at once",
)
def borrower_overview(
    borrower_id: uuid.UUID, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> schemas.BorrowerOverview:
    return service.overview(session, settings=settings, user=user, borrower_id=borrower_id)
