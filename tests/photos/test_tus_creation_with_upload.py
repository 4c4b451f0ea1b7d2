"""tus creation-with-upload: a photo smaller than the client's chunk is one request; a larger one goes on
with PATCH from the offset the creation answered; a repeated creation never appends its body again."""

from __future__ import annotations

import base64
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.photos.models import Photo
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
