from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal
from urllib.parse import urlencode

from pydantic import BaseModel, Field, model_validator

from api.auth.models import BRANCH_READERS, User
from api.kit.dates import IsoDate
from api.portfolio.models import RiskGrade


class DashboardFilter(BaseModel):
    branch_id: uuid.UUID | None = Field(None, description="Admins only; a reviewer always sees their branch.")
    manager_id: uuid.UUID | None = None
    risk_grade: RiskGrade | None = None
    period: Literal["month", "quarter"] = "month"
    date_from: IsoDate | None = Field(None, description="Overrides the period's first day.")
    date_to: IsoDate | None = Field(None, description="Overrides the period's last day.")
    sites: bool = Field(True, description="Include the sites for the map (at most 5,000).")

    @model_validator(mode="after")
    def _in_order(self) -> DashboardFilter:
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise ValueError("date_to is before date_from")
        return self


class ManagerRow(BaseModel):
    manager_id: uuid.UUID
    name: str
    due: int = Field(description="Visits waiting for the manager, due in the period and not late yet.")
    overdue: int = Field(description="Visits waiting for the manager, past their due date today.")
    done: int = Field(description="Visits approved in the period.")


class VisitFigures(BaseModel):
    due: int
    overdue: int
    done: int
    by_manager: list[ManagerRow]


class TaskFigures(BaseModel):
    open_by_severity: dict[str, int]
    open_by_age_days: dict[str, int] = Field(description="Open tasks by days since opened: 0-7, 8-30, 31+.")
    past_due: int = Field(description="Open tasks past their own due date.")


class CaseFigures(BaseModel):
    open: int = Field(description="Cases submitted or under review (the branch's; drafts are their owners').")
    overdue: int = Field(description="Of those, past their due date.")


class IndicatorRow(BaseModel):
    indicator: str
    name_zh: str
    name_en: str
    open: int
    by_severity: dict[str, int]


class FindingsMonth(BaseModel):
    month: str = Field(description="YYYY-MM (UTC months)")
    by_severity: dict[str, int]


class RepeatedRow(BaseModel):
    borrower_id: uuid.UUID
    name: str
    findings: int = Field(description="Findings (rule and item) seen on two or more approved visits.")
    most_visits: int = Field(description="The most approved visits one of them was found on.")


class Site(BaseModel):
    subject_type: str
    subject_id: uuid.UUID
    name: str
    borrower_name: str
    lat: float = Field(description="WGS-84")
    lon: float
    state: Literal["overdue", "due", "ok"]
    visit_id: uuid.UUID | None


class Links(BaseModel):
    """The API lists behind the figures, with the dashboard's filters (the web app opens them as screens)."""

    visits_due: str
    visits_overdue: str
    visits_done: str
    tasks_open: str
    signals_open: str
    cases_open: str = "/api/v1/cases?open=true"

    @classmethod
    def of(cls, user: User, where: DashboardFilter, today: dt.date, start: dt.date, end: dt.date) -> Links:
        common: dict[str, str | list[str]] = {}
        branch = user.branch_id if user.role in BRANCH_READERS else where.branch_id
        if branch:
            common["branch_id"] = str(branch)
        if where.manager_id:
            common["manager_id"] = str(where.manager_id)

        def visits(**extra: str | list[str]) -> str:
            return "/api/v1/visits?" + urlencode({**common, **extra}, doseq=True)

        signal = {"state": "open"}
        return cls(
            visits_due=visits(due_from=max(start, today).isoformat(), due_to=end.isoformat(), overdue="false",
                              status=["scheduled", "in_progress", "returned"]),
            visits_overdue=visits(overdue="true"),
            visits_done=visits(status="approved"),
            tasks_open="/api/v1/tasks?" + urlencode({"state": "open"}),
            signals_open="/api/v1/signals?" + urlencode(signal),
        )  # fmt: skip


class Dashboard(BaseModel):
    period_from: dt.date
    period_to: dt.date
    today: dt.date
    visits: VisitFigures
    tasks: TaskFigures
    cases: CaseFigures
    signals: list[IndicatorRow]
    findings_trend: list[FindingsMonth]
    repeated_findings: list[RepeatedRow]
    sites: list[Site]
    links: Links
