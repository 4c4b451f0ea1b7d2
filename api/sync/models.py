"""Submissions (one capture of a visit, keyed by the device's UUID), their photo manifests, and the
change log behind the feed."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import BigInteger, Column, Enum, Index
from sqlalchemy.orm import relationship
from sqlmodel import Field, Relationship, SQLModel

from api.db import JSONDoc, UTCDateTime, new_id, utcnow


class SubmissionState(enum.StrEnum):
    incomplete = "incomplete"  # stored; some photos of the manifest have not arrived (or not matched)
    complete = "complete"


class Submission(SQLModel, table=True):
    __tablename__ = "submission"
    __change_entity__ = "submission"
    # A visit's latest submission, read backwards from the index (the CSV export asks it per visit).
    __table_args__ = (Index("ix_submission_visit_id_received_at_id", "visit_id", "received_at", "id"),)

    id: uuid.UUID = Field(primary_key=True)
    visit_id: uuid.UUID = Field(foreign_key="visit.id", index=True)
    branch_id: uuid.UUID = Field(foreign_key="branch.id")
    submitted_by_id: uuid.UUID = Field(foreign_key="app_user.id")
    template_version_id: uuid.UUID = Field(foreign_key="template_version.id")
    # SHA-256 of the canonical body: the same UUID with another body is a conflict, not a retry.
    body_sha256: str = Field(max_length=64)
    body: dict[str, Any] = Field(sa_column=Column(JSONDoc, nullable=False))
    state: SubmissionState = Field(
        sa_column=Column(Enum(SubmissionState, native_enum=False, length=16), nullable=False)
    )
    conflict: bool = Field(default=False)
    conflict_reasons: list[str] = Field(
        default_factory=list, sa_column=Column(JSONDoc, default=list, nullable=False)
    )
    visit_status_after: str = Field(max_length=16)
    received_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Indexed for the metrics' sync lag (the submissions completed in the last minutes).
    completed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    updated_at: dt.datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utcnow}
    )

    def change_scope(self) -> tuple[uuid.UUID, uuid.UUID | None, uuid.UUID | None]:
        return self.branch_id, self.submitted_by_id, self.visit_id


class ManifestPhoto(SQLModel, table=True):
    """One photo a submission says it has; `arrived` once a photo with this UUID and hash is kept."""

    __tablename__ = "submission_photo"
    __table_args__ = (Index("ix_submission_photo_photo_id", "photo_id"),)

    submission_id: uuid.UUID = Field(primary_key=True, foreign_key="submission.id")
    photo_id: uuid.UUID = Field(primary_key=True)
    sha256: str = Field(max_length=64)
    size: int = Field(sa_type=BigInteger)
    item_key: str = Field(max_length=64)
    arrived: bool = Field(default=False)
    mismatch: str | None = Field(default=None, max_length=200)
    # Never loaded (the rows are read by query): declared so that one flush writes a new submission before
    # its manifest — without it the unit of work orders the two tables by name, and the key is not there yet.
    submission: Submission | None = Relationship(sa_relationship=relationship("Submission", lazy="raise"))


class ChangeLog(SQLModel, table=True):
    """Every change of a visit, submission, photo or task. `seq` is given only to committed rows, in
    one serialised step, so a consumer reading up to N never finds a row below N later."""

    __tablename__ = "change_log"
    __table_args__ = (Index("ix_change_log_pending", "seq", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    seq: int | None = Field(default=None, unique=True, sa_type=BigInteger)
    entity_type: str = Field(max_length=32)
    entity_id: uuid.UUID = Field()
    op: str = Field(max_length=16)
    branch_id: uuid.UUID = Field(index=True)
    manager_id: uuid.UUID | None = Field(default=None, index=True)
    visit_id: uuid.UUID | None = Field(default=None)
    recorded_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
