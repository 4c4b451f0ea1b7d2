from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Column, Enum, UniqueConstraint
from sqlmodel import Field, SQLModel

from api.checklists.schemas import Severity
from api.db import JSONDoc, UTCDateTime, new_id, utcnow
from api.portfolio.models import SubjectType


class DiscrepancyBase(SQLModel):
    """A finding as the table keeps it and the API shows it (schemas.DiscrepancyPublic)."""

    visit_id: uuid.UUID = Field(foreign_key="visit.id", index=True)
    submission_id: uuid.UUID | None = Field(default=None, foreign_key="submission.id", index=True)
    photo_id: uuid.UUID | None = None
    rule_key: str = Field(max_length=32)
    item_key: str = Field(default="", max_length=64)
    severity: Severity = Field(sa_column=Column(Enum(Severity, native_enum=False, length=16), nullable=False))
    expected: Any = Field(default=None, sa_column=Column(JSONDoc, nullable=True))
    observed: Any = Field(default=None, sa_column=Column(JSONDoc, nullable=True))
    explanation_zh: str = Field(max_length=500)
    explanation_en: str = Field(max_length=500)
    related_visit_id: uuid.UUID | None = None
    task_id: uuid.UUID | None = Field(default=None, index=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Discrepancy(DiscrepancyBase, table=True):
    """One failed rule. `finding_key` makes evaluation idempotent: re-running the rules (when a late
    photo arrives) never records the same finding twice."""

    __tablename__ = "discrepancy"
    __table_args__ = (UniqueConstraint("visit_id", "finding_key"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    branch_id: uuid.UUID = Field(foreign_key="branch.id")
    subject_type: SubjectType = Field(
        sa_column=Column(Enum(SubjectType, native_enum=False, length=16), nullable=False)
    )
    subject_id: uuid.UUID = Field(index=True)
    finding_key: str = Field(max_length=200)
