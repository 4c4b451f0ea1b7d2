"""Service accounts: the bank's other systems read through the API with an API key exchanged for a short
token (OAuth2 client credentials), within their scopes and branches, and can never act as a person."""

from __future__ import annotations

import base64
import datetime as dt

import time_machine
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from sqlmodel import select

from api.audit.models import AuditEvent
from api.auth.models import Role
from tests.factories import login, make_bank, make_service_account, service_login

ACCOUNTS = "/api/v1/service-accounts"
TOKEN = "/api/v1/auth/token"


def _create(client: TestClient, admin: dict[str, str], **overrides: object) -> dict[str, object]:
    body = {
        "username": "risk-platform",
        "display_name": "信贷风险平台",
        "scopes": ["visits:read"],
        **overrides,
    }
    answer = client.post(ACCOUNTS, json=body, headers=admin)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _issue(client: TestClient, admin: dict[str, str], account_id: object, **body: object) -> dict[str, str]:
    answer = client.post(f"{ACCOUNTS}/{account_id}/keys", json={"name": "prod", **body}, headers=admin)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _exchange(client: TestClient, key: str, **data: str) -> tuple[int, dict[str, object]]:
    answer = client.post(TOKEN, data={"grant_type": "client_credentials", "client_secret": key, **data})
    return answer.status_code, answer.json()


def test_an_admin_makes_a_system_that_reads_its_branch_with_a_key_shown_once(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    admin = login(client, bank.one.admin)
    account = _create(client, admin, branch_codes=[bank.one.branch.code])
    assert account["scopes"] == ["visits:read"] and account["branch_ids"] == [str(bank.one.branch.id)]
    issued = _issue(client, admin, account["id"])
    assert issued["key"].startswith(issued["prefix"] + "_") and issued["prefix"].startswith("fvk_")
    listed = client.get(f"{ACCOUNTS}/{account['id']}/keys", headers=admin).json()
    assert [k["prefix"] for k in listed] == [issued["prefix"]] and "key" not in listed[0]  # never again

    status, token = _exchange(client, issued["key"])
    assert status == 200, token
    assert (
        token["token_type"] == "bearer" and token["scope"] == "visits:read" and "refresh_token" not in token
    )
    system = {"Authorization": f"Bearer {token['access_token']}"}
    visits = client.get("/api/v1/visits", headers=system).json()["items"]
    assert [v["id"] for v in visits] == [str(bank.one.visit.id)]  # its branch only
    assert client.get(f"/api/v1/visits/{bank.one.visit.id}", headers=system).status_code == 200
    assert client.get(f"/api/v1/visits/{bank.two.visit.id}", headers=system).status_code == 404
    assert client.get("/api/v1/me", headers=system).json()["role"] == "service"
    # Outside its scopes, and anything a person does, it cannot.
    assert client.get("/api/v1/tasks", headers=system).status_code == 403
    assert client.get("/api/v1/review/queue", headers=system).status_code == 403
    assert client.post(f"/api/v1/visits/{bank.one.visit.id}/start", headers=system).status_code == 403
    assert client.get("/api/v1/me/work-package", headers=system).status_code == 403

    used = client.get(f"{ACCOUNTS}/{account['id']}/keys", headers=admin).json()[0]
    assert used["last_used_at"] is not None
    session.expire_all()
    trail = session.scalars(select(AuditEvent).where(AuditEvent.entity_id == issued["id"])).all()
    assert [e.action for e in trail] == ["created", "updated"]  # issued, then used
    assert issued["key"] not in "".join(e.content for e in trail)  # the secret never enters the trail


def test_it_cannot_sign_in_with_a_password_nor_be_made_as_a_user(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    admin = login(client, bank.one.admin)
    _create(client, admin)
    for password in ("", "!service-account", "correct horse battery"):
        answer = client.post(TOKEN, data={"username": "risk-platform", "password": password})
        assert answer.status_code in (401, 422), answer.text
    person_form = {"username": "sneaky", "password": "long enough pw", "role": "service"}
    assert (
        client.post(
            "/api/v1/users", json={**person_form, "branch_code": bank.one.branch.code}, headers=admin
        ).status_code
        == 422
    )


def test_only_an_admin_manages_service_accounts_and_bad_bodies_change_nothing(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    reviewer = login(client, bank.one.reviewer)
    body = {"username": "x-system", "display_name": "x", "scopes": ["visits:read"]}
    assert client.post(ACCOUNTS, json=body, headers=reviewer).status_code == 403
    admin = login(client, bank.one.admin)
    assert client.post(ACCOUNTS, json={**body, "scopes": ["visits:write"]}, headers=admin).status_code == 422
    assert client.post(ACCOUNTS, json={**body, "scopes": []}, headers=admin).status_code == 422
    assert client.post(ACCOUNTS, json={**body, "branch_codes": []}, headers=admin).status_code == 422
    assert client.post(ACCOUNTS, json={**body, "branch_codes": ["NOPE"]}, headers=admin).status_code == 404
    assert client.get(ACCOUNTS, headers=admin).json() == []
    made = _create(client, admin, username="x-system")
    assert client.post(ACCOUNTS, json=body, headers=admin).status_code == 409
    naive = client.post(
        f"{ACCOUNTS}/{made['id']}/keys",
        json={"name": "x", "expires_at": "2030-01-01T08:00:00"},
        headers=admin,
    )
    assert naive.status_code == 201 and naive.json()["expires_at"].startswith("2030-01-01T08:00:00")  # UTC
    past = {"name": "old", "expires_at": "2020-01-01T00:00:00+00:00"}
    assert client.post(f"{ACCOUNTS}/{made['id']}/keys", json=past, headers=admin).status_code == 422


def test_revoking_a_key_stops_it_and_its_tokens_at_once(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    admin = login(client, bank.one.admin)
    account = _create(client, admin)
    issued = _issue(client, admin, account["id"])
    system = service_login(client, issued["key"])
    assert client.get("/api/v1/visits", headers=system).status_code == 200
    revoked = client.post(f"{ACCOUNTS}/{account['id']}/keys/{issued['id']}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert client.get("/api/v1/visits", headers=system).status_code == 401  # the token of a minute ago
    status, problem = _exchange(client, issued["key"])
    assert status == 401 and problem["code"] == "invalid_client"
    assert _exchange(client, issued["key"][:-1] + "x")[0] == 401  # a key one character off
    assert _exchange(client, "not-a-key")[0] == 401


def test_rotation_keeps_the_old_key_for_the_overlap_then_ends_it(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    admin = login(client, bank.one.admin)
    account = _create(client, admin)
    old = _issue(client, admin, account["id"])
    rotated = client.post(
        f"{ACCOUNTS}/{account['id']}/keys/{old['id']}/rotate", json={"overlap_hours": 2}, headers=admin
    )
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert new["rotated_from"] == old["id"] and new["key"] != old["key"]
    assert _exchange(client, old["key"])[0] == 200 and _exchange(client, new["key"])[0] == 200
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=110), tick=False):
        status, token = _exchange(client, old["key"])
        assert status == 200
        assert int(str(token["expires_in"])) <= 10 * 60  # never past the old key's end
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(hours=2, minutes=1), tick=False):
        assert _exchange(client, old["key"])[0] == 401
        assert _exchange(client, new["key"])[0] == 200


def test_scopes_can_be_narrowed_per_token_and_taken_away_at_once(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    _user, key = make_service_account(session, admin=bank.one.admin, branches=None)
    status, token = _exchange(client, key, scope="tasks:read")
    assert status == 200 and token["scope"] == "tasks:read"
    narrow = {"Authorization": f"Bearer {token['access_token']}"}
    assert client.get("/api/v1/tasks", headers=narrow).status_code == 200
    assert client.get("/api/v1/visits", headers=narrow).status_code == 403
    admin = login(client, bank.one.admin)
    listed = client.get(ACCOUNTS, headers=admin).json()
    account_id = listed[0]["id"]
    status, problem = _exchange(client, key, scope="tasks:read users:write")
    assert status == 400 and problem["code"] == "invalid_scope"

    wide = service_login(client, key)
    bank_wide = client.get("/api/v1/visits", headers=wide).json()["items"]
    assert {v["id"] for v in bank_wide} == {str(bank.one.visit.id), str(bank.two.visit.id)}  # the whole bank
    changed = client.patch(
        f"{ACCOUNTS}/{account_id}",
        json={"scopes": ["tasks:read"], "branch_codes": [bank.two.branch.code]},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    assert client.get("/api/v1/visits", headers=wide).status_code == 403  # taken away, same token
    tasks = client.get("/api/v1/tasks", headers=wide)
    assert tasks.status_code == 200
    assert (
        client.patch(f"{ACCOUNTS}/{account_id}", json={"is_active": False}, headers=admin).status_code == 200
    )
    assert client.get("/api/v1/tasks", headers=wide).status_code == 401
    assert _exchange(client, key)[0] == 401


def test_http_basic_carries_the_key_too(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    _user, key = make_service_account(session, admin=bank.one.admin, branches=[bank.one.branch])
    basic = base64.b64encode(f"{key[:12]}:{key}".encode()).decode()
    answer = client.post(
        TOKEN, data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )
    assert answer.status_code == 200, answer.text
    assert client.post(TOKEN, data={"grant_type": "client_credentials"}).status_code == 401
    assert client.post(TOKEN, data={"grant_type": "implicit"}).status_code == 422
    assert Role.service.value == "service"
