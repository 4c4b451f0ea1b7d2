"""Bad input gets a clear 4xx problem and changes nothing; a failed commit never says "saved"."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from api.visits.models import Visit
from tests.factories import login, make_bank


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'{"subject_type": "collateral"}',
        b'{"subject_type": "spaceship", "subject_id": "x", "due_on": "yesterday"}',
        b'{"subject_type": "collateral", "subject_id": "00000000-0000-0000-0000-000000000000", "due_on": "2030-02-30"}',
        '{"subject_type": "collateral", "subject_id": "\u0000", "due_on": 1e999}'.encode(),
    ],
)
def test_malformed_bodies_get_a_problem_and_store_nothing(
    client: TestClient, session: Session, body: bytes
) -> None:
    bank = make_bank(session)
    answer = client.post(
        "/api/v1/visits",
        content=body,
        headers={**login(client, bank.one.admin), "Content-Type": "application/json"},
    )
    assert 400 <= answer.status_code < 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] in ("validation_failed", "unknown_subject")
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Visit)) == 2


def test_validation_errors_name_each_field(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    answer = client.post("/api/v1/visits", json={"due_on": "never"}, headers=login(client, bank.one.admin))
    fields = {error["field"] for error in answer.json()["errors"]}
    assert {"body.subject_type", "body.subject_id", "body.due_on"} <= fields


def test_english_on_request(client: TestClient, session: Session) -> None:
    english = client.get("/api/v1/visits", headers={"Accept-Language": "en-US,en;q=0.9"}).json()
    assert english["title"] == "Token invalid or expired; please sign in again"
    assert english["detail"] == "Send an access token as 'Authorization: Bearer …'."
    chinese = client.get("/api/v1/visits").json()
    assert chinese["title"] == "登录凭证无效或已过期，请重新登录"
    assert chinese["detail"] == "请携带访问令牌。"


def test_unknown_routes_and_methods_are_problems(client: TestClient, session: Session) -> None:
    assert client.get("/api/v1/nothing-here").json()["code"] == "not_found"
    assert client.delete("/api/v1/visits").json()["code"] == "method_not_allowed"


def test_bad_ids_in_paths_are_422_not_500(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    answer = client.get("/api/v1/visits/not-a-uuid", headers=login(client, bank.one.manager))
    assert answer.status_code == 422


def test_a_commit_that_fails_is_never_acknowledged(
    client: TestClient, session: Session, app: FastAPI
) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.admin)
    body = {"subject_type": "collateral", "subject_id": str(bank.one.collateral.id), "due_on": "2030-01-01"}
    client_no_raise = TestClient(app, raise_server_exceptions=False)
    listener_target = app.state.sessionmaker

    def explode(_session: Session) -> None:
        raise RuntimeError("disk full")

    event.listen(listener_target, "before_commit", explode)
    try:
        answer = client_no_raise.post("/api/v1/visits", json=body, headers=headers)
    finally:
        event.remove(listener_target, "before_commit", explode)
    assert answer.status_code == 500
    assert answer.json()["code"] == "internal_error"
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Visit)) == 2
