from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, Field

from api.photos.models import PhotoState


class PhotoLinks(BaseModel):
    original: str = Field(description="The bytes as received: the evidence, never altered.")
    preview: str
    thumbnail: str
    stamped: str = Field(
        description="The preview with a watermark camera's band (水印相机): time, place, manager, borrower."
    )


class PhotoPublic(BaseModel):
    id: uuid.UUID
    visit_id: uuid.UUID
    item_key: str
    sha256: str
    size: int
    content_type: str = Field(description="As declared by the device; `format` is what the bytes are.")
    format: str
    width: int
    height: int
    phash: str | None = Field(description="64-bit perceptual hash, 16 hex digits.")
    exif: dict[str, Any] = Field(
        description="gps {lat, lon, alt} in signed decimal degrees (WGS-84), taken_at (UTC, when the camera "
        "recorded an offset), taken_at_local (camera local time), orientation, make, model."
    )
    device_fix: dict[str, Any] | None = Field(description="The phone's geolocation when the photo was taken.")
    device_taken_at: dt.datetime | None
    state: PhotoState
    received_at: dt.datetime
    processed_at: dt.datetime | None
    links: PhotoLinks


def phash_hex(value: int | None) -> str | None:
    if value is None:
        return None
    return f"{value & 0xFFFFFFFFFFFFFFFF:016x}"
