from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import Column, Enum, UniqueConstraint
from sqlmodel import Field, SQLModel

from api.db import JSONDoc, UTCDateTime, new_id, utcnow
from api.portfolio.models import SubjectType


class VersionStatus(enum.StrEnum):
    draft = "draft"
    published = "published"
    retired = "retired"


class ChecklistTemplate(SQLModel, table=True):
    __tablename__ = "checklist_template"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    code: str = Field(unique=True, max_length=64)
    subject_type: SubjectType = Field(
        sa_column=Column(Enum(SubjectType, native_enum=False, length=16), nullable=False)
    )
    name_zh: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TemplateVersionBase(SQLModel):
    """A version's life as the table keeps it and the API lists it (schemas.VersionSummary)."""

    version: int
    status: VersionStatus = Field(
        sa_column=Column(Enum(VersionStatus, native_enum=False, length=16), nullable=False)
    )
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    published_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    retired_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class TemplateVersion(TemplateVersionBase, table=True):
    """One version of a template. Once published its definition never changes; visits pin it."""

    __tablename__ = "template_version"
    __table_args__ = (UniqueConstraint("template_id", "version"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    template_id: uuid.UUID = Field(foreign_key="checklist_template.id", index=True)
    definition: dict[str, Any] = Field(sa_column=Column(JSONDoc, nullable=False))
