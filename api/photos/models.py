"""Tables of photos and of resumable uploads in progress."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import BigInteger, Column, Enum, Index, bindparam
from sqlmodel import Field, SQLModel, col, select

from api.db import JSONDoc, UTCDateTime, new_id, utcnow


class PhotoState(enum.StrEnum):
    received = "received"  # verified and kept; derivatives not made yet
    processing = "processing"
    processed = "processed"
    failed = "failed"


# The advisory-lock namespace (kit.races.take_turns) of a photo and the manifests that list it: a photo kept,
# a submission stored and a photo's derivatives judged each look for the other side under it.
PHOTO_TURNS = 0x46565048  # "FVPH"


class Photo(SQLModel, table=True):
    """One photo, identified by the UUID the device gave it. The original bytes are evidence."""

    __tablename__ = "photo"
    __table_args__ = (
        Index("ix_photo_state_received", "state", "received_at"),
        # (band, hash): the reuse lookup reads these indexes alone, never the table.
        Index("ix_photo_band0", "phash_b0", "phash"),
        Index("ix_photo_band1", "phash_b1", "phash"),
        Index("ix_photo_band2", "phash_b2", "phash"),
        Index("ix_photo_band3", "phash_b3", "phash"),
        Index("ix_photo_phash", "phash"),
    )
    __change_entity__ = "photo"

    id: uuid.UUID = Field(primary_key=True)
    visit_id: uuid.UUID = Field(foreign_key="visit.id", index=True)
    branch_id: uuid.UUID = Field(foreign_key="branch.id")
    item_key: str = Field(max_length=64)
    uploaded_by_id: uuid.UUID = Field(foreign_key="app_user.id")
    sha256: str = Field(index=True, max_length=64)
    size: int = Field(sa_type=BigInteger)
    declared_type: str = Field(max_length=64)
    format: str = Field(max_length=16)
    width: int = Field()
    height: int = Field()
    exif: dict[str, Any] = Field(sa_column=Column(JSONDoc, nullable=False))
    gps_lat: float | None = Field(default=None)
    gps_lon: float | None = Field(default=None)
    taken_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Where the phone was and what time it said when the photo was taken: Android browsers strip EXIF GPS.
    device_fix: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONDoc, nullable=True))
    device_taken_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    phash: int | None = Field(default=None, sa_type=BigInteger)
    # The hash's four 16-bit bands, each indexed: the photo-reuse lookup (rules/engine.similar_photos).
    phash_b0: int | None = Field(default=None)
    phash_b1: int | None = Field(default=None)
    phash_b2: int | None = Field(default=None)
    phash_b3: int | None = Field(default=None)
    # Hashes of the photo turned and mirrored (identity first): a rotated copy is still a copy.
    phash_variants: list[int] | None = Field(default=None, sa_column=Column(JSONDoc, nullable=True))
    state: PhotoState = Field(
        sa_column=Column(Enum(PhotoState, native_enum=False, length=16), nullable=False)
    )
    thumbnail_sha256: str | None = Field(default=None, max_length=64)
    preview_sha256: str | None = Field(default=None, max_length=64)
    processing_error: str | None = Field(default=None, max_length=500)
    claimed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    received_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Indexed for the metrics' job latency (the photos made in the last minutes).
    processed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    updated_at: dt.datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utcnow}
    )

    def change_scope(self) -> tuple[uuid.UUID, uuid.UUID | None, uuid.UUID | None]:
        return self.branch_id, self.uploaded_by_id, self.visit_id


# Photos by their ids, in one statement built once (a submission's manifest, the rules' photos): building a
# statement and its cache key costs more than running this one.
PHOTOS_BY_ID = select(Photo).where(col(Photo.id).in_(bindparam("ids", expanding=True)))


class Upload(SQLModel, table=True):
    """A tus upload. Its bytes live in the photo folder; the offset is confirmed here. A finished upload
    keeps its row (with `finished_photo_id`) for FINISHED_UPLOAD_KEPT, so that a phone that lost the
    last answer asks `HEAD` and hears that everything arrived."""

    __tablename__ = "photo_upload"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    photo_id: uuid.UUID = Field(index=True)
    visit_id: uuid.UUID = Field(foreign_key="visit.id")
    item_key: str = Field(max_length=64)
    declared_type: str = Field(max_length=64)
    sha256: str = Field(max_length=64)
    length: int = Field(sa_type=BigInteger)
    offset: int = Field(default=0, sa_type=BigInteger)
    metadata_extra: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONDoc, default=dict, nullable=False)
    )
    finished_photo_id: uuid.UUID | None = Field(default=None)
    finished_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_by_id: uuid.UUID = Field(foreign_key="app_user.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utcnow}
    )
