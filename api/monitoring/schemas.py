"""Monitoring's API shapes: figures and repayment status in (one, or a file), history, indicators, signals,
risk-grade proposals."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from api.checklists.schemas import Severity
from api.db import PUBLIC
from api.kit.dates import IsoDate
from api.monitoring import periods
from api.monitoring.models import (
    FiguresBase,
    GradeProposalBase,
    ProjectFiguresBase,
    RepaymentBase,
    SignalBase,
    SignalState,
)
from api.portfolio.schemas import Amount, CreditCode, Currency, Reference


def _period(value: str) -> str:
    periods.period_end(value)  # raises ValueError with what a period looks like
    return value


Period = Annotated[
    str,
    Field(min_length=4, max_length=7, description="2026 (a year), 2026Q3 (a quarter) or 2026-09 (a month)."),
    AfterValidator(_period),
]
Signed = Annotated[decimal.Decimal, Field(max_digits=20, decimal_places=4, allow_inf_nan=False)]
NotNegative = Annotated[decimal.Decimal, Field(ge=0, max_digits=20, decimal_places=4, allow_inf_nan=False)]
Percent = Annotated[
    decimal.Decimal, Field(ge=0, le=1000, max_digits=9, decimal_places=4, allow_inf_nan=False)
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FiguresIn(Strict):
    """A borrower's figures for one period, in the currency's units (yuan, not 万元). Any may be left out."""

    period: Period
    currency: Currency = "CNY"
    revenue: NotNegative | None = None
    net_profit: Signed | None = None
    operating_cash_flow: Signed | None = None
    accounts_receivable: NotNegative | None = None
    inventory: NotNegative | None = None
    total_liabilities: NotNegative | None = None
    total_assets: NotNegative | None = None
    current_assets: NotNegative | None = None
    current_liabilities: NotNegative | None = None
    # Strict: a JSON true is not one employee, nor one day past due.
    headcount: int | None = Field(None, ge=0, le=10_000_000, strict=True)
    source: str = Field("", max_length=64, description="Where the figures come from: 年报, 季报, 征信…")
    reported_on: IsoDate

    @model_validator(mode="after")
    def _something(self) -> FiguresIn:
        names = set(FiguresIn.model_fields) - {"period", "currency", "source", "reported_on"}
        if all(getattr(self, name) is None for name in names):
            raise ValueError("no figure is given")
        return self


class FiguresImport(FiguresIn):
    """A row of a figures file: the borrower by its unified social credit code."""

    borrower_credit_code: CreditCode


class FiguresPublic(FiguresBase):
    model_config = PUBLIC

    id: uuid.UUID
    created_at: dt.datetime


class ProjectFiguresIn(Strict):
    period: Period
    planned_investment: NotNegative | None = None
    actual_investment: NotNegative | None = None
    planned_progress_pct: Percent | None = None
    actual_progress_pct: Percent | None = None
    source: str = Field("", max_length=64)
    reported_on: IsoDate


class ProjectFiguresImport(ProjectFiguresIn):
    project_reference: Reference


class ProjectFiguresPublic(ProjectFiguresBase):
    model_config = PUBLIC

    id: uuid.UUID
    created_at: dt.datetime


class RepaymentIn(Strict):
    as_of: IsoDate
    days_past_due: int = Field(ge=0, le=100_000, strict=True)
    outstanding: Amount | None = Field(None, ge=0)
    source: str = Field("", max_length=64, description="The core-banking extract it came from.")


class RepaymentImport(RepaymentIn):
    facility_reference: Reference


class RepaymentPublic(RepaymentBase):
    model_config = PUBLIC

    id: uuid.UUID
    created_at: dt.datetime


class IndicatorPublic(BaseModel):
    key: str
    name_zh: str
    name_en: str
    direction: Literal["at_least", "below"] = Field(
        description="at_least: fires when the value reaches a threshold; below: when it falls under one."
    )
    enabled: bool
    thresholds: dict[str, Any] = Field(
        description="critical/major/minor thresholds (null: that severity is never reached), `visit_from` (the "
        "least severity that schedules an ad-hoc visit) and `grade_from` (that proposes a risk-grade change)."
    )
    defaults: dict[str, Any]


Level = Literal["critical", "major", "minor"]


class IndicatorUpdate(Strict):
    enabled: bool = True
    critical: float | None = Field(None, allow_inf_nan=False, strict=True)
    major: float | None = Field(None, allow_inf_nan=False, strict=True)
    minor: float | None = Field(None, allow_inf_nan=False, strict=True)
    visit_from: Level | None = None
    grade_from: Level | None = None

    @model_validator(mode="after")
    def _some_level(self) -> IndicatorUpdate:
        if self.critical is None and self.major is None and self.minor is None:
            raise ValueError("give at least one of critical, major, minor")
        return self


class SignalPublic(SignalBase):
    model_config = PUBLIC

    id: uuid.UUID
    borrower_name: str = ""
    indicator_name_zh: str = ""
    indicator_name_en: str = ""


class SignalFilter(BaseModel):
    state: SignalState | None = None
    severity: Severity | None = None
    indicator: str | None = None
    borrower_id: uuid.UUID | None = None


class GradeProposalPublic(GradeProposalBase):
    model_config = PUBLIC

    id: uuid.UUID
    facility_reference: str = ""
    borrower_name: str = ""


class ProposalDecision(Strict):
    decision: Literal["accept", "reject"]
    comment: str = Field("", max_length=2000)


class EvaluationReport(BaseModel):
    borrowers: int
    opened: int
    updated: int
    cleared: int
    visits_scheduled: int
    grade_changes_proposed: int


class FacilityOverview(BaseModel):
    facility: Any = Field(description="The facility as GET /facilities/{id} gives it.")
    repayment: RepaymentPublic | None = Field(description="The newest repayment status received.")
    open_proposal: GradeProposalPublic | None


class BorrowerOverview(BaseModel):
    """Everything about one borrower on one screen (the borrower page)."""

    borrower: Any
    facilities: list[FacilityOverview]
    collateral: list[Any]
    projects: list[Any]
    figures: list[FiguresPublic] = Field(
        description="The newest set of each period, oldest period first (≤ 12)."
    )
    signals: list[SignalPublic] = Field(description="Open ones, then the last cleared (≤ 50).")
    visits: list[Any] = Field(description="The borrower's visits, newest due first (≤ 50).")
    tasks: list[Any] = Field(description="Open follow-up tasks.")
    cases: list[Any] = Field(default_factory=list, description="Referrals and escalations (案件), due first.")
    contacts: list[Any] = Field(
        default_factory=list, description="The contact log (沟通记录), newest first (≤ 50)."
    )
