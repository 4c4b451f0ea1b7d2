"""Walk every endpoint with a user of the other branch: another branch's records answer 404."""

from __future__ import annotations

import base64
import re
import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.auth.models import Role
from tests.factories import Bank, login, make_bank, make_project, make_service_account, service_login
from tests.photos.images import jpeg, sha256
from tests.sync.helpers import capture_photos, put_photo, submission_body


def _ids_of_branch_one(session: Session, bank: Bank, client: TestClient) -> dict[str, str]:
    project = make_project(session, facility=bank.one.facility)
    session.commit()
    manager = login(client, bank.one.manager)
    photos = capture_photos()
    submission_id = str(uuid.uuid4())
    client.put(
        f"/api/v1/visits/{bank.one.visit.id}/submissions/{submission_id}",
        json=submission_body(photos),
        headers=manager,
    )
    put_photo(client, manager, bank.one.visit.id, photos[0])
    pending = photos[1]
    upload = client.post(
        "/api/v1/uploads/",
        headers={
            **manager,
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(len(pending.data)),
            "Upload-Metadata": ",".join(
                f"{k} {base64.b64encode(v.encode()).decode()}"
                for k, v in {
                    "photo_id": pending.id,
                    "visit_id": str(bank.one.visit.id),
                    "item_key": pending.item_key,
                    "content_type": "image/jpeg",
                    "sha256": pending.sha256,
                }.items()
            ),
        },
    )
    # A finding and its task: a check-in far from the site.
    far = submission_body(
        capture_photos(seed=5),
        check_in={"lat": 31.30, "lon": 121.60, "accuracy_m": 10, "fixed_at": "2026-11-29T10:00:00+08:00"},
    )
    client.put(f"/api/v1/visits/{bank.one.visit.id}/submissions/{uuid.uuid4()}", json=far, headers=manager)
    task_id = client.get("/api/v1/tasks", headers=manager).json()["items"][0]["id"]
    job = client.post("/api/v1/exports/jobs", json={}, headers=login(client, bank.one.reviewer)).json()
    # An early-warning signal and a proposed risk grade: 100 days past due.
    admin = login(client, bank.one.admin)
    client.post(
        f"/api/v1/facilities/{bank.one.facility.id}/repayments",
        json={"as_of": "2026-11-29", "days_past_due": 100},
        headers=admin,
    )
    signal_id = client.get("/api/v1/signals", headers=admin).json()[0]["id"]
    proposal_id = client.get("/api/v1/grade-proposals", headers=admin).json()[0]["id"]
    # A submitted case with an attachment, and a contact with a commitment.
    case_id, attachment_id, contact_id = (str(uuid.uuid4()) for _ in range(3))
    case = {
        "kind": "escalation",
        "routed_to": "risk",
        "borrower_id": str(bank.one.borrower.id),
        "title": "上报",
        "reason": "押品缺失",
    }
    assert client.put(f"/api/v1/cases/{case_id}", json=case, headers=manager).status_code == 201
    document = jpeg(64, 48)
    attached = client.put(
        f"/api/v1/cases/{case_id}/attachments/{attachment_id}",
        params={"filename": "现场.jpg", "sha256": sha256(document)},
        content=document,
        headers={**manager, "Content-Type": "image/jpeg"},
    )
    assert attached.status_code == 201, attached.text
    client.post(f"/api/v1/cases/{case_id}/actions", json={"action": "submit"}, headers=manager)
    contact = {
        "borrower_id": str(bank.one.borrower.id),
        "occurred_at": "2026-11-29T10:00:00+08:00",
        "channel": "call",
        "people": [{"name": "周建国"}],
        "summary": "承诺月底前补缴利息",
        "commitments": [{"text": "补缴利息", "due_on": "2026-12-31"}],
    }
    assert client.put(f"/api/v1/contacts/{contact_id}", json=contact, headers=manager).status_code == 201
    return {
        "case_id": case_id,
        "attachment_id": attachment_id,
        "contact_id": contact_id,
        "signal_id": signal_id,
        "proposal_id": proposal_id,
        "project_id": str(project.id),
        "job_id": job["id"],
        "task_id": task_id,
        "visit_id": str(bank.one.visit.id),
        "borrower_id": str(bank.one.borrower.id),
        "facility_id": str(bank.one.facility.id),
        "subject_id": str(project.id),
        "submission_id": submission_id,
        "photo_id": photos[0].id,
        "upload_id": upload.headers["Location"].rsplit("/", 1)[1],
        "kind": "original",
    }


# Bank-wide records, not owned by a branch: templates are shared by every branch on purpose; service
# accounts and their keys are the admin's (tests/integrations/test_service_accounts.py), webhook
# subscriptions their owner's (tests/integrations/test_webhooks.py).
# Map tiles are the same for everyone (tests/maps/test_tiles.py).
BANK_WIDE = {
    "template_id", "version_id", "kind", "account_id", "key_id", "subscription_id", "delivery_id", "z", "x", "y",
    "key",  # an early-warning indicator's thresholds are the bank's
}  # fmt: skip


# Opened by a signature in the link, not by who asks (tests/test_export_jobs.py tries forged ones).
SIGNED = {"/api/v1/exports/jobs/{job_id}/file"}


def _endpoints(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) of the published API."""
    paths = app.openapi()["paths"]
    return [
        (method.upper(), path) for path, methods in paths.items() for method in methods if path not in SIGNED
    ]


@pytest.mark.parametrize("role", [Role.manager, Role.reviewer, Role.service])
def test_other_branch_records_answer_404_on_every_endpoint(
    app: FastAPI, client: TestClient, session: Session, role: Role
) -> None:
    bank = make_bank(session)
    ids = _ids_of_branch_one(session, bank, client)
    if role == Role.service:
        # A system of branch two with every scope: it reads branch one's records no more than a person of
        # branch two does, and can write nothing at all.
        _account, key = make_service_account(session, admin=bank.two.admin, branches=[bank.two.branch])
        headers = service_login(client, key)
    else:
        headers = login(client, bank.two.manager if role == Role.manager else bank.two.reviewer)
    walked = read = 0
    for method, template in _endpoints(app):
        params = re.findall(r"{(\w+)}", template)
        if not params or set(params) & BANK_WIDE:
            continue
        unknown = set(params) - set(ids)
        assert not unknown, f"{template}: add {unknown} to this test so the endpoint is walked"
        path = template
        for name in params:
            path = path.replace("{" + name + "}", str(ids[name]))
        answer = client.request(method, path, headers={**headers, "Tus-Resumable": "1.0.0"}, json={})
        walked += 1
        if method in ("GET", "HEAD"):
            # A system meets 403 on the endpoints that are for people whatever the record (tus, the
            # review queue...): that reveals nothing either; on the endpoints its scopes open, 404.
            allowed = (403, 404) if role == Role.service else (404,)
            assert answer.status_code in allowed, (method, path, answer.status_code)
            read += answer.status_code == 404
        else:
            # Writes may fail earlier on role or body, but never succeed or reveal the record.
            assert answer.status_code in (403, 404, 422), (method, path, answer.status_code)
            if answer.status_code == 422:
                # Only the client's own path may echo back (as `instance`); no record is described.
                body = {k: v for k, v in answer.json().items() if k != "instance"}
                assert ids[params[0]] not in str(body)
    assert walked >= 8 and read >= 8, (walked, read)


def test_subject_query_parameters_are_scoped_too(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    ids = _ids_of_branch_one(session, bank, client)
    headers = login(client, bank.two.reviewer)
    assert (
        client.get(
            "/api/v1/declarations", params={"subject_id": ids["subject_id"]}, headers=headers
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
