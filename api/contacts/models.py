"""One contact with a borrower's people, kept as the manager recorded it; its commitments become tasks."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import Column, Enum, Index, Text
from sqlmodel import Field, SQLModel

from api.db import JSONDoc, UTCDateTime, utcnow


class Channel(enum.StrEnum):
    meeting = "meeting"  # 面谈
    call = "call"  # 电话
    message = "message"  # 微信、短信、邮件
    video = "video"  # 视频会议


class Contact(SQLModel, table=True):
    """The id is the phone's: recording one twice (a retried upload) keeps one."""

    __tablename__ = "borrower_contact"
    __table_args__ = (Index("ix_borrower_contact_borrower_occurred", "borrower_id", "occurred_at"),)

    id: uuid.UUID = Field(primary_key=True)
    branch_id: uuid.UUID = Field(foreign_key="branch.id", index=True)
    borrower_id: uuid.UUID = Field(foreign_key="borrower.id")
    visit_id: uuid.UUID | None = Field(default=None, foreign_key="visit.id", index=True)
    recorded_by_id: uuid.UUID = Field(foreign_key="app_user.id")
    occurred_at: dt.datetime = Field(sa_type=UTCDateTime)
    channel: Channel = Field(sa_column=Column(Enum(Channel, native_enum=False, length=16), nullable=False))
    # [{"name": "周建国", "title": "财务总监"}]
    people: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONDoc)
    summary: str = Field(sa_type=Text)
    # [{"text": "...", "due_on": "2026-12-15", "task_id": "..."}] as recorded; the task ids as opened.
    commitments: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONDoc)
    # SHA-256 of the body as received: the same id with another body is a conflict, not an overwrite.
    body_sha256: str = Field(max_length=64)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
