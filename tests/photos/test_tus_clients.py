"""Another tus client than ours — tuspy, the tus project's Python client — against a real server: a plain
upload, a resume after the last answer was lost, and creating an upload for a photo the server already
holds. Each ends cleanly with the server holding the device's SHA-256."""

from __future__ import annotations

import io
import uuid

import httpx2 as httpx
from sqlalchemy import select
from sqlalchemy.orm import Session
from tusclient import client as tus

from api.photos.models import Photo
from tests.factories import PASSWORD, Bank, make_bank
from tests.photos.images import jpeg, sha256
from tests.photos.test_resume_live import live_server  # noqa: F401  (the fixture)


def _client(base: str, bank: Bank) -> tus.TusClient:
    token = httpx.post(
        f"{base}/api/v1/auth/token", data={"username": bank.one.manager.username, "password": PASSWORD}
    ).json()["access_token"]
    return tus.TusClient(f"{base}/api/v1/uploads/", headers={"Authorization": f"Bearer {token}"})


def _metadata(bank: Bank, data: bytes, photo_id: str) -> dict[str, str]:
    return {
        "photo_id": photo_id, "visit_id": str(bank.one.visit.id), "item_key": "photo_overview",
        "content_type": "image/jpeg", "sha256": sha256(data),
    }  # fmt: skip


def _held(session: Session, photo_id: str) -> str | None:
    session.rollback()
    return session.scalar(select(Photo.sha256).where(Photo.id == uuid.UUID(photo_id)))


def test_tuspy_uploads_resumes_after_a_lost_last_answer_and_meets_a_held_photo(
    live_server: str,  # noqa: F811
    session: Session,
) -> None:
    bank = make_bank(session)
    client = _client(live_server, bank)
    data = jpeg(1600, 1200, seed=31)

    first = str(uuid.uuid4())
    client.uploader(
        file_stream=io.BytesIO(data), chunk_size=64 * 1024, metadata=_metadata(bank, data, first)
    ).upload()
    assert _held(session, first) == sha256(data)

    # The last answer of a finished upload was lost: the phone resumes with the URL it kept.
    second_data = jpeg(1200, 900, seed=32)
    second = str(uuid.uuid4())
    uploader = client.uploader(
        file_stream=io.BytesIO(second_data), chunk_size=1 << 30, metadata=_metadata(bank, second_data, second)
    )
    uploader.upload()
    resumed = client.uploader(file_stream=io.BytesIO(second_data), url=uploader.url, chunk_size=64 * 1024)
    assert resumed.offset == len(second_data)  # HEAD says every byte arrived
    resumed.upload()
    assert _held(session, second) == sha256(second_data)

    # Creating an upload again for a photo the server holds ends at once, with nothing sent twice.
    again = client.uploader(
        file_stream=io.BytesIO(data), chunk_size=64 * 1024, metadata=_metadata(bank, data, first)
    )
    again.upload()
    assert again.offset == len(data)
    assert _held(session, first) == sha256(data)
