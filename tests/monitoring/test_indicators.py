"""Each early-warning indicator on facts the test builds: what it measures, and which severity each
threshold gives (the defaults), at the edges."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import pytest

from api.checklists.schemas import Severity
from api.monitoring import periods
from api.monitoring.indicators import INDICATORS, FacilityFacts, Facts, ProjectFacts, SubjectVisits

D = decimal.Decimal


def _facts(**figures: dict[str, Any]) -> Facts:
    facts = Facts(uuid.uuid4(), "华锦精密")
    facts.figures = {period: {k: D(str(v)) for k, v in row.items()} for period, row in figures.items()}
    return facts


def _judge(key: str, facts: Facts) -> list[tuple[float, Severity | None]]:
    indicator = INDICATORS[key]
    return [
        (round(m.value, 4), indicator.severity(m.value, indicator.defaults)) for m in indicator.measure(facts)
    ]


@pytest.mark.parametrize(
    ("now", "severity"),
    [(86, None), (85, Severity.minor), (70, Severity.major), (69, Severity.major), (50, Severity.critical)],
)
def test_revenue_down_on_the_same_period_last_year(now: int, severity: Severity | None) -> None:
    facts = _facts(**{"2025Q3": {"revenue": 100}, "2026Q2": {"revenue": 10}, "2026Q3": {"revenue": now}})
    [(value, found)] = _judge("revenue_drop", facts)
    assert value == 100 - now and found == severity  # compared with 2025Q3, not with the quarter before


def test_revenue_without_last_year_says_nothing() -> None:
    assert _judge("revenue_drop", _facts(**{"2026Q3": {"revenue": 1}, "2026Q2": {"revenue": 100}})) == []


def test_cash_flow_negative_periods_running() -> None:
    facts = _facts(**{
        "2025Q4": {"operating_cash_flow": -5}, "2026Q1": {"operating_cash_flow": 3},
        "2026Q2": {"operating_cash_flow": -1}, "2026Q3": {"operating_cash_flow": -2},
    })  # fmt: skip
    [(value, severity)] = _judge("negative_cash_flow", facts)
    assert value == 2 and severity == Severity.major  # the run stops at 2026Q1's positive flow
    facts.figures["2026Q3"]["operating_cash_flow"] = D(1)
    assert _judge("negative_cash_flow", facts) == []


@pytest.mark.parametrize(
    ("liabilities", "severity"),
    [(69, None), (70, Severity.minor), (80, Severity.major), (95, Severity.critical)],
)
def test_liabilities_over_assets(liabilities: int, severity: Severity | None) -> None:
    facts = _facts(**{"2026Q3": {"total_liabilities": liabilities, "total_assets": 100}})
    assert _judge("leverage", facts) == [(liabilities, severity)]


def test_receivables_growing_faster_than_revenue() -> None:
    facts = _facts(**{
        "2025Q3": {"revenue": 100, "accounts_receivable": 50},
        "2026Q3": {"revenue": 110, "accounts_receivable": 80},
    })  # fmt: skip
    [(value, severity)] = _judge("receivables_outpacing", facts)
    assert value == 50.0 and severity == Severity.critical  # +60 % against +10 %


@pytest.mark.parametrize(
    ("days", "severity"), [(0, None), (1, Severity.minor), (31, Severity.major), (91, Severity.critical)]
)
def test_days_past_due(days: int, severity: Severity | None) -> None:
    facts = _facts()
    facts.facilities = [
        FacilityFacts(uuid.uuid4(), "LN-1", D(100), days_past_due=days, as_of=dt.date(2026, 11, 30))
    ]
    assert _judge("days_past_due", facts) == [(days, severity)]


def test_collateral_coverage_against_what_is_owed() -> None:
    facts = _facts()
    facts.facilities = [
        FacilityFacts(
            uuid.uuid4(), "LN-1", D(1000), outstanding=D(800), collateral_value=D(900), collateral_count=1
        ),
        FacilityFacts(
            uuid.uuid4(), "LN-2", D(1000), collateral_value=D(1300), collateral_count=2
        ),  # no extract: the amount
        FacilityFacts(uuid.uuid4(), "LN-3", D(1000)),  # no collateral: nothing to cover with
    ]
    assert _judge("collateral_coverage", facts) == [(1.125, Severity.major), (1.3, Severity.minor)]


def test_project_behind_plan_and_investment_ahead_of_progress() -> None:
    facts = _facts()
    facts.projects = [ProjectFacts(uuid.uuid4(), uuid.uuid4(), "临港物流园", {
        "2026Q3": {"planned_investment": D(100), "actual_investment": D(90),
                   "planned_progress_pct": D(60), "actual_progress_pct": D(42)},
    })]  # fmt: skip
    assert _judge("project_behind_plan", facts) == [(18.0, Severity.major)]
    assert _judge("investment_ahead", facts) == [(20.0, Severity.major)]  # 90 % spent, 70 % of the plan built


def test_the_same_critical_finding_on_consecutive_visits() -> None:
    facts = _facts()
    subject = SubjectVisits("collateral", uuid.uuid4(), uuid.uuid4(), "厂房")
    visits = [uuid.uuid4() for _ in range(3)]
    subject.approved = [
        (visits[0], dt.date(2026, 11, 1), {"expected_answer:collateral_present"}),
        (visits[1], dt.date(2026, 8, 1), {"expected_answer:collateral_present", "photo_reuse:"}),
        (visits[2], dt.date(2026, 5, 1), set()),
    ]
    facts.subjects = [subject]
    [(value, severity)] = _judge("repeated_critical_finding", facts)
    assert value == 2 and severity == Severity.major
    subject.approved[1] = (visits[1], dt.date(2026, 8, 1), {"photo_reuse:"})  # a different one: no run
    assert _judge("repeated_critical_finding", facts) == []


def test_an_overdue_visit() -> None:
    facts = _facts()
    facts.subjects = [SubjectVisits("project", uuid.uuid4(), uuid.uuid4(), "临港物流园", overdue_days=16)]
    assert _judge("overdue_visit", facts) == [(16, Severity.major)]


@pytest.mark.parametrize(
    ("period", "end", "before", "year_before"),
    [("2026Q1", dt.date(2026, 3, 31), "2025Q4", "2025Q1"), ("2026-02", dt.date(2026, 2, 28), "2026-01", "2025-02"),
     ("2024-02", dt.date(2024, 2, 29), "2024-01", "2023-02"), ("2026-01", dt.date(2026, 1, 31), "2025-12", "2025-01"),
     ("2026", dt.date(2026, 12, 31), "2025", "2025")],
)  # fmt: skip
def test_periods(period: str, end: dt.date, before: str, year_before: str) -> None:
    assert periods.period_end(period) == end
    assert periods.before(period) == before and periods.year_before(period) == year_before


@pytest.mark.parametrize("bad", ["2026Q5", "2026-13", "26Q1", "2026-1", "Q3", "2026 Q3"])
def test_a_period_that_is_none(bad: str) -> None:
    with pytest.raises(ValueError, match="a period is"):
        periods.period_end(bad)
