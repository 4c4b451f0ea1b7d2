"""Signals from figures and repayment status, end to end through the API: opened once (de-duplicated),
acting as the bank set (an ad-hoc visit with its task, a proposed risk grade), brought up to date, cleared;
the reviewer's decision and the re-planned cadence; imports (CSV and Excel) evaluated at once; scope."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.monitoring.models import Signal
from api.visits.models import Visit, VisitOrigin, VisitStatus
from tests.factories import Bank, bank_today, login, make_bank, make_collateral, make_visit

pytestmark = pytest.mark.calendar


def _figures(period: str, **values: Any) -> dict[str, Any]:
    return {"period": period, "reported_on": bank_today().isoformat(), "source": "季报", **values}


def _post(client: TestClient, headers: dict[str, str], bank: Bank, body: dict[str, Any]) -> Any:
    return client.post(f"/api/v1/borrowers/{bank.one.borrower.id}/figures", json=body, headers=headers)


def _signals(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    answer = client.get("/api/v1/signals", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def _free_the_collateral(session: Session, bank: Bank) -> None:
    """The bank's first visit done and approved long ago: the subject has no open visit."""
    visit = session.get(Visit, bank.one.visit.id)
    assert visit is not None
    visit.status, visit.decided_at = VisitStatus.approved, dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    session.commit()


def test_a_revenue_drop_opens_one_signal_with_a_visit_and_a_task(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    _free_the_collateral(session, bank)
    admin = login(client, bank.one.admin)
    assert _post(client, admin, bank, _figures("2025Q3", revenue=1_000_000)).status_code == 201
    assert _signals(client, admin) == []  # nothing to compare with yet
    made = _post(client, admin, bank, _figures("2026Q3", revenue=650_000))
    assert made.status_code == 201, made.text
    [signal] = _signals(client, admin, state="open")
    assert signal["indicator"] == "revenue_drop" and signal["severity"] == "major"
    assert signal["explanation_zh"].startswith(
        "营业收入同比下降（%）：2026Q3 营业收入 650,000，较上年同期（2025Q3）"
    )
    assert signal["evidence"] == {
        "period": "2026Q3", "revenue": "650000", "same_period_last_year": "2025Q3", "revenue_last_year": "1000000",
    }  # fmt: skip
    # Major: an ad-hoc visit of the borrower's collateral, due within the major days, and its follow-up task.
    session.rollback()
    visit = session.get(Visit, uuid.UUID(signal["visit_id"]))
    assert visit is not None and visit.origin == VisitOrigin.signal
    assert visit.subject_id == bank.one.collateral.id and visit.manager_id == bank.one.manager.id
    assert visit.due_on == bank_today() + dt.timedelta(days=10)
    manager = login(client, bank.one.manager)
    tasks = client.get("/api/v1/tasks", headers=manager).json()["items"]
    assert [t["id"] for t in tasks if t["rule_key"] == "revenue_drop"] == [signal["task_id"]]
    assert client.get("/api/v1/grade-proposals", headers=admin).json() == []  # grade changes from critical up

    # The same figures again (a retried request): still one signal, one visit, one task.
    assert _post(client, admin, bank, _figures("2026Q3", revenue=650_000)).status_code == 201
    [again] = _signals(client, admin)
    assert again["id"] == signal["id"] and again["occurrences"] == 1
    session.rollback()
    assert session.scalar(select(Visit.id).where(Visit.origin == VisitOrigin.signal).offset(1)) is None

    # Restated worse: critical, and now a proposed risk grade.
    _post(client, admin, bank, _figures("2026Q3", revenue=400_000))
    [worse] = _signals(client, admin)
    assert worse["severity"] == "critical" and worse["occurrences"] == 2
    [proposal] = client.get("/api/v1/grade-proposals", headers=admin).json()
    assert (proposal["current_grade"], proposal["proposed_grade"]) == ("normal", "special_mention")

    # Restated back to normal: the signal clears (its task stays for the manager to close).
    _post(client, admin, bank, _figures("2026Q3", revenue=990_000))
    assert _signals(client, admin, state="open") == []
    assert _signals(client, admin, state="cleared")[0]["id"] == signal["id"]


def test_an_accepted_grade_re_plans_the_visits(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    admin = login(client, bank.one.admin)
    # Two visits the scheduler issued at the normal cadence, 60 days out: the first collateral's (which the
    # signal brings forward) and a second collateral's (which only the new grade moves).
    second = make_collateral(session, facility=bank.one.facility, reference="COL-ZZ-2")
    later = bank_today() + dt.timedelta(days=60)
    for visit_id in (bank.one.visit.id, make_visit(session, collateral=second, version=bank.version).id):
        scheduled = session.get(Visit, visit_id)
        assert scheduled is not None
        scheduled.origin, scheduled.due_on = VisitOrigin.scheduled, later
        scheduled.schedule_key = f"collateral:{scheduled.subject_id}:{later.isoformat()}"
    session.commit()
    second_visit = session.scalar(select(Visit.id).where(Visit.subject_id == second.id))
    answer = client.post(
        f"/api/v1/facilities/{bank.one.facility.id}/repayments",
        json={
            "as_of": bank_today().isoformat(),
            "days_past_due": 45,
            "outstanding": "900000",
            "source": "核心系统",
        },
        headers=admin,
    )
    assert answer.status_code == 201, answer.text
    [signal] = _signals(client, admin)
    assert (signal["indicator"], signal["severity"], signal["subject_type"]) == (
        "days_past_due",
        "major",
        "facility",
    )
    [proposal] = client.get("/api/v1/grade-proposals", params={"state": "proposed"}, headers=admin).json()
    # The other branch's reviewer does not see it; a manager may not decide it.
    other = login(client, bank.two.reviewer)
    decided = client.post(
        f"/api/v1/grade-proposals/{proposal['id']}/decision", json={"decision": "accept"}, headers=other
    )
    assert decided.status_code == 404
    manager = login(client, bank.one.manager)
    decided = client.post(
        f"/api/v1/grade-proposals/{proposal['id']}/decision", json={"decision": "accept"}, headers=manager
    )
    assert decided.status_code == 403
    reviewer = login(client, bank.one.reviewer)
    decided = client.post(
        f"/api/v1/grade-proposals/{proposal['id']}/decision",
        json={"decision": "accept", "comment": "逾期45天，调整为关注类"},
        headers=reviewer,
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["state"] == "accepted"
    facility = client.get(f"/api/v1/facilities/{bank.one.facility.id}", headers=reviewer).json()
    assert facility["risk_grade"] == "special_mention", facility
    # The signal (major) brought the first visit forward to within 10 days, and that date stays; the second
    # moves to the new grade's cadence: 30 days after disbursement (15 days ago), so in 15 days.
    first = client.get(f"/api/v1/visits/{bank.one.visit.id}", headers=reviewer).json()
    assert first["due_on"] == (bank_today() + dt.timedelta(days=10)).isoformat()
    moved = client.get(f"/api/v1/visits/{second_visit}", headers=reviewer).json()
    assert moved["due_on"] == (bank_today() + dt.timedelta(days=15)).isoformat()
    again = client.post(
        f"/api/v1/grade-proposals/{proposal['id']}/decision", json={"decision": "reject"}, headers=reviewer
    )
    assert again.status_code == 409


def test_figures_imported_from_csv_and_excel_are_evaluated_at_once(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    _free_the_collateral(session, bank)
    admin = login(client, bank.one.admin)
    code = bank.one.borrower.credit_code
    csv_text = (
        "borrower_credit_code,period,revenue,total_liabilities,total_assets,reported_on,source\n"
        f"{code},2025Q3,2000000,,,2025-10-20,季报\n"
        f"{code},2026Q3,1500000,850000,1000000,2026-10-20,季报\n"
    )
    answer = client.post(
        "/api/v1/imports/figures", content=csv_text.encode(), headers=admin | {"Content-Type": "text/csv"}
    )
    assert answer.status_code == 200, answer.text
    # A 25 % drop is minor by the defaults…
    found = {s["indicator"]: s["severity"] for s in _signals(client, admin)}
    assert found == {"leverage": "major", "revenue_drop": "minor"}
    # …the bank sets revenue drops from 20 % as minor and from 25 % as major.
    changed = client.put(
        "/api/v1/indicators/revenue_drop", json={"critical": 50, "major": 25, "minor": 20}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["borrower_credit_code", "period", "revenue", "reported_on", "source"])
    sheet.append([code, "2026Q3", 1_500_000, dt.date(2026, 10, 21), "季报（更正）"])
    data = io.BytesIO()
    book.save(data)
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    answer = client.post(
        "/api/v1/imports/figures", content=data.getvalue(), headers=admin | {"Content-Type": xlsx}
    )
    assert answer.status_code == 200, answer.text
    assert {s["indicator"]: s["severity"] for s in _signals(client, admin)} == {
        "leverage": "major",
        "revenue_drop": "major",
    }
    history = client.get(f"/api/v1/borrowers/{bank.one.borrower.id}/figures", headers=admin).json()
    assert [(f["period"], f["source"]) for f in history] == [
        ("2026Q3", "季报（更正）"),
        ("2026Q3", "季报"),
        ("2025Q3", "季报"),
    ]


def test_a_bad_figures_file_imports_nothing_and_names_each_line(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    admin = login(client, bank.one.admin)
    csv_text = (
        "borrower_credit_code,period,revenue,reported_on\n"
        f"{bank.one.borrower.credit_code},2026Q5,100,2026-10-20\n"
        f"{bank.one.borrower.credit_code},2026Q3,-5,2026-10-20\n"
        f"{bank.one.borrower.credit_code},2026Q2,,2026-10-20\n"
    )
    answer = client.post(
        "/api/v1/imports/figures", content=csv_text.encode(), headers=admin | {"Content-Type": "text/csv"}
    )
    assert answer.status_code == 422
    lines = {row["line"]: " ".join(row["errors"]) for row in answer.json()["report"]["errors"]}
    assert set(lines) == {2, 3, 4}
    assert "a period is" in lines[2] and "greater than or equal to 0" in lines[3] and "no figure" in lines[4]
    assert client.get(f"/api/v1/borrowers/{bank.one.borrower.id}/figures", headers=admin).json() == []
    broken = client.post(
        "/api/v1/imports/figures",
        content=b"PK\x03\x04 not really a workbook",
        headers=admin | {"Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    )
    assert broken.status_code == 422, broken.text
    assert broken.json()["detail"] in (
        "Not a readable Excel workbook (.xlsx).",
        "无法读取该 Excel 文件（.xlsx）。",
    )


def test_thresholds_must_grow_with_severity(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    admin = login(client, bank.one.admin)
    wrong = client.put("/api/v1/indicators/revenue_drop", json={"critical": 20, "major": 30}, headers=admin)
    assert wrong.status_code == 409
    below = client.put(
        "/api/v1/indicators/collateral_coverage", json={"critical": 1.2, "major": 1.0}, headers=admin
    )
    assert below.status_code == 409  # coverage falls: critical is the lowest
    assert client.put("/api/v1/indicators/nowhere", json={"major": 1}, headers=admin).status_code == 404
    reviewer = login(client, bank.one.reviewer)
    assert client.put("/api/v1/indicators/leverage", json={"major": 1}, headers=reviewer).status_code == 403
    listed = {i["key"]: i for i in client.get("/api/v1/indicators", headers=reviewer).json()}
    assert len(listed) == 10 and listed["days_past_due"]["thresholds"]["major"] == 31


def test_signals_stay_in_their_branch(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    admin = login(client, bank.one.admin)
    client.post(
        f"/api/v1/facilities/{bank.one.facility.id}/repayments",
        json={"as_of": bank_today().isoformat(), "days_past_due": 5},
        headers=admin,
    )
    [signal] = _signals(client, admin)
    for user in (bank.two.reviewer, bank.two.manager, bank.one.other_manager):
        headers = login(client, user)
        assert _signals(client, headers) == []
        assert client.get(f"/api/v1/signals/{signal['id']}", headers=headers).status_code == 404
    assert len(_signals(client, login(client, bank.one.manager))) == 1
    session.rollback()
    assert session.scalar(select(Signal.branch_id)) == bank.one.branch.id


def test_a_file_is_read_as_text_and_json_is_strict(client: TestClient, session: Session) -> None:
    """A CSV's "45" is 45 days; a JSON `false` is not 0 days past due, nor `true` one employee (schemathesis)."""
    bank = make_bank(session)
    admin = login(client, bank.one.admin)
    url = f"/api/v1/facilities/{bank.one.facility.id}/repayments"
    for bad in (False, "3", 2.5):
        answer = client.post(url, json={"as_of": "2026-11-29", "days_past_due": bad}, headers=admin)
        assert answer.status_code == 422, (bad, answer.text)
    figures = _figures("2026Q3", headcount=True)
    assert _post(client, admin, bank, figures).status_code == 422
    text = f"facility_reference,as_of,days_past_due\n{bank.one.facility.reference},2026-11-29,45\n"
    answer = client.post(
        "/api/v1/imports/repayments", content=text.encode(), headers=admin | {"Content-Type": "text/csv"}
    )
    assert answer.status_code == 200, answer.text
    [status] = client.get(url, headers=admin).json()
    assert status["days_past_due"] == 45


def test_the_borrower_page_in_one_answer(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    admin = login(client, bank.one.admin)
    _post(client, admin, bank, _figures("2025Q3", revenue=100))
    _post(client, admin, bank, _figures("2026Q3", revenue=40))
    _post(client, admin, bank, _figures("2026Q3", revenue=45, source="更正"))  # the newest set counts
    client.post(
        f"/api/v1/facilities/{bank.one.facility.id}/repayments",
        json={"as_of": "2026-11-29", "days_past_due": 3},
        headers=admin,
    )
    url = f"/api/v1/borrowers/{bank.one.borrower.id}/overview"
    page = client.get(url, headers=login(client, bank.one.manager)).json()
    assert [(f["period"], f["revenue"]) for f in page["figures"]] == [("2025Q3", "100"), ("2026Q3", "45")]
    [facility] = page["facilities"]
    assert (
        facility["repayment"]["days_past_due"] == 3
        and facility["open_proposal"]["proposed_grade"] == "special_mention"
    )
    assert {s["indicator"] for s in page["signals"]} == {"revenue_drop", "days_past_due"}
    assert [c["id"] for c in page["collateral"]] == [str(bank.one.collateral.id)]
    assert page["visits"] and page["tasks"]
    for outsider in (bank.two.reviewer, bank.one.other_manager):
        assert client.get(url, headers=login(client, outsider)).status_code == 404
