from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Date, Enum, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.checklists.schemas import Severity
from api.db import Base, UTCDateTime, new_id, utcnow
from api.portfolio.models import SubjectType


class TaskState(enum.StrEnum):
    open = "open"
    in_progress = "in_progress"
    resolved = "resolved"
    waived = "waived"


OPEN_TASK_STATES = (TaskState.open, TaskState.in_progress)


class FollowUpTask(Base):
    """One open task per (subject, rule, item): `open_key` holds that triple while the task is open and
    is cleared when it closes, so a unique constraint — not a lock — keeps a second one from opening."""

    __tablename__ = "follow_up_task"
    __change_entity__ = "task"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    open_key: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    branch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("branch.id"), index=True)
    facility_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("facility.id"))
    subject_type: Mapped[SubjectType] = mapped_column(Enum(SubjectType, native_enum=False, length=16))
    subject_id: Mapped[uuid.UUID] = mapped_column(index=True)
    rule_key: Mapped[str] = mapped_column(String(32))
    item_key: Mapped[str] = mapped_column(String(64), default="")
    severity: Mapped[Severity] = mapped_column(Enum(Severity, native_enum=False, length=16), index=True)
    state: Mapped[TaskState] = mapped_column(Enum(TaskState, native_enum=False, length=16), index=True)
    title_zh: Mapped[str] = mapped_column(String(500))
    title_en: Mapped[str] = mapped_column(String(500))
    due_on: Mapped[dt.date] = mapped_column(Date, index=True)
    assignee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id"), index=True)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    opened_by_visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit.id"))
    last_seen_visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit.id"))
    resolved_by_visit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visit.id"), nullable=True)
    closed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    waiver_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, index=True
    )
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    def change_scope(self) -> tuple[uuid.UUID, uuid.UUID | None, uuid.UUID | None]:
        return self.branch_id, self.assignee_id, self.last_seen_visit_id


class TaskWatcher(Base):
    """Others who own a task with the assignee: the branch's reviewers, for critical findings."""

    __tablename__ = "task_watcher"

    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("follow_up_task.id"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id"), primary_key=True)


class TaskComment(Base):
    __tablename__ = "task_comment"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("follow_up_task.id"), index=True)
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
