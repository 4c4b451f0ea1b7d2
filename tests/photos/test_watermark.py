"""The watermark camera's band (水印相机): a stamped copy of each photo with time, place, manager and
borrower, made from the preview; the original untouched and still served as it came."""

from __future__ import annotations

import hashlib
import io
import uuid

from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image, ImageStat
from sqlalchemy.orm import Session

from api.config import Settings
from api.photos import jobs as photo_jobs
from api.photos import watermark
from api.photos.models import Photo
from tests.factories import BANK_ZONE, login, make_bank
from tests.photos.images import jpeg
from tests.sync.helpers import CapturedPhoto, put_photo


def _brightness(image: Image.Image, box: tuple[int, int, int, int]) -> float:
    return float(ImageStat.Stat(image.crop(box).convert("L")).mean[0])


def test_the_stamped_copy_carries_the_band_and_the_original_stays_as_it_came(
    app: FastAPI, client: TestClient, session: Session, settings: Settings
) -> None:
    bank = make_bank(session)
    manager = login(client, bank.one.manager)
    data = jpeg(2000, 1500, seed=4, gps=(31.2304, 121.4737), taken="2026:11:30 09:15:00", offset="+08:00")
    photo = CapturedPhoto(str(uuid.uuid4()), "photo_overview", data)
    assert put_photo(client, manager, bank.one.visit.id, photo).status_code in (200, 201)
    url = f"/api/v1/photos/{photo.id}"
    photo_jobs.process_pending(app.state.sessionmaker, settings)

    reviewer = login(client, bank.one.reviewer)
    stamped = client.get(f"{url}/stamped", headers=reviewer)
    assert stamped.status_code == 200 and stamped.headers["content-type"] == "image/jpeg"
    assert client.get(url, headers=reviewer).json()["links"]["stamped"] == f"{url}/stamped"
    image = Image.open(io.BytesIO(stamped.content))
    preview = Image.open(io.BytesIO(client.get(f"{url}/preview", headers=reviewer).content))
    assert image.width == watermark.STAMPED_PX and image.height == 960
    # The band darkens the foot of the picture and leaves its top alone.
    scaled = preview.convert("RGB").resize(image.size)
    foot = (0, image.height - 60, image.width, image.height - 10)
    assert _brightness(image, foot) < _brightness(scaled, foot) - 10
    top = (0, 0, image.width, 200)
    assert abs(_brightness(image, top) - _brightness(scaled, top)) < 3
    original = client.get(f"{url}/original", headers=reviewer).content
    assert hashlib.sha256(original).hexdigest() == photo.sha256  # the evidence, byte for byte

    etag = stamped.headers["etag"]
    assert client.get(f"{url}/stamped", headers={**reviewer, "If-None-Match": etag}).status_code == 304
    assert client.get(f"{url}/stamped", headers=login(client, bank.two.reviewer)).status_code == 404
    # A renamed borrower: a new band, a new copy.
    bank.one.borrower.name = "华锦精密机械有限公司"
    session.commit()
    renamed = client.get(f"{url}/stamped", headers=reviewer)
    assert renamed.status_code == 200 and renamed.headers["etag"] != etag


def test_the_band_says_when_where_who_and_whose(session: Session) -> None:
    bank = make_bank(session)
    row = Photo(
        id=uuid.uuid4(), visit_id=bank.one.visit.id, branch_id=bank.one.branch.id, item_key="photo_overview",
        uploaded_by_id=bank.one.manager.id, sha256="ab" * 32, size=1, declared_type="image/jpeg", format="JPEG",
        width=1, height=1, exif={"taken_at": "2026-11-30T01:15:00+00:00", "gps": {"lat": 31.2304, "lon": 121.4737}},
    )  # fmt: skip
    lines = watermark.band_lines(row, manager="王伟", borrower="华锦机械", zone=BANK_ZONE)
    assert lines[0] == "2026-11-30 09:15:00"  # the bank's zone
    assert lines[1] == "31.23040°N 121.47370°E"
    assert "王伟" in lines[2] and "华锦机械" in lines[2]
    phone_only = Photo(
        **{**row.model_dump(), "exif": {}, "device_fix": {"lat": -33.9, "lon": 18.4, "accuracy_m": 9}}
    )
    assert (
        watermark.band_lines(phone_only, manager="", borrower="", zone=BANK_ZONE)[1]
        == "33.90000°S 18.40000°E ±9 m"
    )
