"""The contact log through the API: a contact kept once (the phone's id), its commitments as tasks — with
or without a visit —, another body under the same id refused, scope, the borrower page."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.tasks.models import FollowUpTask
from tests.factories import Bank, bank_today, login, make_bank

pytestmark = pytest.mark.calendar


def _contact(bank: Bank, **overrides: Any) -> dict[str, Any]:
    due = bank_today().toordinal() + 14
    return {
        "borrower_id": str(bank.one.borrower.id),
        "occurred_at": f"{bank_today().isoformat()}T10:30:00+08:00",
        "channel": "meeting",
        "people": [{"name": "周建国", "title": "财务总监"}, {"name": "钱敏"}],
        "summary": "三季度回款放缓；企业称设备已移至二号厂房检修。",
        "commitments": [
            {"text": "提供经审计的三季度财务报表", "due_on": _date(due)},
            {"text": "补缴逾期利息", "due_on": _date(due + 7)},
        ],
        **overrides,
    }


def _date(ordinal: int) -> str:
    import datetime as dt

    return dt.date.fromordinal(ordinal).isoformat()


def test_commitments_become_tasks_once(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    manager = login(client, bank.one.manager)
    contact_id = str(uuid.uuid4())
    body = _contact(bank, visit_id=str(bank.one.visit.id))
    made = client.put(f"/api/v1/contacts/{contact_id}", json=body, headers=manager)
    assert made.status_code == 201, made.text
    contact = made.json()
    assert [c["task_id"] is not None for c in contact["commitments"]] == [True, True]
    tasks = {t["id"]: t for t in client.get("/api/v1/tasks", headers=manager).json()["items"]}
    first = tasks[contact["commitments"][0]["task_id"]]
    assert first["rule_key"] == "commitment" and first["due_on"] == body["commitments"][0]["due_on"]
    assert first["title_zh"].startswith("借款人承诺：提供经审计的三季度财务报表（周建国（财务总监）")
    assert first["opened_by_visit_id"] == str(bank.one.visit.id)
    assert first["opened_by_contact_id"] == contact_id
    # The phone sends it again (its acknowledgement was lost): one contact, the same two tasks.
    again = client.put(f"/api/v1/contacts/{contact_id}", json=body, headers=manager)
    assert again.status_code == 200 and again.json()["commitments"] == contact["commitments"]
    session.rollback()
    assert (
        session.scalar(
            select(func.count()).select_from(FollowUpTask).where(FollowUpTask.rule_key == "commitment")
        )
        == 2
    )
    # The same id with something else is not an overwrite.
    changed = client.put(f"/api/v1/contacts/{contact_id}", json={**body, "summary": "改了"}, headers=manager)
    assert changed.status_code == 409
    # Shown with the visit and on the borrower page.
    by_visit = client.get(
        "/api/v1/contacts", params={"visit_id": str(bank.one.visit.id)}, headers=manager
    ).json()
    assert [c["id"] for c in by_visit] == [contact_id]
    page = client.get(
        f"/api/v1/borrowers/{bank.one.borrower.id}/overview", headers=login(client, bank.one.reviewer)
    )
    assert [c["id"] for c in page.json()["contacts"]] == [contact_id]


def test_a_call_from_the_office_opens_tasks_without_a_visit(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    reviewer = login(client, bank.one.reviewer)
    early = f"{bank_today().isoformat()}T07:00:00+08:00"  # the day before in UTC
    made = client.put(
        f"/api/v1/contacts/{uuid.uuid4()}",
        json=_contact(bank, channel="call", occurred_at=early),
        headers=reviewer,
    )
    assert made.status_code == 201, made.text
    task_id = made.json()["commitments"][0]["task_id"]
    task = client.get(f"/api/v1/tasks/{task_id}", headers=reviewer).json()
    assert task["opened_by_visit_id"] is None and task["last_seen_visit_id"] is None
    assert task["assignee_id"] == str(bank.one.manager.id)  # the facility's manager follows it up
    assert f"，{bank_today().isoformat()}）" in task["title_zh"]  # the day as the phone said it
    # The manager's board and the reviewer's both list it; the exports of visits are not upset by it.
    assert task_id in {
        t["id"] for t in client.get("/api/v1/tasks", headers=login(client, bank.one.manager)).json()["items"]
    }
    assert client.get("/api/v1/exports/visits", params={"format": "csv"}, headers=reviewer).status_code == 200


def test_contacts_are_checked_and_scoped(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    manager = login(client, bank.one.manager)
    bad = [
        _contact(bank, people=[]),
        _contact(bank, channel="pigeon"),
        _contact(bank, summary="  "),
        _contact(bank, occurred_at="1999-12-31T10:00:00+08:00"),
        _contact(bank, occurred_at=1700000000),
        _contact(
            bank,
            occurred_at=f"{_date(bank_today().toordinal() + 3)}T10:00:00+08:00",
        ),
        _contact(bank, commitments=[{"text": "还款", "due_on": "2020-01-01"}]),
        _contact(bank, visit_id=str(bank.two.visit.id)),
    ]
    for body in bad:
        answer = client.put(f"/api/v1/contacts/{uuid.uuid4()}", json=body, headers=manager)
        assert answer.status_code in (404, 422), (body, answer.text)
    other_branch = client.put(
        f"/api/v1/contacts/{uuid.uuid4()}",
        json=_contact(bank, borrower_id=str(bank.two.borrower.id)),
        headers=manager,
    )
    assert other_branch.status_code == 404
    contact_id = str(uuid.uuid4())
    assert (
        client.put(f"/api/v1/contacts/{contact_id}", json=_contact(bank), headers=manager).status_code == 201
    )
    for outsider in (bank.two.reviewer, bank.one.other_manager):
        assert (
            client.get(f"/api/v1/contacts/{contact_id}", headers=login(client, outsider)).status_code == 404
        )
        assert client.get("/api/v1/contacts", headers=login(client, outsider)).json() == []
