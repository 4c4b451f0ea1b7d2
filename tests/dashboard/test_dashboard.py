"""The risk dashboard's figures on a bank the test builds: each number counted from the records it stands for,
filtered by manager and risk grade, scoped to the reviewer's branch; the links carry the same filters."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.checklists.schemas import Severity
from api.rules.models import Discrepancy
from api.visits.models import Visit, VisitStatus
from tests.factories import bank_today, login, make_bank, make_collateral, make_visit

pytestmark = pytest.mark.calendar


def _board(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    answer = client.get("/api/v1/dashboard", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_the_figures_count_what_they_say(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    today = bank_today()
    one = bank.one
    # The bank's own visit: due today. Add one overdue, one approved this month with a repeated finding, and
    # one approved three months ago with the same finding; one more in the other branch (never counted).
    overdue = make_visit(
        session, collateral=one.collateral, version=bank.version, due_on=today - dt.timedelta(days=9)
    )
    second = make_collateral(session, facility=one.facility)
    now = dt.datetime.combine(today, dt.time(3), dt.UTC)
    for decided in (now, now - dt.timedelta(days=90)):
        done = make_visit(session, collateral=second, version=bank.version, status=VisitStatus.approved,
                          decided_at=decided, due_on=decided.date())  # fmt: skip
        session.add(
            Discrepancy(
                visit_id=done.id, branch_id=one.branch.id, subject_type="collateral", subject_id=second.id,
                finding_key="expected_answer:collateral_present:", rule_key="expected_answer",
                item_key="collateral_present", severity=Severity.critical, explanation_zh="押品不在",
                explanation_en="missing", created_at=decided,
            )
        )  # fmt: skip
    make_visit(
        session, collateral=bank.two.collateral, version=bank.version, due_on=today - dt.timedelta(days=30)
    )
    session.commit()

    board = _board(client, login(client, one.reviewer))
    assert board["period_from"] == today.replace(day=1).isoformat()
    assert board["visits"]["overdue"] == 1 and board["visits"]["due"] == 1 and board["visits"]["done"] == 1
    [row] = board["visits"]["by_manager"]
    assert (row["manager_id"], row["overdue"]) == (str(one.manager.id), 1)
    [repeated] = board["repeated_findings"]
    assert (repeated["borrower_id"], repeated["findings"], repeated["most_visits"]) == (
        str(one.borrower.id),
        1,
        2,
    )
    trend = {p["month"]: p["by_severity"]["critical"] for p in board["findings_trend"]}
    assert len(trend) == 6 and trend[today.strftime("%Y-%m")] == 1 and sum(trend.values()) == 2
    states = {s["subject_id"]: s["state"] for s in board["sites"]}
    assert states[str(one.collateral.id)] == "overdue" and states[str(second.id)] == "ok"
    assert str(bank.two.collateral.id) not in states
    assert f"branch_id={one.branch.id}" in board["links"]["visits_overdue"]

    # The list behind "overdue" holds exactly that visit.
    listed = client.get(board["links"]["visits_overdue"], headers=login(client, one.reviewer)).json()["items"]
    assert [v["id"] for v in listed] == [str(overdue.id)]

    # Filtered by a risk grade nobody has: nothing.
    empty = _board(client, login(client, one.reviewer), risk_grade="doubtful")
    assert empty["visits"] == {"due": 0, "overdue": 0, "done": 0, "by_manager": []} and empty["sites"] == []

    # An admin sees the bank; a reviewer's branch_id cannot widen their view.
    everything = _board(client, login(client, one.admin))
    assert everything["visits"]["overdue"] == 2
    assert (
        _board(client, login(client, one.reviewer), branch_id=str(bank.two.branch.id))["visits"]["overdue"]
        == 1
    )
    assert client.get("/api/v1/dashboard", headers=login(client, one.manager)).status_code == 403


def test_a_quarter_and_dates_of_ones_own(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.admin)
    today = bank_today()
    quarter = _board(client, headers, period="quarter", sites="false")
    first = dt.date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    assert quarter["period_from"] == first.isoformat() and quarter["sites"] == []
    own = _board(client, headers, date_from="2026-01-01", date_to="2026-03-31")
    assert (own["period_from"], own["period_to"]) == ("2026-01-01", "2026-03-31")
    session.rollback()
    assert session.get(Visit, bank.one.visit.id) is not None


def test_dates_are_dates(client: TestClient, session: Session) -> None:
    """ISO dates only (a number is not a Unix time here), and a period that ends before it starts is refused."""
    bank = make_bank(session)
    headers = login(client, bank.one.admin)
    for params in (
        {"date_to": "0"},
        {"date_from": "2026-03-01", "date_to": "2026-01-01"},
        {"date_from": "2026-13-01"},
    ):
        assert client.get("/api/v1/dashboard", params=params, headers=headers).status_code == 422, params
    answer = client.post(
        f"/api/v1/facilities/{bank.one.facility.id}/repayments",
        json={"as_of": 0, "days_past_due": 0},
        headers=headers,
    )
    assert answer.status_code == 422


def test_cases_waiting_for_a_decision(client: TestClient, session: Session) -> None:
    """Submitted and under-review cases of the branch, and those past their due date; never a draft, never
    another branch's; the figure opens the cases list."""

    bank = make_bank(session)
    manager = login(client, bank.one.manager)
    body = {"kind": "escalation", "routed_to": "risk", "borrower_id": str(bank.one.borrower.id),
            "title": "上报", "reason": "押品缺失"}  # fmt: skip
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for case_id in ids:
        assert client.put(f"/api/v1/cases/{case_id}", json=body, headers=manager).status_code == 201
    for case_id in ids[:2]:  # the third stays a draft
        client.post(f"/api/v1/cases/{case_id}/actions", json={"action": "submit"}, headers=manager)
    reviewer = login(client, bank.one.reviewer)
    assert _board(client, reviewer)["cases"] == {"open": 2, "overdue": 0}
    assert _board(client, login(client, bank.two.reviewer))["cases"] == {"open": 0, "overdue": 0}
    later = dt.datetime.combine(bank_today() + dt.timedelta(days=6), dt.time(4), dt.UTC)  # past the 5 days
    with time_machine.travel(later, tick=False):
        board = _board(client, login(client, bank.one.reviewer))
    assert (
        board["cases"] == {"open": 2, "overdue": 2}
        and board["links"]["cases_open"] == "/api/v1/cases?open=true"
    )
