from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.checklists.schemas import Severity
from api.db import Base, JSONDoc, UTCDateTime, new_id, utcnow
from api.portfolio.models import SubjectType


class Discrepancy(Base):
    """One failed rule. `finding_key` makes evaluation idempotent: re-running the rules (when a late
    photo arrives) never records the same finding twice."""

    __tablename__ = "discrepancy"
    __table_args__ = (UniqueConstraint("visit_id", "finding_key"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit.id"), index=True)
    submission_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("submission.id"), nullable=True, index=True
    )
    photo_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    branch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("branch.id"))
    subject_type: Mapped[SubjectType] = mapped_column(Enum(SubjectType, native_enum=False, length=16))
    subject_id: Mapped[uuid.UUID] = mapped_column(index=True)
    finding_key: Mapped[str] = mapped_column(String(200))
    rule_key: Mapped[str] = mapped_column(String(32))
    item_key: Mapped[str] = mapped_column(String(64), default="")
    severity: Mapped[Severity] = mapped_column(Enum(Severity, native_enum=False, length=16))
    expected: Mapped[Any] = mapped_column(JSONDoc, nullable=True)
    observed: Mapped[Any] = mapped_column(JSONDoc, nullable=True)
    explanation_zh: Mapped[str] = mapped_column(String(500))
    explanation_en: Mapped[str] = mapped_column(String(500))
    related_visit_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    task_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
