"""Building captures the way the phone does: photos with their hashes, and a submission body."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from tests.photos.images import jpeg, sha256


@dataclass
class CapturedPhoto:
    id: str
    item_key: str
    data: bytes

    @property
    def sha256(self) -> str:
        return sha256(self.data)

    def manifest(self) -> dict[str, Any]:
        return {"id": self.id, "sha256": self.sha256, "size": len(self.data)}


def now_in_shanghai_exif() -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).strftime("%Y:%m:%d %H:%M:%S")


def capture_photos(
    seed: int = 1, gps: tuple[float, float] | None = (31.2304, 121.4737), taken: str | None = None
) -> list[CapturedPhoto]:
    """Three photos as the collateral checklist wants them, taken now (Shanghai time) at `gps`."""
    keys = ["photo_overview", "photo_overview", "photo_identifier"]
    when = taken or now_in_shanghai_exif()
    return [
        CapturedPhoto(
            str(uuid.uuid4()), key, jpeg(320, 240, seed=seed * 10 + n, gps=gps, taken=when, offset="+08:00")
        )
        for n, key in enumerate(keys)
    ]


def submission_body(photos: list[CapturedPhoto], **overrides: Any) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    answers: dict[str, Any] = {
        "check_in": {"value": None},
        "collateral_present": {"value": True},
        "condition": {"value": "good"},
        "seizure_notice": {"value": False},
        "third_party_occupation": {"value": False},
        "site_operating": {"value": True, "note": "生产线正常运转"},
        "observed_quantity": {"value": 10},
        "photo_overview": {"photos": [p.id for p in photos if p.item_key == "photo_overview"]},
        "photo_identifier": {"photos": [p.id for p in photos if p.item_key == "photo_identifier"]},
    }
    body: dict[str, Any] = {
        "check_in": {"lat": 31.2305, "lon": 121.4738, "accuracy_m": 12.0, "fixed_at": now.isoformat()},
        "answers": answers,
        "notes": "现场检查正常。",
        "device_started_at": (now - dt.timedelta(minutes=30)).isoformat(),
        "device_finished_at": now.isoformat(),
        "photos": [p.manifest() for p in photos],
    }
    body.update(overrides)
    return body


def put_photo(
    client: TestClient, headers: dict[str, str], visit_id: object, photo: CapturedPhoto, **params: Any
) -> Any:
    return client.put(
        f"/api/v1/photos/{photo.id}",
        params={"visit_id": str(visit_id), "item_key": photo.item_key, "sha256": photo.sha256, **params},
        content=photo.data,
        headers={**headers, "Content-Type": "image/jpeg"},
    )


def submit_with_photos(
    client: TestClient,
    headers: dict[str, str],
    visit_id: object,
    photos: list[CapturedPhoto],
    **overrides: Any,
) -> str:
    """A manager's whole capture through the API: the submission (`submission_body` with `overrides`), then
    each of its photos. Returns the submission's id."""
    submission_id = str(uuid.uuid4())
    answer = client.put(
        f"/api/v1/visits/{visit_id}/submissions/{submission_id}",
        json=submission_body(photos, **overrides),
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    for photo in photos:
        assert put_photo(client, headers, visit_id, photo).status_code in (200, 201)
    return submission_id
