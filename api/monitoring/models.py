"""What monitoring keeps: figures and repayment status as received (history, never overwritten), the bank's
thresholds per early-warning indicator, the signals they fire and the risk-grade changes they propose."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from typing import Any

from sqlalchemy import Column, Enum, Index
from sqlmodel import Field, SQLModel

from api.checklists.schemas import Severity
from api.db import JSONDoc, Money, UTCDateTime, new_id, utcnow
from api.portfolio.models import RiskGrade


def _enum(kind: type[enum.StrEnum], length: int = 32) -> Enum:
    return Enum(kind, native_enum=False, length=length, validate_strings=True)


class FiguresBase(SQLModel):
    """One period's figures of a borrower as received (财务报表摘要), in its currency's units."""

    borrower_id: uuid.UUID = Field(foreign_key="borrower.id")
    period: str = Field(max_length=7, description="2026Q3 (a quarter), 2026-09 (a month) or 2026 (a year).")
    period_end: dt.date
    currency: str = Field(default="CNY", max_length=3)
    revenue: decimal.Decimal | None = Field(default=None, sa_type=Money)
    net_profit: decimal.Decimal | None = Field(default=None, sa_type=Money)
    operating_cash_flow: decimal.Decimal | None = Field(default=None, sa_type=Money)
    accounts_receivable: decimal.Decimal | None = Field(default=None, sa_type=Money)
    inventory: decimal.Decimal | None = Field(default=None, sa_type=Money)
    total_liabilities: decimal.Decimal | None = Field(default=None, sa_type=Money)
    total_assets: decimal.Decimal | None = Field(default=None, sa_type=Money)
    current_assets: decimal.Decimal | None = Field(default=None, sa_type=Money)
    current_liabilities: decimal.Decimal | None = Field(default=None, sa_type=Money)
    headcount: int | None = Field(default=None)
    source: str = Field(default="", max_length=64)
    reported_on: dt.date


class BorrowerFigures(FiguresBase, table=True):
    __tablename__ = "borrower_figures"
    __table_args__ = (
        Index("ix_borrower_figures_borrower_period", "borrower_id", "period_end", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ProjectFiguresBase(SQLModel):
    """A financed project's cumulative investment and progress at a period's end, planned and actual."""

    project_id: uuid.UUID = Field(foreign_key="project.id")
    period: str = Field(max_length=7)
    period_end: dt.date
    planned_investment: decimal.Decimal | None = Field(default=None, sa_type=Money)
    actual_investment: decimal.Decimal | None = Field(default=None, sa_type=Money)
    planned_progress_pct: decimal.Decimal | None = Field(default=None, sa_type=Money)
    actual_progress_pct: decimal.Decimal | None = Field(default=None, sa_type=Money)
    source: str = Field(default="", max_length=64)
    reported_on: dt.date


class ProjectFigures(ProjectFiguresBase, table=True):
    __tablename__ = "project_figures"
    __table_args__ = (Index("ix_project_figures_project_period", "project_id", "period_end", "created_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RepaymentBase(SQLModel):
    """A facility's repayment status on a day, from the core-banking extract (逾期天数)."""

    facility_id: uuid.UUID = Field(foreign_key="facility.id")
    as_of: dt.date
    days_past_due: int = Field(ge=0)
    outstanding: decimal.Decimal | None = Field(default=None, sa_type=Money)
    source: str = Field(default="", max_length=64)


class RepaymentStatus(RepaymentBase, table=True):
    __tablename__ = "repayment_status"
    __table_args__ = (Index("ix_repayment_status_facility_as_of", "facility_id", "as_of", "created_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class IndicatorSetting(SQLModel, table=True):
    """The bank's own thresholds for one indicator (its defaults live in indicators.py); off when disabled."""

    __tablename__ = "indicator_setting"

    key: str = Field(primary_key=True, max_length=40)
    enabled: bool = Field(default=True)
    thresholds: dict[str, Any] = Field(sa_column=Column(JSONDoc, nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_by_id: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")


class SignalState(enum.StrEnum):
    open = "open"
    cleared = "cleared"  # the indicator no longer fires


class SignalBase(SQLModel):
    """One indicator firing for one subject, with its evidence (风险预警信号)."""

    branch_id: uuid.UUID = Field(foreign_key="branch.id", index=True)
    borrower_id: uuid.UUID = Field(foreign_key="borrower.id", index=True)
    facility_id: uuid.UUID | None = Field(default=None, foreign_key="facility.id")
    subject_type: str = Field(max_length=16, description="borrower, facility, collateral or project")
    subject_id: uuid.UUID
    indicator: str = Field(max_length=40, index=True)
    severity: Severity = Field(sa_column=Column(_enum(Severity, 16), index=True, nullable=False))
    state: SignalState = Field(sa_column=Column(_enum(SignalState, 16), index=True, nullable=False))
    evidence: dict[str, Any] = Field(sa_column=Column(JSONDoc, nullable=False))
    explanation_zh: str = Field(max_length=500)
    explanation_en: str = Field(max_length=500)
    occurrences: int = Field(default=1)
    task_id: uuid.UUID | None = Field(default=None, foreign_key="follow_up_task.id")
    visit_id: uuid.UUID | None = Field(default=None, foreign_key="visit.id")
    first_seen_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    cleared_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class Signal(SignalBase, table=True):
    """`open_key` (indicator and subject) is set while the signal is open: a unique constraint, not a lock,
    keeps a second one from opening when two evaluations run at once."""

    __tablename__ = "risk_signal"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    open_key: str | None = Field(default=None, unique=True, max_length=120)


class ProposalState(enum.StrEnum):
    proposed = "proposed"
    accepted = "accepted"
    rejected = "rejected"


class GradeProposalBase(SQLModel):
    """A change of a facility's risk grade (五级分类) a signal proposes; a reviewer accepts or rejects it."""

    facility_id: uuid.UUID = Field(foreign_key="facility.id", index=True)
    branch_id: uuid.UUID = Field(foreign_key="branch.id", index=True)
    signal_id: uuid.UUID | None = Field(default=None, foreign_key="risk_signal.id")
    current_grade: RiskGrade = Field(sa_column=Column(_enum(RiskGrade), nullable=False))
    proposed_grade: RiskGrade = Field(sa_column=Column(_enum(RiskGrade), nullable=False))
    reason_zh: str = Field(max_length=500)
    reason_en: str = Field(max_length=500)
    state: ProposalState = Field(sa_column=Column(_enum(ProposalState, 16), index=True, nullable=False))
    decided_by_id: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    decided_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    decision_comment: str = Field(default="", max_length=2000)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class GradeProposal(GradeProposalBase, table=True):
    """One open proposal per facility (`open_key` set while proposed)."""

    __tablename__ = "grade_proposal"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    open_key: str | None = Field(default=None, unique=True, max_length=60)
