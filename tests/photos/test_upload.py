"""Photo transfer through the API: tus resumable uploads, a plain PUT, and reading photos back."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.config import Settings
from api.photos.models import Photo, Upload
from tests.factories import Bank, login, make_bank
from tests.photos.images import encode, jpeg, picture, sha256
from tests.photos.test_inspection import BAD_FILES

TUS = {"Tus-Resumable": "1.0.0"}


def _metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def _create(
    client: TestClient, headers: dict[str, str], bank: Bank, data: bytes, photo_id: str, **extra: str
) -> Any:
    meta = {
        "photo_id": photo_id,
        "visit_id": str(bank.one.visit.id),
        "item_key": "photo_overview",
        "content_type": "image/jpeg",
        "sha256": sha256(data),
        **extra,
    }
    return client.post(
        "/api/v1/uploads/",
        headers={**headers, **TUS, "Upload-Length": str(len(data)), "Upload-Metadata": _metadata(**meta)},
    )


def _patch(
    client: TestClient, headers: dict[str, str], location: str, offset: int, chunk: bytes, **extra: str
) -> Any:
    return client.patch(
        location,
        content=chunk,
        headers={
            **headers,
            **TUS,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
            **extra,
        },
    )


def _stored_files(settings: Settings) -> list[Path]:
    root = settings.photo_dir
    return [
        p
        for sub in ("originals", "derived", "uploads", "tmp")
        for p in (root / sub).rglob("*")
        if p.is_file()
    ]


def _count(session: Session, model: type) -> int:
    session.rollback()
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture(autouse=True)
def _empty_photo_folder(settings: Settings) -> None:
    for path in _stored_files(settings):
        path.unlink()


def test_tus_options_advertises_the_protocol(client: TestClient) -> None:
    answer = client.options("/api/v1/uploads/")
    assert answer.status_code == 204
    assert answer.headers["Tus-Version"] == "1.0.0"
    assert set(answer.headers["Tus-Extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "checksum",
        "expiration",
        "termination",
    }
    assert answer.headers["Tus-Checksum-Algorithm"] == "sha256"


def test_an_upload_resumes_from_the_servers_offset(
    client: TestClient, session: Session, settings: Settings
) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    data = jpeg(1200, 900, gps=(31.2304, 121.4737), offset="+08:00")
    photo_id = "7d0e7f9c-52f4-4c55-9a6e-1a9a4b1f0001"
    created = _create(
        client, headers, bank, data, photo_id, fix_lat="31.23", fix_lon="121.47", fix_accuracy="8"
    )
    assert created.status_code == 201
    location = created.headers["Location"]
    half = len(data) // 2
    assert _patch(client, headers, location, 0, data[:half]).headers["Upload-Offset"] == str(half)

    # The connection dropped; the phone asks where to resume.
    head = client.head(location, headers={**headers, **TUS})
    assert head.headers["Upload-Offset"] == str(half)
    assert head.headers["Cache-Control"] == "no-store"
    stale = _patch(client, headers, location, 0, data)
    assert stale.status_code == 409
    assert stale.headers["Upload-Offset"] == str(half)

    done = _patch(client, headers, location, half, data[half:])
    assert done.status_code == 204
    assert done.headers["Fieldvisit-Photo-Id"] == photo_id
    record = client.get(f"/api/v1/photos/{photo_id}", headers=headers).json()
    assert record["sha256"] == sha256(data)
    assert record["exif"]["gps"]["lat"] == pytest.approx(31.2304)
    assert record["device_fix"] == {"lat": 31.23, "lon": 121.47, "accuracy_m": 8.0}
    assert record["state"] == "processed"
    assert len(record["phash"]) == 16
    original = client.get(record["links"]["original"], headers=headers)
    assert hashlib.sha256(original.content).hexdigest() == sha256(data)
    # A finished upload still answers HEAD with every byte arrived (a phone that lost the last answer).
    finished = client.head(location, headers={**headers, **TUS})
    assert finished.status_code == 200
    assert finished.headers["Upload-Offset"] == finished.headers["Upload-Length"] == str(len(data))
    assert finished.headers["Fieldvisit-Photo-Id"] == record["id"]
    assert list((settings.photo_dir / "uploads").iterdir()) == []  # the partial file went with the commit


def test_chunk_checksums_discard_a_corrupted_chunk(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    data = jpeg()
    location = _create(client, headers, bank, data, "7d0e7f9c-52f4-4c55-9a6e-1a9a4b1f0002").headers[
        "Location"
    ]
    wrong = base64.b64encode(hashlib.sha256(b"something else").digest()).decode()
    answer = _patch(client, headers, location, 0, data[:1000], **{"Upload-Checksum": f"sha256 {wrong}"})
    assert answer.status_code == 460
    assert client.head(location, headers={**headers, **TUS}).headers["Upload-Offset"] == "0"
    right = base64.b64encode(hashlib.sha256(data[:1000]).digest()).decode()
    ok = _patch(client, headers, location, 0, data[:1000], **{"Upload-Checksum": f"sha256 {right}"})
    assert ok.headers["Upload-Offset"] == "1000"


def test_a_whole_photo_checksum_mismatch_keeps_nothing(
    client: TestClient, session: Session, settings: Settings
) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    data = jpeg()
    meta_sha = sha256(data + b"x")
    created = client.post(
        "/api/v1/uploads/",
        headers={
            **headers,
            **TUS,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": _metadata(
                photo_id="7d0e7f9c-52f4-4c55-9a6e-1a9a4b1f0003",
                visit_id=str(bank.one.visit.id),
                item_key="photo_overview",
                content_type="image/jpeg",
                sha256=meta_sha,
            ),
        },
    )
    answer = _patch(client, headers, created.headers["Location"], 0, data)
    assert answer.status_code == 422
    assert answer.json()["code"] == "photo_checksum_mismatch"
    assert _count(session, Photo) == 0
    assert _count(session, Upload) == 0
    assert _stored_files(settings) == []


def test_the_same_photo_twice_answers_with_the_first_and_other_bytes_conflict(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    data = jpeg(seed=2)
    photo_id = "7d0e7f9c-52f4-4c55-9a6e-1a9a4b1f0004"
    location = _create(client, headers, bank, data, photo_id).headers["Location"]
    _patch(client, headers, location, 0, data)
    again = _create(client, headers, bank, data, photo_id)
    # An upload that is already complete: any tus client asks, hears every byte arrived, and stops.
    assert again.status_code == 201
    assert again.headers["Upload-Offset"] == again.headers["Upload-Length"] == str(len(data))
    assert again.headers["Fieldvisit-Photo-Id"] == photo_id
    late_patch = _patch(client, headers, again.headers["Location"], 0, data)
    assert late_patch.status_code == 204 and late_patch.headers["Upload-Offset"] == str(len(data))
    other = jpeg(seed=3)
    assert _create(client, headers, bank, other, photo_id).status_code == 409
    put_again = client.put(
        f"/api/v1/photos/{photo_id}",
        params={"visit_id": str(bank.one.visit.id), "item_key": "photo_overview", "sha256": sha256(data)},
        content=data,
        headers={**headers, "Content-Type": "image/jpeg"},
    )
    assert put_again.status_code == 200
    put_other = client.put(
        f"/api/v1/photos/{photo_id}",
        params={"visit_id": str(bank.one.visit.id), "item_key": "photo_overview", "sha256": sha256(other)},
        content=other,
        headers={**headers, "Content-Type": "image/jpeg"},
    )
    assert put_other.status_code == 409
    assert put_other.json()["code"] == "photo_id_conflict"
    assert _count(session, Photo) == 1


def test_an_upload_whose_photo_arrived_meanwhile_by_another_way_ends_with_that_photo(
    client: TestClient, session: Session, settings: Settings
) -> None:
    """Finishing an upload does not look for the photo first: the primary key catches one kept meanwhile
    (here by a PUT), and the upload ends with it — or 409 when those were other bytes."""
    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    data, other = jpeg(seed=5), jpeg(seed=6)
    for photo_id, sent_meanwhile, answer in (
        ("7d0e7f9c-52f4-4c55-9a6e-1a9a4b1f0007", data, 204),
        ("7d0e7f9c-52f4-4c55-9a6e-1a9a4b1f0008", other, 409),
    ):
        location = _create(client, headers, bank, data, photo_id).headers["Location"]
        assert _patch(client, headers, location, 0, data[:1000]).status_code == 204
        assert _put(client, headers, bank, sent_meanwhile, "image/jpeg", photo_id).status_code == 201
        last = _patch(client, headers, location, 1000, data[1000:])
        assert last.status_code == answer, last.text
        if answer == 204:
            assert last.headers["Fieldvisit-Photo-Id"] == photo_id
        else:
            assert last.json()["code"] == "photo_id_conflict"
    session.rollback()
    assert _count(session, Photo) == 2
    kept = {photo.sha256 for photo in session.scalars(select(Photo))}
    assert kept == {sha256(data), sha256(other)}


def test_a_lost_creation_answer_gets_the_same_upload_back(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    data = jpeg()
    first = _create(client, headers, bank, data, "7d0e7f9c-52f4-4c55-9a6e-1a9a4b1f0005").headers["Location"]
    second = _create(client, headers, bank, data, "7d0e7f9c-52f4-4c55-9a6e-1a9a4b1f0005").headers["Location"]
    assert first == second


def _put(
    client: TestClient, headers: dict[str, str], bank: Bank, data: bytes, declared: str, photo_id: str
) -> Any:
    return client.put(
        f"/api/v1/photos/{photo_id}",
        params={"visit_id": str(bank.one.visit.id), "item_key": "photo_overview", "sha256": sha256(data)},
        content=data,
        headers={**headers, "Content-Type": declared},
    )


@pytest.mark.parametrize("name", [*BAD_FILES, "zero bytes"])
def test_every_bad_file_is_refused_and_nothing_is_kept(
    client: TestClient, session: Session, settings: Settings, name: str
) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    data, declared, _error = BAD_FILES.get(name, (b"", "image/jpeg", None))
    answer = _put(client, headers, bank, data, declared, "7d0e7f9c-52f4-4c55-9a6e-1a9a4b1f0006")
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    if data:  # and the same through tus
        location = _create(
            client, headers, bank, data, "7d0e7f9c-52f4-4c55-9a6e-1a9a4b1f0007", content_type=declared
        )
        if location.status_code == 201:
            finished = _patch(client, headers, location.headers["Location"], 0, data)
        else:  # a type we never accept is refused at creation, before a byte is sent
            finished = location
        assert finished.status_code == answer.status_code
        assert finished.json()["code"] == answer.json()["code"]
    assert _count(session, Photo) == 0
    assert _count(session, Upload) == 0
    assert _stored_files(settings) == []


def test_too_large_is_413_before_and_during_transfer(
    client: TestClient, session: Session, settings: Settings
) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    too_big = settings.max_photo_bytes + 1
    answer = client.post(
        "/api/v1/uploads/",
        headers={
            **headers,
            **TUS,
            "Upload-Length": str(too_big),
            "Upload-Metadata": _metadata(
                photo_id="7d0e7f9c-52f4-4c55-9a6e-1a9a4b1f0008",
                visit_id=str(bank.one.visit.id),
                item_key="photo_overview",
                content_type="image/jpeg",
                sha256="0" * 64,
            ),
        },
    )
    assert answer.status_code == 413
    body = b"\xff" * too_big

    def chunks() -> Any:
        for start in range(0, len(body), 1 << 20):
            yield body[start : start + (1 << 20)]

    streamed = client.put(
        "/api/v1/photos/7d0e7f9c-52f4-4c55-9a6e-1a9a4b1f0009",
        params={"visit_id": str(bank.one.visit.id), "item_key": "photo_overview", "sha256": "0" * 64},
        content=chunks(),
        headers={**headers, "Content-Type": "image/jpeg"},
    )
    assert streamed.status_code == 413
    assert _stored_files(settings) == []


def test_photos_only_go_to_photo_items_of_ones_own_visit(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    data = jpeg()
    mine = login(client, bank.one.manager)
    wrong_item = client.put(
        "/api/v1/photos/7d0e7f9c-52f4-4c55-9a6e-1a9a4b1f0010",
        params={"visit_id": str(bank.one.visit.id), "item_key": "condition", "sha256": sha256(data)},
        content=data,
        headers={**mine, "Content-Type": "image/jpeg"},
    )
    assert wrong_item.status_code == 422
    assert wrong_item.json()["code"] == "not_a_photo_item"
    theirs = _put(
        client,
        login(client, bank.two.manager),
        bank,
        data,
        "image/jpeg",
        "7d0e7f9c-52f4-4c55-9a6e-1a9a4b1f0011",
    )
    assert theirs.status_code == 404


def test_serving_uses_strong_etags_immutable_caching_and_ranges(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    data = encode(picture(2000, 1500), "JPEG", quality=90)
    photo_id = "7d0e7f9c-52f4-4c55-9a6e-1a9a4b1f0012"
    assert _put(client, headers, bank, data, "image/jpeg", photo_id).status_code == 201
    reviewer = login(client, bank.one.reviewer)
    for kind, longest in (("thumbnail", 320), ("preview", 1600)):
        answer = client.get(f"/api/v1/photos/{photo_id}/{kind}", headers=reviewer)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "image/jpeg"
        assert "immutable" in answer.headers["cache-control"]
        import io

        from PIL import Image

        assert max(Image.open(io.BytesIO(answer.content)).size) == longest
        again = client.get(
            f"/api/v1/photos/{photo_id}/{kind}", headers={**reviewer, "If-None-Match": answer.headers["etag"]}
        )
        assert again.status_code == 304
    original = client.get(f"/api/v1/photos/{photo_id}/original", headers=reviewer)
    assert original.headers["etag"] == f'"{sha256(data)}"'
    part = client.get(f"/api/v1/photos/{photo_id}/original", headers={**reviewer, "Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == data[100:200]
    outsider = login(client, bank.two.reviewer)
    assert client.get(f"/api/v1/photos/{photo_id}/original", headers=outsider).status_code == 404
    assert client.get(f"/api/v1/photos/{photo_id}", headers=outsider).status_code == 404


def test_identical_bytes_are_stored_once(client: TestClient, session: Session, settings: Settings) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    data = jpeg(seed=9)
    _put(client, headers, bank, data, "image/jpeg", "7d0e7f9c-52f4-4c55-9a6e-1a9a4b1f0013")
    _put(client, headers, bank, data, "image/jpeg", "7d0e7f9c-52f4-4c55-9a6e-1a9a4b1f0014")
    assert _count(session, Photo) == 2
    assert len(list((settings.photo_dir / "originals").rglob("*"))) == 256 + 1


def test_heic_through_the_api(client: TestClient, session: Session) -> None:
    from tests.photos.images import exif_block

    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    data = encode(picture(), "HEIF", exif_block(gps=(31.2, 121.5), offset="+08:00"))
    photo_id = "7d0e7f9c-52f4-4c55-9a6e-1a9a4b1f0015"
    answer = _put(client, headers, bank, data, "image/heic", photo_id)
    assert answer.status_code == 201, answer.text
    assert answer.json()["format"] == "HEIF"
    assert answer.json()["exif"]["gps"]["lon"] == pytest.approx(121.5)
    assert (
        client.get(f"/api/v1/photos/{photo_id}/original", headers=headers).headers["content-type"]
        == "image/heic"
    )
