from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.visits.models import VisitStatus
from tests.factories import bank_today, login, make_bank, make_collateral, make_visit

pytestmark = pytest.mark.calendar


def test_a_manager_lists_only_their_own_visits(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    mine = client.get("/api/v1/visits", headers=login(client, bank.one.manager)).json()
    assert [v["id"] for v in mine["items"]] == [str(bank.one.visit.id)]
    assert mine["next_cursor"] is None
    assert client.get("/api/v1/visits", headers=login(client, bank.one.other_manager)).json()["items"] == []


def test_reviewers_see_their_branch_and_admins_the_bank(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    branch = client.get("/api/v1/visits", headers=login(client, bank.one.reviewer)).json()["items"]
    assert {v["id"] for v in branch} == {str(bank.one.visit.id)}
    everything = client.get("/api/v1/visits", headers=login(client, bank.one.admin)).json()["items"]
    assert {v["id"] for v in everything} == {str(bank.one.visit.id), str(bank.two.visit.id)}


def test_pages_cover_every_visit_once_in_due_order(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    today = bank_today()
    for n in range(23):
        make_visit(
            session, collateral=bank.one.collateral, version=bank.version, due_on=today + dt.timedelta(n % 5)
        )
    session.commit()
    headers = login(client, bank.one.manager)
    seen: list[dict[str, str]] = []
    cursor = None
    while True:
        params = {"limit": "5", **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/visits", params=params, headers=headers).json()
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 24
    assert len({v["id"] for v in seen}) == 24
    keys = [(v["due_on"], v["id"]) for v in seen]
    assert keys == sorted(keys)


def test_filters(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    today = bank_today()
    late = make_visit(
        session, collateral=bank.one.collateral, version=bank.version, due_on=today - dt.timedelta(3)
    )
    done = make_visit(
        session, collateral=bank.one.collateral, version=bank.version, status=VisitStatus.approved
    )
    session.commit()
    headers = login(client, bank.one.reviewer)

    def ids(**params: str) -> set[str]:
        return {v["id"] for v in client.get("/api/v1/visits", params=params, headers=headers).json()["items"]}

    assert ids(overdue="true") == {str(late.id)}
    assert ids(status="approved") == {str(done.id)}
    assert ids(due_to=(today - dt.timedelta(1)).isoformat()) == {str(late.id)}
    assert ids(due_from=today.isoformat(), status="scheduled") == {str(bank.one.visit.id)}
    assert ids(manager_id=str(bank.one.other_manager.id)) == set()
    assert ids(subject_id=str(bank.one.collateral.id)) == {str(late.id), str(done.id), str(bank.one.visit.id)}
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert ids(updated_since=future) == set()
    naive = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).replace(tzinfo=None).isoformat()
    assert ids(updated_since=naive) == set()  # without an offset: UTC, an hour ahead still
    assert client.get("/api/v1/visits", params={"status": "bogus"}, headers=headers).status_code == 422


def test_visit_record_carries_declared_data_and_the_pinned_template(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    record = client.get(f"/api/v1/visits/{bank.one.visit.id}", headers=login(client, bank.one.manager)).json()
    assert record["borrower"]["name"] == bank.one.borrower.name
    assert record["collateral"]["declared_site"]["datum"] == "WGS84"
    assert record["template_version"]["id"] == str(bank.version.id)
    assert record["template_version"]["definition"]["sections"][0]["items"][0]["key"] == "check_in"


def test_reviewer_issues_and_reassigns_within_the_branch(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    reviewer = login(client, bank.one.reviewer)
    body = {"subject_type": "collateral", "subject_id": str(bank.one.collateral.id), "due_on": "2030-01-01"}
    created = client.post("/api/v1/visits", json=body, headers=reviewer)
    assert created.status_code == 201
    assert created.json()["manager_id"] == str(bank.one.manager.id)
    assert created.json()["origin"] == "manual"
    visit_id = created.json()["id"]
    moved = client.post(
        f"/api/v1/visits/{visit_id}/reassign",
        json={"manager_id": str(bank.one.other_manager.id)},
        headers=reviewer,
    )
    assert moved.json()["manager_id"] == str(bank.one.other_manager.id)
    foreign = client.post(
        f"/api/v1/visits/{visit_id}/reassign", json={"manager_id": str(bank.two.manager.id)}, headers=reviewer
    )
    assert foreign.status_code == 422
    assert foreign.json()["code"] == "not_a_manager_of_branch"
    other_branch_subject = {**body, "subject_id": str(bank.two.collateral.id)}
    assert client.post("/api/v1/visits", json=other_branch_subject, headers=reviewer).status_code == 422
    assert (
        client.post("/api/v1/visits", json=body, headers=login(client, bank.one.manager)).status_code == 403
    )


def test_start_is_idempotent_and_cancel_ends_the_visit(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    manager = login(client, bank.one.manager)
    url = f"/api/v1/visits/{bank.one.visit.id}"
    first = client.post(f"{url}/start", headers=manager).json()
    second = client.post(f"{url}/start", headers=manager).json()
    assert first["status"] == second["status"] == "in_progress"
    assert first["started_at"] == second["started_at"]

    admin = login(client, bank.one.admin)
    assert (
        client.post(f"{url}/cancel", json={"reason": "贷款已结清"}, headers=admin).json()["status"]
        == "cancelled"
    )
    again = client.post(f"{url}/cancel", json={"reason": "贷款已结清"}, headers=admin)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["current_status"] == "cancelled"
    assert client.post(f"{url}/start", headers=manager).status_code == 409
    assert client.post(f"{url}/cancel", json={"reason": "x"}, headers=admin).status_code == 422


def test_only_the_assigned_manager_starts(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    url = f"/api/v1/visits/{bank.one.visit.id}/start"
    assert client.post(url, headers=login(client, bank.one.reviewer)).status_code == 403


def test_a_reassigned_manager_loses_the_visit(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    second = make_collateral(session, facility=bank.one.facility)
    visit = make_visit(session, collateral=second, version=bank.version)
    session.commit()
    reviewer = login(client, bank.one.reviewer)
    client.post(
        f"/api/v1/visits/{visit.id}/reassign",
        json={"manager_id": str(bank.one.other_manager.id)},
        headers=reviewer,
    )
    assert (
        client.get(f"/api/v1/visits/{visit.id}", headers=login(client, bank.one.manager)).status_code == 404
    )
    assert (
        client.get(f"/api/v1/visits/{visit.id}", headers=login(client, bank.one.other_manager)).status_code
        == 200
    )
