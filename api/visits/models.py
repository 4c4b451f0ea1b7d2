from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Column, Enum, Index
from sqlmodel import Field, SQLModel

from api.db import UTCDateTime, new_id, utcnow
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
    signal = "signal"  # an early-warning signal asked for it (monitoring)


class Visit(SQLModel, table=True):
    __tablename__ = "visit"
    __table_args__ = (
        Index("ix_visit_due_on_id", "due_on", "id"),
        Index("ix_visit_manager_due_on_id", "manager_id", "due_on", "id"),
        Index("ix_visit_branch_due_on_id", "branch_id", "due_on", "id"),
        Index("ix_visit_subject", "subject_type", "subject_id"),
    )
    __change_entity__ = "visit"
    # Whose feed it is in: when this changes, the one it leaves gets a tombstone (sync/changes.py).
    __change_owner__ = "manager_id"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    branch_id: uuid.UUID = Field(foreign_key="branch.id")
    borrower_id: uuid.UUID = Field(foreign_key="borrower.id", index=True)
    facility_id: uuid.UUID = Field(foreign_key="facility.id", index=True)
    subject_type: SubjectType = Field(
        sa_column=Column(Enum(SubjectType, native_enum=False, length=16), nullable=False)
    )
    subject_id: uuid.UUID = Field()
    template_version_id: uuid.UUID = Field(foreign_key="template_version.id", index=True)
    manager_id: uuid.UUID = Field(foreign_key="app_user.id")
    due_on: dt.date = Field()
    status: VisitStatus = Field(
        default=VisitStatus.scheduled,
        sa_column=Column(
            Enum(VisitStatus, native_enum=False, length=16),
            index=True,
            default=VisitStatus.scheduled,
            nullable=False,
        ),
    )
    origin: VisitOrigin = Field(
        sa_column=Column(Enum(VisitOrigin, native_enum=False, length=16), nullable=False)
    )
    # Set for scheduled visits: "subject_type:subject_id:due_on". The unique constraint is what makes
    # scheduling idempotent, even when two schedulers run at once.
    schedule_key: str | None = Field(default=None, unique=True, max_length=120)
    created_by_id: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    cancel_reason: str | None = Field(default=None, max_length=500)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(
        default_factory=utcnow, index=True, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utcnow}
    )
    started_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    submitted_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)

    def change_scope(self) -> tuple[uuid.UUID, uuid.UUID | None, uuid.UUID | None]:
        return self.branch_id, self.manager_id, self.id


class VisitAssignment(SQLModel, table=True):
    """Every manager a visit was ever assigned to: a reassigned manager's offline capture still lands."""

    __tablename__ = "visit_assignment"

    visit_id: uuid.UUID = Field(primary_key=True, foreign_key="visit.id")
    manager_id: uuid.UUID = Field(primary_key=True, foreign_key="app_user.id")
    assigned_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
