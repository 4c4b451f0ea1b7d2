"""Sign-in throttling that reveals nothing about who exists, and signing out that ends access tokens."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.audit.models import AuditEvent
from api.config import Settings
from tests.conftest import TEST_NOW
from tests.factories import PASSWORD, make_bank

pytestmark = pytest.mark.calendar


def _try(
    client: TestClient, username: str, password: str = "wrong"
) -> tuple[int, dict[str, str], dict[str, str]]:
    answer = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    return answer.status_code, dict(answer.headers), answer.json()


def test_five_failures_block_a_username_whether_or_not_it_exists(
    client: TestClient, session: Session
) -> None:
    with time_machine.travel(TEST_NOW, tick=False):  # Retry-After counts whole seconds
        bank = make_bank(session)
        real, ghost = bank.one.manager.username, "nobody-at-all"
        for name in (real, ghost):
            assert [_try(client, name)[0] for _ in range(5)] == [401] * 5
        real_block, ghost_block = _try(client, real, PASSWORD), _try(client, ghost, PASSWORD)
        assert real_block[0] == ghost_block[0] == 429
        assert real_block[2]["code"] == ghost_block[2]["code"] == "too_many_sign_ins"
        assert real_block[1]["retry-after"] == ghost_block[1]["retry-after"] == "60"
        # Another user of the same address is not blocked by someone else's typing.
        assert _try(client, bank.one.reviewer.username, PASSWORD)[0] == 200
        failures = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "sign_in_failed")
        )
        assert failures == 10
        assert session.scalar(select(func.count()).where(AuditEvent.action == "sign_in_throttled")) == 2


def test_the_block_ends_and_grows_with_each_new_block(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    name = bank.one.manager.username
    with time_machine.travel(TEST_NOW, tick=False) as clock:
        for _ in range(5):
            _try(client, name)
        assert _try(client, name, PASSWORD)[0] == 429
        clock.shift(dt.timedelta(seconds=61))
        for _ in range(5):
            _try(client, name)
        status, headers, _ = _try(client, name, PASSWORD)
        assert status == 429 and headers["retry-after"] == "120"
        clock.shift(dt.timedelta(seconds=121))
        assert _try(client, name, PASSWORD)[0] == 200


def test_one_address_trying_many_usernames_is_blocked(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    for n in range(20):
        _try(client, f"guess{n}")
    status, headers, body = _try(client, bank.one.manager.username, PASSWORD)
    assert status == 429 and int(headers["retry-after"]) > 0 and body["code"] == "too_many_sign_ins"


def test_signing_out_ends_the_access_tokens_of_that_sign_in(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    first = client.post(
        "/api/v1/auth/token", data={"username": bank.one.manager.username, "password": PASSWORD}
    )
    other = client.post(
        "/api/v1/auth/token", data={"username": bank.one.manager.username, "password": PASSWORD}
    )
    assert first.headers["cache-control"] == "no-store"
    access = {"Authorization": f"Bearer {first.json()['access_token']}"}
    assert client.get("/api/v1/me", headers=access).status_code == 200
    assert (
        client.post("/api/v1/auth/revoke", json={"refresh_token": first.json()["refresh_token"]}).status_code
        == 204
    )
    assert client.get("/api/v1/me", headers=access).status_code == 401
    # The phone's other sign-in is untouched.
    still = {"Authorization": f"Bearer {other.json()['access_token']}"}
    assert client.get("/api/v1/me", headers=still).status_code == 200


def test_a_replayed_refresh_token_ends_the_access_tokens_too(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    with time_machine.travel(TEST_NOW, tick=False) as clock:
        tokens = client.post(
            "/api/v1/auth/token", data={"username": bank.one.manager.username, "password": PASSWORD}
        ).json()
        fresh = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).json()
        clock.shift(dt.timedelta(minutes=5))
        replay = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert replay.status_code == 401
        access = {"Authorization": f"Bearer {fresh['access_token']}"}
        assert client.get("/api/v1/me", headers=access).status_code == 401


def test_the_password_is_checked_before_the_write_lock_and_rechecked_if_it_changed(
    client: TestClient, session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """argon2 runs on a read-only snapshot before the sign-in's write transaction (on SQLite the lock is
    the whole database's); a password changed in between is verified again, never trusted stale."""
    import sqlite3

    from api.auth import security, service

    bank = make_bank(session)
    user = bank.one.manager
    session.commit()
    if settings.database_url.startswith("sqlite"):
        # Another writer holds the lock: the check still answers at once.
        other = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with client.app.state.read_sessionmaker() as snapshot:  # type: ignore[attr-defined]
                checked = service.check_password(snapshot, username=user.username, password=PASSWORD)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert checked is not None and checked.ok
    verified: list[str] = []
    real_verify = security.verify_password

    def counting(password: str, password_hash: str | None) -> bool:
        verified.append(password)
        return real_verify(password, password_hash)

    monkeypatch.setattr(service, "verify_password", counting)
    assert _try(client, user.username, PASSWORD)[0] == 200
    assert verified == [PASSWORD]  # once, ahead of the write transaction
    stale = service.PasswordCheck(password_hash="$argon2id$v=19$m=65536,t=3,p=4$c3RhbGU$c3RhbGU", ok=True)
    with pytest.raises(service.BadCredentials):
        service.authenticate(session, username=user.username, password="wrong", checked=stale)
    assert verified[-1] == "wrong"  # the hash had changed: verified again, and refused
