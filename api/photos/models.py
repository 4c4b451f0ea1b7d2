"""Tables of photos and of resumable uploads in progress."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import BigInteger, Enum, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, JSONDoc, UTCDateTime, new_id, utcnow


class PhotoState(enum.StrEnum):
    received = "received"  # verified and kept; derivatives not made yet
    processing = "processing"
    processed = "processed"
    failed = "failed"


class Photo(Base):
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

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit.id"), index=True)
    branch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("branch.id"))
    item_key: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id"))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    declared_type: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(16))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    exif: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    gps_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    gps_lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    taken_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Where the phone was and what time it said when the photo was taken: Android browsers strip EXIF GPS.
    device_fix: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    device_taken_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    phash: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The hash's four 16-bit bands, each indexed: the photo-reuse lookup (rules/engine.similar_photos).
    phash_b0: Mapped[int | None] = mapped_column(Integer, nullable=True)
    phash_b1: Mapped[int | None] = mapped_column(Integer, nullable=True)
    phash_b2: Mapped[int | None] = mapped_column(Integer, nullable=True)
    phash_b3: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Hashes of the photo turned and mirrored (identity first): a rotated copy is still a copy.
    phash_variants: Mapped[list[int] | None] = mapped_column(JSONDoc, nullable=True)
    state: Mapped[PhotoState] = mapped_column(Enum(PhotoState, native_enum=False, length=16))
    thumbnail_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    preview_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    processing_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def change_scope(self) -> tuple[uuid.UUID, uuid.UUID | None, uuid.UUID | None]:
        return self.branch_id, self.uploaded_by_id, self.visit_id


class Upload(Base):
    """A tus upload. Its bytes live in the photo folder; the offset is confirmed here. A finished upload
    keeps its row (with `finished_photo_id`) for FINISHED_UPLOAD_KEPT, so that a phone that lost the
    last answer asks `HEAD` and hears that everything arrived."""

    __tablename__ = "photo_upload"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    photo_id: Mapped[uuid.UUID] = mapped_column(index=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit.id"))
    item_key: Mapped[str] = mapped_column(String(64))
    declared_type: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    length: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    metadata_extra: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    finished_photo_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
