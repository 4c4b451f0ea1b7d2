from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Date, Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, UTCDateTime, new_id, utcnow
from api.portfolio.models import SubjectType


class VisitStatus(enum.StrEnum):
    scheduled = "scheduled"
    in_progress = "in_progress"
    submitted = "submitted"
    approved = "approved"
    returned = "returned"
    cancelled = "cancelled"


OPEN_STATUSES = (VisitStatus.scheduled, VisitStatus.in_progress, VisitStatus.submitted, VisitStatus.returned)
# Overdue is derived: still waiting for the manager after the due date.
AWAITING_MANAGER = (VisitStatus.scheduled, VisitStatus.in_progress, VisitStatus.returned)


class VisitOrigin(enum.StrEnum):
    scheduled = "scheduled"
    manual = "manual"


class Visit(Base):
    __tablename__ = "visit"
    __table_args__ = (
        Index("ix_visit_due_on_id", "due_on", "id"),
        Index("ix_visit_manager_due_on_id", "manager_id", "due_on", "id"),
        Index("ix_visit_branch_due_on_id", "branch_id", "due_on", "id"),
        Index("ix_visit_subject", "subject_type", "subject_id"),
    )
    __change_entity__ = "visit"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    branch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("branch.id"))
    borrower_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("borrower.id"), index=True)
    facility_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("facility.id"), index=True)
    subject_type: Mapped[SubjectType] = mapped_column(Enum(SubjectType, native_enum=False, length=16))
    subject_id: Mapped[uuid.UUID] = mapped_column()
    template_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("template_version.id"), index=True)
    manager_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id"))
    due_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[VisitStatus] = mapped_column(
        Enum(VisitStatus, native_enum=False, length=16), default=VisitStatus.scheduled, index=True
    )
    origin: Mapped[VisitOrigin] = mapped_column(Enum(VisitOrigin, native_enum=False, length=16))
    # Set for scheduled visits: "subject_type:subject_id:due_on". The unique constraint is what makes
    # scheduling idempotent, even when two schedulers run at once.
    schedule_key: Mapped[str | None] = mapped_column(String(120), unique=True, nullable=True)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, index=True
    )
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    def change_scope(self) -> tuple[uuid.UUID, uuid.UUID | None, uuid.UUID | None]:
        return self.branch_id, self.manager_id, self.id


class VisitAssignment(Base):
    """Every manager a visit was ever assigned to: a reassigned manager's offline capture still lands."""

    __tablename__ = "visit_assignment"

    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit.id"), primary_key=True)
    manager_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id"), primary_key=True)
    assigned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
