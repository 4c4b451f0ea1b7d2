from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, JSONDoc, UTCDateTime, new_id, utcnow
from api.portfolio.models import SubjectType


class VersionStatus(enum.StrEnum):
    draft = "draft"
    published = "published"
    retired = "retired"


class ChecklistTemplate(Base):
    __tablename__ = "checklist_template"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    subject_type: Mapped[SubjectType] = mapped_column(Enum(SubjectType, native_enum=False, length=16))
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TemplateVersion(Base):
    """One version of a template. Once published its definition never changes; visits pin it."""

    __tablename__ = "template_version"
    __table_args__ = (UniqueConstraint("template_id", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    template_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("checklist_template.id"), index=True)
    version: Mapped[int] = mapped_column()
    status: Mapped[VersionStatus] = mapped_column(Enum(VersionStatus, native_enum=False, length=16))
    definition: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
