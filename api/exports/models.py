"""Tables of the exports domain: export jobs, for exports too large to wait for."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import BigInteger, Column, Enum
from sqlmodel import Field, SQLModel

from api.db import JSONDoc, UTCDateTime, new_id, utcnow


class ExportState(enum.StrEnum):
    pending = "pending"
    running = "running"
    done = "done"
    failed = "failed"
    expired = "expired"  # the file was removed; the row stays as the record that it was made


class ExportJob(SQLModel, table=True):
    __tablename__ = "export_job"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    requested_by_id: uuid.UUID = Field(foreign_key="app_user.id", index=True)
    format: str = Field(max_length=8)
    # The visit list's filters as sent (visits.service.VisitFilter's fields).
    filters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONDoc, nullable=False))
    state: ExportState = Field(
        default=ExportState.pending,
        sa_column=Column(Enum(ExportState, native_enum=False, length=16), nullable=False, index=True),
    )
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    claimed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    expires_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    size: int | None = Field(default=None, sa_type=BigInteger)
    sha256: str | None = Field(default=None, max_length=64)
    error: str | None = Field(default=None, max_length=500)
