from __future__ import annotations

import datetime as dt

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api.auth.models import RefreshToken, User
from tests.factories import PASSWORD, login, make_bank

pytestmark = pytest.mark.calendar


def _sign_in(client: TestClient, user: User) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": user.username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def test_sign_in_gives_tokens_that_open_the_api(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    tokens = _sign_in(client, bank.one.manager)
    assert tokens["token_type"] == "bearer"
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.json()["username"] == bank.one.manager.username
    assert "password_hash" not in me.json()


def test_wrong_password_and_unknown_user_look_the_same(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    wrong = client.post(
        "/api/v1/auth/token", data={"username": bank.one.manager.username, "password": "nope"}
    )
    unknown = client.post("/api/v1/auth/token", data={"username": "nobody", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.headers["content-type"] == "application/problem+json"
    assert wrong.json()["code"] == unknown.json()["code"] == "bad_credentials"
    assert wrong.json()["title"] == "用户名或密码错误"


def test_missing_or_forged_token_is_401(client: TestClient, session: Session) -> None:
    make_bank(session)
    assert client.get("/api/v1/visits").status_code == 401
    forged = client.get("/api/v1/visits", headers={"Authorization": "Bearer abc.def.ghi"})
    assert forged.status_code == 401
    assert forged.json()["code"] == "token_invalid"


def test_refresh_rotates_and_the_new_token_works(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    first = _sign_in(client, bank.one.manager)
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}).json()
    assert second["refresh_token"] != first["refresh_token"]
    third = client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert third.status_code == 200


def test_a_retried_refresh_within_the_grace_window_still_works(client: TestClient, session: Session) -> None:
    """The phone sent refresh, the answer was lost, the phone retries with the same token."""
    bank = make_bank(session)
    first = _sign_in(client, bank.one.manager)
    client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    retry = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert retry.status_code == 200
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": retry.json()["refresh_token"]}).status_code
        == 200
    )


def test_a_replayed_refresh_token_revokes_the_whole_sign_in(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    first = _sign_in(client, bank.one.manager)
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}).json()
    # Age the rotation past the grace window: this is now a copied token being replayed.
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    session.execute(
        update(RefreshToken).where(RefreshToken.rotated_at.is_not(None)).values(rotated_at=long_ago)
    )
    session.commit()
    replay = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    # The legitimate holder's newer token is revoked too: the family is burnt.
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}).status_code
        == 401
    )


def test_a_week_offline_then_refresh_signs_in_without_a_password(
    client: TestClient, session: Session, app: FastAPI
) -> None:
    bank = make_bank(session)
    tokens = _sign_in(client, bank.one.manager)
    week_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=7)
    session.execute(update(RefreshToken).values(issued_at=week_ago))
    session.commit()
    again = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 200
    headers = {"Authorization": f"Bearer {again.json()['access_token']}"}
    assert client.get("/api/v1/visits", headers=headers).status_code == 200


def test_revoke_signs_out(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    tokens = _sign_in(client, bank.one.manager)
    assert (
        client.post("/api/v1/auth/revoke", json={"refresh_token": tokens["refresh_token"]}).status_code == 204
    )
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code
        == 401
    )
    assert session.scalars(select(RefreshToken.revoked_at)).all()[0] is not None


def test_expired_refresh_token_is_refused(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    tokens = _sign_in(client, bank.one.manager)
    session.execute(update(RefreshToken).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    session.commit()
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code
        == 401
    )


def test_a_deactivated_user_is_cut_off_at_once(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    session.execute(update(User).where(User.id == bank.one.manager.id).values(is_active=False))
    session.commit()
    assert client.get("/api/v1/visits", headers=headers).status_code == 401


def test_admin_creates_users_and_others_cannot(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    body = {
        "username": "new.manager",
        "password": "long-enough-password",
        "role": "manager",
        "branch_code": bank.one.branch.code,
    }
    assert (
        client.post("/api/v1/users", json=body, headers=login(client, bank.one.reviewer)).status_code == 403
    )
    created = client.post("/api/v1/users", json=body, headers=login(client, bank.one.admin))
    assert created.status_code == 201
    again = client.post("/api/v1/users", json=body, headers=login(client, bank.one.admin))
    assert again.status_code == 409
    assert again.json()["code"] == "username_taken"
