"""tus creation-with-upload: a photo smaller than the client's chunk is one request; a larger one goes on
with PATCH from the offset the creation answered; a repeated creation never appends its body again."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from typing import Any

import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from api.auth.models import User
from api.config import Settings
from api.db import utcnow
from api.photos import service as photo_service
from api.photos.models import Photo, Upload
from api.photos.storage import PhotoStore
from api.visits.models import Visit
from tests.factories import Bank, login, make_bank
from tests.photos.images import jpeg, sha256

TUS = {"Tus-Resumable": "1.0.0"}
DATA = {"Content-Type": "application/offset+octet-stream"}


def _metadata(bank: Bank, photo_id: str, data: bytes) -> str:
    values = {
        "photo_id": photo_id, "visit_id": str(bank.one.visit.id), "item_key": "photo_overview",
        "content_type": "image/jpeg", "sha256": sha256(data),
    }  # fmt: skip
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def test_a_small_photo_is_one_request(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    headers = {**login(client, bank.one.manager), **TUS}
    assert "creation-with-upload" in client.options("/api/v1/uploads/").headers["tus-extension"]
    data = jpeg(800, 600, seed=91)
    photo_id = str(uuid.uuid4())
    answer = client.post(
        "/api/v1/uploads/",
        content=data,
        headers={
            **headers,
            **DATA,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": _metadata(bank, photo_id, data),
        },
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["upload-offset"] == str(len(data))
    assert answer.headers["fieldvisit-photo-id"] == photo_id
    session.rollback()
    assert session.scalar(select(Photo.sha256).where(Photo.id == uuid.UUID(photo_id))) == sha256(data)


def test_a_larger_photo_goes_on_from_the_creations_offset(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    headers = {**login(client, bank.one.manager), **TUS}
    data = jpeg(1600, 1200, seed=92)
    photo_id = str(uuid.uuid4())
    meta = {"Upload-Length": str(len(data)), "Upload-Metadata": _metadata(bank, photo_id, data)}
    first = client.post("/api/v1/uploads/", content=data[:50_000], headers={**headers, **DATA, **meta})
    assert first.status_code == 201 and first.headers["upload-offset"] == "50000"
    assert "fieldvisit-photo-id" not in first.headers
    # The phone lost that answer and creates again, with its first bytes: handed the same upload, body unread.
    again = client.post("/api/v1/uploads/", content=data[:80_000], headers={**headers, **DATA, **meta})
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["upload-offset"] == "50000"
    rest = client.patch(
        first.headers["location"],
        content=data[50_000:],
        headers={**headers, **DATA, "Upload-Offset": "50000"},
    )
    assert rest.status_code == 204 and rest.headers["fieldvisit-photo-id"] == photo_id
    session.rollback()
    assert session.scalar(select(Photo.sha256).where(Photo.id == uuid.UUID(photo_id))) == sha256(data)


def test_a_damaged_photo_sent_with_its_creation_is_refused_and_not_kept(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    headers = {**login(client, bank.one.manager), **TUS}
    data = jpeg(800, 600, seed=93)[:-4000]
    photo_id = str(uuid.uuid4())
    answer = client.post(
        "/api/v1/uploads/",
        content=data,
        headers={
            **headers,
            **DATA,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": _metadata(bank, photo_id, data),
        },
    )
    assert answer.status_code == 422 and answer.json()["code"] == "photo_damaged"
    session.rollback()
    assert session.scalar(select(Photo.id).where(Photo.id == uuid.UUID(photo_id))) is None


def _whole_creation(
    client: TestClient, headers: dict[str, str], bank: Bank, photo_id: str, data: bytes
) -> Any:
    return client.post(
        "/api/v1/uploads/",
        content=data,
        headers={
            **headers,
            **DATA,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": _metadata(bank, photo_id, data),
        },
    )


def test_a_whole_photo_with_its_creation_writes_its_upload_once(
    client: TestClient, session: Session, app: FastAPI
) -> None:
    """The photo and its upload, already finished, are written in one transaction: no offset recorded first,
    no second write to finish it."""
    bank = make_bank(session)
    headers = {**login(client, bank.one.manager), **TUS}
    data = jpeg(800, 600, seed=94)
    photo_id = str(uuid.uuid4())
    writes: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith(("INSERT", "UPDATE", "DELETE", "SAVEPOINT", "COMMIT")):
            writes.append(statement.split("(")[0].split(" SET ")[0].strip())

    event.listen(app.state.engine, "before_cursor_execute", note)
    try:
        answer = _whole_creation(client, headers, bank, photo_id, data)
    finally:
        event.remove(app.state.engine, "before_cursor_execute", note)
    assert answer.status_code == 201, answer.text
    assert answer.headers["upload-offset"] == answer.headers["upload-length"] == str(len(data))
    assert answer.headers["fieldvisit-photo-id"] == photo_id
    assert writes.count("INSERT INTO photo_upload") == 1
    assert not [w for w in writes if w.startswith(("UPDATE photo_upload", "SAVEPOINT"))], writes
    # A phone that lost that answer and asks where the upload stands hears that it is done.
    head = client.head(answer.headers["location"], headers=headers)
    assert head.headers["upload-offset"] == str(len(data))
    assert head.headers["fieldvisit-photo-id"] == photo_id


def test_a_whole_photo_whose_checksum_fails_is_refused_and_nothing_kept(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    headers = {**login(client, bank.one.manager), **TUS}
    data = jpeg(800, 600, seed=95)
    photo_id = str(uuid.uuid4())
    wrong = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()
    answer = _whole_creation(client, {**headers, "Upload-Checksum": f"sha256 {wrong}"}, bank, photo_id, data)
    assert answer.status_code == 460, answer.text
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Upload)) == 0
    assert session.scalar(select(Photo.id)) is None


def test_a_photo_kept_meanwhile_under_its_uuid_is_the_answer(
    client: TestClient, session: Session, app: FastAPI, settings: Settings
) -> None:
    """Two requests bring the same photo at once: the second to write it meets the primary key, rolls its
    transaction back (nothing else was in it) and answers with the photo kept by the first."""
    bank = make_bank(session)
    headers = {**login(client, bank.one.manager), **TUS}
    data = jpeg(800, 600, seed=96)
    photo_id = str(uuid.uuid4())
    first = _whole_creation(client, headers, bank, photo_id, data)
    assert first.status_code == 201
    # The second request had looked for the photo before the first kept it; it now writes its own.
    store = photo_service.photo_store(settings)
    received = store.temp_path()
    received.write_bytes(data)
    claim = photo_service.PhotoClaim(
        photo_id=uuid.UUID(photo_id), visit_id=bank.one.visit.id, item_key="photo_overview",
        declared_type="image/jpeg", sha256=sha256(data), size=len(data),
    )  # fmt: skip
    with app.state.sessionmaker() as racing:
        visit = racing.get_one(Visit, bank.one.visit.id)
        user = racing.get_one(User, bank.one.manager.id)
        kept = photo_service.keep_whole_upload(
            racing, settings=settings, user=user, visit=visit, claim=claim, extra={}, path=received,
            sha256=sha256(data),
        )  # fmt: skip
        assert kept is None
        assert racing.scalar(select(func.count()).select_from(Photo)) == 1  # the transaction goes on
    assert not received.exists()
    # Through the API, the same creation again is answered with the photo kept.
    again = _whole_creation(client, headers, bank, photo_id, data)
    assert again.status_code == 201 and again.headers["fieldvisit-photo-id"] == photo_id
    assert again.headers["upload-offset"] == str(len(data))
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Photo)) == 1


def test_an_upload_superseded_by_a_whole_creation_is_forgotten_after_a_day(
    client: TestClient, session: Session, app: FastAPI
) -> None:
    """A creation cut after its first bytes leaves an upload; the phone then sends the photo whole in a new
    one. The first, never finished, is forgotten with the finished ones; one whose photo never came stays."""
    bank = make_bank(session)
    headers = {**login(client, bank.one.manager), **TUS}
    data, waiting = jpeg(1600, 1200, seed=97), jpeg(1600, 1200, seed=98)
    photo_id, waiting_id = str(uuid.uuid4()), str(uuid.uuid4())
    for pid, body in ((photo_id, data), (waiting_id, waiting)):
        meta = {"Upload-Length": str(len(body)), "Upload-Metadata": _metadata(bank, pid, body)}
        cut = client.post("/api/v1/uploads/", content=body[:40_000], headers={**headers, **DATA, **meta})
        assert cut.headers["upload-offset"] == "40000"
    whole = _whole_creation(client, headers, bank, photo_id, data)
    assert whole.status_code == 201 and whole.headers["fieldvisit-photo-id"] == photo_id
    later = utcnow() + photo_service.FINISHED_UPLOAD_KEPT + dt.timedelta(minutes=1)
    with time_machine.travel(later), app.state.sessionmaker() as work:
        assert photo_service.expired_uploads_forgotten(work) == 2  # the superseded one, the finished one
        work.commit()
    session.rollback()
    left = session.scalars(select(Upload.photo_id)).all()
    assert left == [uuid.UUID(waiting_id)]


def test_an_abandoned_upload_expires_and_its_bytes_are_swept(
    client: TestClient, session: Session, app: FastAPI, settings: Settings
) -> None:
    """tus `expiration`: every answer about an unfinished upload says when it is forgotten (`Upload-Expires`),
    a byte received moves that on, and once it has passed the upload answers 404 — its client then sends the
    photo again in a new upload — and the sweep removes what it had received."""
    from email.utils import parsedate_to_datetime

    from api.ticks import sweep_photo_store

    bank = make_bank(session)
    data = jpeg(1600, 1200, seed=99)
    photo_id = str(uuid.uuid4())
    meta = {"Upload-Length": str(len(data)), "Upload-Metadata": _metadata(bank, photo_id, data)}
    assert "expiration" in client.options("/api/v1/uploads/").headers["tus-extension"].split(",")
    created_at = utcnow()
    cut = client.post(
        "/api/v1/uploads/",
        content=data[:40_000],
        headers={**login(client, bank.one.manager), **TUS, **DATA, **meta},
    )
    assert cut.status_code == 201 and cut.headers["upload-offset"] == "40000"
    expires = parsedate_to_datetime(cut.headers["upload-expires"])
    assert abs(expires - (created_at + photo_service.UNFINISHED_UPLOAD_KEPT)) < dt.timedelta(seconds=2)
    location = cut.headers["location"]
    part = settings.photo_dir / PhotoStore.upload_key(uuid.UUID(location.rsplit("/", 1)[1]))
    assert part.exists()

    six_days = created_at + dt.timedelta(days=6)
    with time_machine.travel(six_days, tick=False):
        with app.state.sessionmaker() as work:
            assert photo_service.expired_uploads_forgotten(work) == 0
            work.commit()
        headers = {**login(client, bank.one.manager), **TUS}
        asked = client.head(location, headers=headers)
        assert asked.status_code == 200 and asked.headers["upload-expires"] == cut.headers["upload-expires"]
        more = client.patch(
            location, content=data[40_000:80_000], headers={**headers, **DATA, "Upload-Offset": "40000"}
        )
        assert more.status_code == 204 and more.headers["upload-offset"] == "80000"
        moved_on = parsedate_to_datetime(more.headers["upload-expires"])
        assert abs(moved_on - (six_days + photo_service.UNFINISHED_UPLOAD_KEPT)) < dt.timedelta(seconds=2)

    # A week after its last byte, not after its creation.
    almost = six_days + photo_service.UNFINISHED_UPLOAD_KEPT - dt.timedelta(minutes=1)
    with time_machine.travel(almost), app.state.sessionmaker() as work:
        assert photo_service.expired_uploads_forgotten(work) == 0
    with time_machine.travel(six_days + photo_service.UNFINISHED_UPLOAD_KEPT + dt.timedelta(minutes=1)):
        with app.state.sessionmaker() as work:
            assert photo_service.expired_uploads_forgotten(work) == 1
            work.commit()
        headers = {**login(client, bank.one.manager), **TUS}
        assert client.head(location, headers=headers).status_code == 404
        assert sweep_photo_store(app.state.sessionmaker, settings) >= 1
        assert not part.exists()
        # The phone sends the photo again, whole, in a new upload.
        again = _whole_creation(client, headers, bank, photo_id, data)
        assert again.status_code == 201 and again.headers["fieldvisit-photo-id"] == photo_id
        assert "upload-expires" not in again.headers  # finished: nothing to expire
