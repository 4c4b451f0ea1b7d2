"""Submissions (one capture of a visit, keyed by the device's UUID), their photo manifests, and the
change log behind the feed."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import BigInteger, Boolean, Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, JSONDoc, UTCDateTime, new_id, utcnow


class SubmissionState(enum.StrEnum):
    incomplete = "incomplete"  # stored; some photos of the manifest have not arrived (or not matched)
    complete = "complete"


class Submission(Base):
    __tablename__ = "submission"
    __change_entity__ = "submission"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit.id"), index=True)
    branch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("branch.id"))
    submitted_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id"))
    template_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("template_version.id"))
    # SHA-256 of the canonical body: the same UUID with another body is a conflict, not a retry.
    body_sha256: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    state: Mapped[SubmissionState] = mapped_column(Enum(SubmissionState, native_enum=False, length=16))
    conflict: Mapped[bool] = mapped_column(Boolean, default=False)
    conflict_reasons: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    visit_status_after: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def change_scope(self) -> tuple[uuid.UUID, uuid.UUID | None, uuid.UUID | None]:
        return self.branch_id, self.submitted_by_id, self.visit_id


class ManifestPhoto(Base):
    """One photo a submission says it has; `arrived` once a photo with this UUID and hash is kept."""

    __tablename__ = "submission_photo"
    __table_args__ = (Index("ix_submission_photo_photo_id", "photo_id"),)

    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("submission.id"), primary_key=True)
    photo_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    item_key: Mapped[str] = mapped_column(String(64))
    arrived: Mapped[bool] = mapped_column(Boolean, default=False)
    mismatch: Mapped[str | None] = mapped_column(String(200), nullable=True)


class ChangeLog(Base):
    """Every change of a visit, submission, photo or task. `seq` is given only to committed rows, in
    one serialised step, so a consumer reading up to N never finds a row below N later."""

    __tablename__ = "change_log"
    __table_args__ = (Index("ix_change_log_pending", "seq", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True, nullable=True)
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[uuid.UUID] = mapped_column()
    op: Mapped[str] = mapped_column(String(16))
    branch_id: Mapped[uuid.UUID] = mapped_column(index=True)
    manager_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True, index=True)
    visit_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
