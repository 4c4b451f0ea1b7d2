"""Walk every endpoint with a user of the other branch: another branch's records answer 404."""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.auth.models import Role
from tests.factories import Bank, login, make_bank, make_project


def _ids_of_branch_one(session: Session, bank: Bank) -> dict[str, uuid.UUID]:
    project = make_project(session, facility=bank.one.facility)
    session.commit()
    return {
        "visit_id": bank.one.visit.id,
        "borrower_id": bank.one.borrower.id,
        "facility_id": bank.one.facility.id,
        "subject_id": project.id,
    }


# Bank-wide records, not owned by a branch: templates are shared by every branch on purpose.
BANK_WIDE = {"template_id", "version_id", "kind"}


def _endpoints(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) of the published API."""
    paths = app.openapi()["paths"]
    return [(method.upper(), path) for path, methods in paths.items() for method in methods]


@pytest.mark.parametrize("role", [Role.manager, Role.reviewer])
def test_other_branch_records_answer_404_on_every_endpoint(
    app: FastAPI, client: TestClient, session: Session, role: Role
) -> None:
    bank = make_bank(session)
    ids = _ids_of_branch_one(session, bank)
    outsider = bank.two.manager if role == Role.manager else bank.two.reviewer
    headers = login(client, outsider)
    walked = 0
    for method, template in _endpoints(app):
        params = re.findall(r"{(\w+)}", template)
        if not params or set(params) & BANK_WIDE:
            continue
        unknown = set(params) - set(ids)
        assert not unknown, f"{template}: add {unknown} to this test so the endpoint is walked"
        path = template
        for name in params:
            path = path.replace("{" + name + "}", str(ids[name]))
        answer = client.request(method, path, headers=headers, json={})
        walked += 1
        if method == "GET":
            assert answer.status_code == 404, (method, path, answer.status_code)
        else:
            # Writes may fail earlier on role or body, but never succeed or reveal the record.
            assert answer.status_code in (403, 404, 422), (method, path, answer.status_code)
            if answer.status_code == 422:
                assert str(ids[params[0]]) not in answer.text
    assert walked >= 8


def test_subject_query_parameters_are_scoped_too(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    ids = _ids_of_branch_one(session, bank)
    headers = login(client, bank.two.reviewer)
    assert (
        client.get(
            "/api/v1/declarations", params={"subject_id": str(ids["subject_id"])}, headers=headers
        ).status_code
        == 404
    )
    listed = client.get("/api/v1/visits", params={"subject_id": str(bank.one.collateral.id)}, headers=headers)
    assert listed.json()["items"] == []


@pytest.mark.parametrize("path", ["/api/v1/visits", "/api/v1/borrowers", "/api/v1/facilities"])
def test_lists_hold_nothing_of_the_other_branch(client: TestClient, session: Session, path: str) -> None:
    bank = make_bank(session)
    foreign = {str(bank.one.visit.id), str(bank.one.borrower.id), str(bank.one.facility.id)}
    for user in (bank.two.manager, bank.two.reviewer):
        items = client.get(path, headers=login(client, user)).json()["items"]
        assert items, "the other branch must see its own records"
        assert not {item["id"] for item in items} & foreign
