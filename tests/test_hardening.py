"""Bad input is a 4xx on both databases and stores nothing; outages answer 503 or 507 with Retry-After;
health tells the truth; every answer carries the security headers; text is compressed."""

from __future__ import annotations

import errno
import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.auth.models import User
from api.config import Settings
from api.portfolio.models import Borrower
from api.visits.models import Visit, VisitStatus
from tests.factories import login, make_bank

NUL = "\x00"


def _refused(answer: object, field_part: str) -> None:
    assert answer.status_code == 422, answer.text  # type: ignore[attr-defined]
    body = answer.json()  # type: ignore[attr-defined]
    assert body["code"] == "text_not_allowed"
    assert any(field_part in error["field"] for error in body["errors"]), body


def test_nul_in_any_text_is_refused_naming_the_field(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    _refused(client.post("/api/v1/auth/token", data={"username": f"a{NUL}b", "password": "x"}), "username")
    admin = login(client, bank.one.admin)
    _refused(
        client.post(f"/api/v1/visits/{bank.one.visit.id}/cancel", json={"reason": f"no{NUL}"}, headers=admin),
        "reason",
    )
    _refused(client.get("/api/v1/visits", params={"status": f"x{NUL}"}, headers=admin), "status")
    _refused(
        client.post(
            "/api/v1/users",
            json={
                "username": "newbie",
                "password": "long enough pw",
                "role": "manager",
                "branch_code": bank.one.branch.code,
                "display_name": f"张{NUL}三",
            },
            headers=admin,
        ),
        "display_name",
    )
    csv = f"branch_code,name,credit_code\n{bank.one.branch.code},企业{NUL},91310115MA1K3YJ29X\n"
    answer = client.post(
        "/api/v1/imports/borrowers", content=csv.encode(), headers={**admin, "Content-Type": "text/csv"}
    )
    _refused(answer, "line 2")
    _refused(
        client.post(
            f"/api/v1/visits/{bank.one.visit.id}/cancel",
            content=b'{"reason": "ab\\ud800"}',
            headers={**admin, "Content-Type": "application/json"},
        ),
        "reason",
    )
    session.rollback()
    assert session.get(Visit, bank.one.visit.id).status == VisitStatus.scheduled  # type: ignore[union-attr]
    assert session.scalar(select(func.count()).select_from(User).where(User.username == "newbie")) == 0
    assert session.scalar(select(func.count()).select_from(Borrower)) == 2


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_json_numbers_are_refused(client: TestClient, session: Session, literal: str) -> None:
    bank = make_bank(session)
    check_in = '{"lat": 31.2, "lon": 121.4, "accuracy_m": ACC, "fixed_at": "2026-11-29T10:00:00+08:00"}'
    body = '{"check_in": ' + check_in.replace("ACC", literal) + ', "answers": {}, "photos": []}'
    answer = client.put(
        f"/api/v1/visits/{bank.one.visit.id}/submissions/{uuid.uuid4()}",
        content=body,
        headers={**login(client, bank.one.manager), "Content-Type": "application/json"},
    )
    assert answer.status_code == 422 and answer.json()["code"] == "text_not_allowed"


def test_integer_parameters_have_bounds(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    for who in (bank.one.manager, bank.one.reviewer, bank.one.admin):
        answer = client.get("/api/v1/changes", params={"after": str(2**63)}, headers=login(client, who))
        assert answer.status_code == 422
    assert (
        client.get(
            "/api/v1/changes", params={"after": str(2**63 - 1)}, headers=login(client, who)
        ).status_code
        == 200
    )


def test_an_import_over_the_size_limit_is_413(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    big = b"branch_code,name,credit_code\n" + b"x" * (21 * 1024 * 1024)
    answer = client.post(
        "/api/v1/imports/borrowers",
        content=big,
        headers={**login(client, bank.one.admin), "Content-Type": "application/octet-stream"},
    )
    assert answer.status_code == 413 and answer.headers["content-type"] == "application/problem+json"


def test_an_unreachable_database_is_503_with_retry_after(
    app: FastAPI, client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.manager)

    def down(*_args: object, **_kwargs: object) -> None:
        raise sa_exc.OperationalError(
            "SELECT 1", {}, Exception("connection refused: could not connect to server")
        )

    monkeypatch.setattr(app.state.engine.pool, "connect", down)
    answer = client.get("/api/v1/visits", headers=headers)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert answer.json()["code"] == "database_unavailable"
    ready = client.get("/api/health/ready")
    assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("unreachable")
    assert client.get("/api/health/live").status_code == 200
    monkeypatch.undo()
    assert client.get("/api/v1/visits", headers=headers).status_code == 200  # recovery needs nothing


def test_a_full_disk_is_507(client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    from api.photos import transfer

    bank = make_bank(session)
    headers = login(client, bank.one.manager)

    async def full(*_args: object, **_kwargs: object) -> object:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(transfer, "append", full)
    created = client.post(
        "/api/v1/uploads/",
        headers={**headers, "Tus-Resumable": "1.0.0", "Upload-Length": "10",
                 "Upload-Metadata": "photo_id " + __import__("base64").b64encode(str(uuid.uuid4()).encode()).decode()
                 + ",visit_id " + __import__("base64").b64encode(str(bank.one.visit.id).encode()).decode()
                 + ",item_key " + __import__("base64").b64encode(b"photo_overview").decode()
                 + ",content_type " + __import__("base64").b64encode(b"image/jpeg").decode()
                 + ",sha256 " + __import__("base64").b64encode(b"a" * 64).decode()},
    )  # fmt: skip
    assert created.status_code == 201
    answer = client.patch(
        created.headers["Location"],
        content=b"0123456789",
        headers={**headers, "Tus-Resumable": "1.0.0", "Upload-Offset": "0",
                 "Content-Type": "application/offset+octet-stream"},
    )  # fmt: skip
    assert answer.status_code == 507 and answer.headers["retry-after"] == "300"


def test_health_is_ready_with_a_current_schema_and_writable_storage(client: TestClient) -> None:
    ready = client.get("/api/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "schema": "ok", "storage": "ok"}


def test_security_headers_and_compression(client: TestClient, session: Session) -> None:
    shell = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert "frame-ancestors 'none'" in shell.headers["content-security-policy"]
    assert "script-src 'self'" in shell.headers["content-security-policy"]
    assert shell.headers["x-content-type-options"] == "nosniff"
    script = client.get("/app/js/app.js", headers={"Accept-Encoding": "gzip"})
    assert script.headers["content-encoding"] == "gzip"
    api_answer = client.get("/api/v1/visits")
    assert api_answer.headers["x-content-type-options"] == "nosniff"
    spec = client.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert spec.headers["content-encoding"] == "gzip"


def test_a_writer_waits_for_sqlite_s_lock_and_past_the_wait_it_is_a_503(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine polls for SQLite's write lock itself (every 5 ms; SQLite's own handler sleeps up to
    100 ms between tries: bench/import_load.py shows the difference). A writer gets the lock once it is
    free; past the wait, the lock is a 503 like any busy database."""
    import sqlite3
    import threading
    import time

    from sqlalchemy import exc as sa_exc

    from api import db
    from api.errors import database_unavailable

    if not settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite's single write lock")
    engine = db.make_engine(settings.database_url)
    other = sqlite3.connect(
        settings.database_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False
    )
    try:
        other.execute("BEGIN IMMEDIATE")
        released = threading.Timer(0.45, lambda: (other.execute("ROLLBACK"), marks.append(time.monotonic())))
        marks: list[float] = []
        released.start()
        with engine.begin() as conn:
            got = time.monotonic()
            conn.exec_driver_sql("SELECT 1")
        released.join()
        assert got >= marks[0]
        monkeypatch.setattr(db, "SQLITE_LOCK_WAIT_SECONDS", 0.2)
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(sa_exc.OperationalError) as refused, engine.begin():
            pass
        assert database_unavailable(refused.value)
        other.execute("ROLLBACK")
    finally:
        other.close()
        engine.dispose()
