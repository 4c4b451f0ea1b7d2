"""Early-warning indicators (风险预警指标): each a typed rule over one borrower's facts — periodic figures,
repayment status, collateral, project progress, visits and their findings — measured as one number per subject
and compared with the bank's thresholds per severity (`IndicatorSetting`, defaults here).

A measure says what it found in both languages, with the figures it used as evidence; the thresholds decide
whether, and how severely, it fires. Pure functions over `Facts`: the tests build the facts themselves.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from api.checklists.schemas import Severity
from api.monitoring import periods

SEVERITIES = (Severity.critical, Severity.major, Severity.minor)  # most severe first
D = decimal.Decimal


@dataclass
class FacilityFacts:
    id: uuid.UUID
    reference: str
    amount: D
    days_past_due: int | None = None
    as_of: dt.date | None = None
    outstanding: D | None = None
    collateral_value: D = field(default_factory=lambda: D(0))
    collateral_count: int = 0


@dataclass
class ProjectFacts:
    id: uuid.UUID
    facility_id: uuid.UUID
    name: str
    # The latest figures received for each period, by period.
    figures: dict[str, dict[str, D | None]] = field(default_factory=dict)


@dataclass
class SubjectVisits:
    """A collateral's or project's visits, as monitoring reads them."""

    subject_type: str
    subject_id: uuid.UUID
    facility_id: uuid.UUID
    name: str
    overdue_days: int = 0  # the open visit's days past its due date, 0 when none is late
    overdue_visit_id: uuid.UUID | None = None
    # Critical findings (rule:item) of each approved visit, newest first, with the visit's id and date.
    approved: list[tuple[uuid.UUID, dt.date, set[str]]] = field(default_factory=list)


@dataclass
class Facts:
    borrower_id: uuid.UUID
    borrower_name: str
    # The latest figures received for each period, by period (2026Q3 → {"revenue": …}).
    figures: dict[str, dict[str, D | None]] = field(default_factory=dict)
    facilities: list[FacilityFacts] = field(default_factory=list)
    projects: list[ProjectFacts] = field(default_factory=list)
    subjects: list[SubjectVisits] = field(default_factory=list)


@dataclass(frozen=True)
class Measure:
    """One subject's value of an indicator, what it means in words, and the evidence behind it."""

    subject_type: str
    subject_id: uuid.UUID
    facility_id: uuid.UUID | None
    value: float
    evidence: dict[str, Any]
    said_zh: str
    said_en: str
    visit_id: uuid.UUID | None = None  # a visit the signal is about (an overdue one, the last approved)


@dataclass(frozen=True)
class Indicator:
    key: str
    name_zh: str
    name_en: str
    # at_least: fires when the value reaches a threshold; below: when it falls under one.
    direction: Literal["at_least", "below"]
    defaults: dict[str, Any]
    measure: Callable[[Facts], Iterator[Measure]]

    def severity(self, value: float, thresholds: dict[str, Any]) -> Severity | None:
        for severity in SEVERITIES:
            bound = thresholds.get(severity.value)
            if bound is None:
                continue
            if (value >= bound) if self.direction == "at_least" else (value < bound):
                return severity
        return None


def _pct(value: D) -> str:
    return f"{value:.1f}%"


def _money(value: D | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _latest(figures: dict[str, dict[str, D | None]], name: str) -> str | None:
    """The newest period that has this figure."""
    having = [p for p, row in figures.items() if row.get(name) is not None]
    return max(having, key=periods.period_end) if having else None


def _borrower(facts: Facts, value: float, evidence: dict[str, Any], zh: str, en: str) -> Measure:
    return Measure("borrower", facts.borrower_id, None, value, evidence, zh, en)


def revenue_drop(facts: Facts) -> Iterator[Measure]:
    period = _latest(facts.figures, "revenue")
    if period is None:
        return
    earlier = periods.year_before(period)
    now, then = facts.figures[period].get("revenue"), facts.figures.get(earlier, {}).get("revenue")
    if now is None or then is None or then <= 0:
        return
    drop = (then - now) / then * 100
    yield _borrower(
        facts,
        float(drop),
        {
            "period": period,
            "revenue": str(now),
            "same_period_last_year": earlier,
            "revenue_last_year": str(then),
        },
        f"{period} 营业收入 {_money(now)}，较上年同期（{earlier}）{_money(then)} 下降 {_pct(drop)}",
        f"revenue {_money(now)} in {period}, down {_pct(drop)} on {_money(then)} a year earlier ({earlier})",
    )


def negative_cash_flow(facts: Facts) -> Iterator[Measure]:
    period = _latest(facts.figures, "operating_cash_flow")
    if period is None:
        return
    run: list[str] = []
    while (value := facts.figures.get(period, {}).get("operating_cash_flow")) is not None and value < 0:
        run.append(period)
        period = periods.before(period)
    if not run:
        return
    yield _borrower(
        facts,
        len(run),
        {"periods": run, "operating_cash_flow": [str(facts.figures[p]["operating_cash_flow"]) for p in run]},
        f"经营活动现金流连续 {len(run)} 期为负（{'、'.join(reversed(run))}）",
        f"operating cash flow negative {len(run)} period(s) running ({', '.join(reversed(run))})",
    )


def leverage(facts: Facts) -> Iterator[Measure]:
    having = [
        p
        for p, row in facts.figures.items()
        if row.get("total_liabilities") is not None and row.get("total_assets")
    ]
    if not having:
        return
    period = max(having, key=periods.period_end)
    liabilities, assets = facts.figures[period]["total_liabilities"], facts.figures[period]["total_assets"]
    assert liabilities is not None and assets is not None
    if assets <= 0:
        return
    ratio = liabilities / assets * 100
    yield _borrower(
        facts,
        float(ratio),
        {"period": period, "total_liabilities": str(liabilities), "total_assets": str(assets)},
        f"{period} 资产负债率 {_pct(ratio)}（负债 {_money(liabilities)} / 资产 {_money(assets)}）",
        f"liabilities {_pct(ratio)} of assets in {period} ({_money(liabilities)} / {_money(assets)})",
    )


def receivables_outpacing(facts: Facts) -> Iterator[Measure]:
    having = [
        p
        for p, row in facts.figures.items()
        if row.get("accounts_receivable") is not None and row.get("revenue")
    ]
    if not having:
        return
    period = max(having, key=periods.period_end)
    earlier = facts.figures.get(periods.year_before(period), {})
    ar_now, rev_now = facts.figures[period]["accounts_receivable"], facts.figures[period]["revenue"]
    ar_then, rev_then = earlier.get("accounts_receivable"), earlier.get("revenue")
    if not ar_then or not rev_then or ar_then <= 0 or rev_then <= 0:
        return
    assert ar_now is not None and rev_now is not None
    ar_growth, rev_growth = (ar_now / ar_then - 1) * 100, (rev_now / rev_then - 1) * 100
    gap = ar_growth - rev_growth
    yield _borrower(
        facts,
        float(gap),
        {
            "period": period,
            "receivables_growth_pct": f"{ar_growth:.1f}",
            "revenue_growth_pct": f"{rev_growth:.1f}",
        },
        f"{period} 应收账款同比增长 {_pct(ar_growth)}，营业收入同比 {_pct(rev_growth)}，相差 {gap:.1f} 个百分点",
        f"receivables up {_pct(ar_growth)} year on year in {period}, revenue {_pct(rev_growth)}: "
        f"{gap:.1f} points apart",
    )


def days_past_due(facts: Facts) -> Iterator[Measure]:
    for facility in facts.facilities:
        if facility.days_past_due is None:
            continue
        yield Measure(
            "facility",
            facility.id,
            facility.id,
            facility.days_past_due,
            {
                "facility": facility.reference,
                "as_of": str(facility.as_of),
                "days_past_due": facility.days_past_due,
            },
            f"贷款 {facility.reference} 截至 {facility.as_of} 逾期 {facility.days_past_due} 天",
            f"loan {facility.reference} {facility.days_past_due} day(s) past due as of {facility.as_of}",
        )


def collateral_coverage(facts: Facts) -> Iterator[Measure]:
    for facility in facts.facilities:
        if not facility.collateral_count:
            continue
        owed = facility.outstanding if facility.outstanding is not None else facility.amount
        if owed <= 0:
            continue
        cover = facility.collateral_value / owed
        yield Measure(
            "facility",
            facility.id,
            facility.id,
            float(cover),
            {
                "facility": facility.reference,
                "collateral_value": str(facility.collateral_value),
                "owed": str(owed),
            },
            f"贷款 {facility.reference} 押品申报价值 {_money(facility.collateral_value)}，"
            f"为未还余额 {_money(owed)} 的 {cover:.2f} 倍",
            f"loan {facility.reference}: collateral declared at {_money(facility.collateral_value)}, "
            f"{cover:.2f}× the {_money(owed)} owed",
        )


def _project_latest(project: ProjectFacts, *names: str) -> str | None:
    having = [p for p, row in project.figures.items() if all(row.get(n) is not None for n in names)]
    return max(having, key=periods.period_end) if having else None


def project_behind_plan(facts: Facts) -> Iterator[Measure]:
    for project in facts.projects:
        period = _project_latest(project, "planned_progress_pct", "actual_progress_pct")
        if period is None:
            continue
        planned, actual = (
            project.figures[period]["planned_progress_pct"],
            project.figures[period]["actual_progress_pct"],
        )
        assert planned is not None and actual is not None
        behind = planned - actual
        yield Measure(
            "project",
            project.id,
            project.facility_id,
            float(behind),
            {"period": period, "planned_progress_pct": str(planned), "actual_progress_pct": str(actual)},
            f"{project.name} {period} 计划进度 {_pct(planned)}，实际 {_pct(actual)}，落后 {behind:.1f} 个百分点",
            f"{project.name}: {_pct(actual)} done against {_pct(planned)} planned in {period}, "
            f"{behind:.1f} points behind",
        )


def investment_ahead(facts: Facts) -> Iterator[Measure]:
    names = ("planned_investment", "actual_investment", "planned_progress_pct", "actual_progress_pct")
    for project in facts.projects:
        period = _project_latest(project, *names)
        if period is None:
            continue
        row = project.figures[period]
        planned_inv, actual_inv = row["planned_investment"], row["actual_investment"]
        planned_pct, actual_pct = row["planned_progress_pct"], row["actual_progress_pct"]
        assert (
            planned_inv is not None
            and actual_inv is not None
            and planned_pct is not None
            and actual_pct is not None
        )
        if planned_inv <= 0 or planned_pct <= 0:
            continue
        spent, built = actual_inv / planned_inv * 100, actual_pct / planned_pct * 100
        gap = spent - built
        yield Measure(
            "project",
            project.id,
            project.facility_id,
            float(gap),
            {
                "period": period,
                "investment_vs_plan_pct": f"{spent:.1f}",
                "progress_vs_plan_pct": f"{built:.1f}",
            },
            f"{project.name} {period} 投资完成计划的 {_pct(spent)}，工程进度只完成计划的 {_pct(built)}",
            f"{project.name}: {_pct(spent)} of the planned investment spent in {period}, "
            f"but {_pct(built)} of the planned progress made",
        )


def repeated_critical_finding(facts: Facts) -> Iterator[Measure]:
    for subject in facts.subjects:
        if len(subject.approved) < 2:
            continue
        shared = subject.approved[0][2]
        run = 0
        for _visit, _day, critical in subject.approved:
            shared = shared & critical
            if not shared:
                break
            run += 1
        if run < 2:
            continue
        findings = sorted(subject.approved[0][2] & subject.approved[1][2])
        yield Measure(
            subject.subject_type,
            subject.subject_id,
            subject.facility_id,
            run,
            {"findings": findings, "visits": [str(v) for v, _d, _f in subject.approved[:run]]},
            f"{subject.name} 连续 {run} 次检查出现同一严重问题（{'、'.join(findings)}）",
            f"{subject.name}: the same critical finding on {run} inspections running ({', '.join(findings)})",
            visit_id=subject.approved[0][0],
        )


def overdue_visit(facts: Facts) -> Iterator[Measure]:
    for subject in facts.subjects:
        if subject.overdue_days <= 0:
            continue
        yield Measure(
            subject.subject_type,
            subject.subject_id,
            subject.facility_id,
            subject.overdue_days,
            {"visit": str(subject.overdue_visit_id), "overdue_days": subject.overdue_days},
            f"{subject.name} 的贷后检查已逾期 {subject.overdue_days} 天",
            f"{subject.name}: the inspection is {subject.overdue_days} day(s) overdue",
            visit_id=subject.overdue_visit_id,
        )


def _levels(
    critical: float | None, major: float | None, minor: float | None, **actions: Any
) -> dict[str, Any]:
    """Thresholds per severity, and what a firing does: an ad-hoc visit from `visit_from` up, a proposed
    risk-grade change from `grade_from` up (None: never)."""
    return {
        "critical": critical,
        "major": major,
        "minor": minor,
        "visit_from": "major",
        "grade_from": "critical",
    } | actions


INDICATORS: dict[str, Indicator] = {
    indicator.key: indicator
    for indicator in (
        Indicator("revenue_drop", "营业收入同比下降（%）", "Revenue down on last year (%)", "at_least",
                  _levels(50, 30, 15), revenue_drop),
        Indicator("negative_cash_flow", "经营现金流连续为负（期）", "Operating cash flow negative (periods running)",
                  "at_least", _levels(4, 2, 1, visit_from="critical"), negative_cash_flow),
        Indicator("leverage", "资产负债率（%）", "Liabilities over assets (%)", "at_least",
                  _levels(90, 80, 70, visit_from="critical"), leverage),
        Indicator("receivables_outpacing", "应收账款增速超过收入增速（百分点）",
                  "Receivables growing faster than revenue (points)", "at_least",
                  _levels(50, 30, 20, visit_from="critical", grade_from=None), receivables_outpacing),
        Indicator("days_past_due", "逾期天数", "Days past due", "at_least",
                  _levels(91, 31, 1, grade_from="major"), days_past_due),
        Indicator("collateral_coverage", "押品覆盖倍数", "Collateral coverage (×)", "below",
                  _levels(1.0, 1.2, 1.5), collateral_coverage),
        Indicator("project_behind_plan", "项目进度落后计划（百分点）", "Project behind plan (points)", "at_least",
                  _levels(30, 15, 10), project_behind_plan),
        Indicator("investment_ahead", "投资进度快于工程进度（百分点）", "Investment ahead of progress (points)",
                  "at_least", _levels(30, 15, 10), investment_ahead),
        Indicator("repeated_critical_finding", "同一严重问题连续出现（次）", "Same critical finding running (visits)",
                  "at_least", _levels(3, 2, None), repeated_critical_finding),
        Indicator("overdue_visit", "贷后检查逾期（天）", "Inspection overdue (days)", "at_least",
                  _levels(30, 15, 1, visit_from=None, grade_from=None), overdue_visit),
    )
}  # fmt: skip
