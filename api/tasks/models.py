from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Column, Enum, Text
from sqlmodel import Field, SQLModel

from api.checklists.schemas import Severity
from api.contacts import models as _contacts  # noqa: F401 — the table opened_by_contact_id refers to
from api.db import UTCDateTime, new_id, utcnow
from api.portfolio.models import SubjectType


class TaskState(enum.StrEnum):
    open = "open"
    in_progress = "in_progress"
    resolved = "resolved"
    waived = "waived"


OPEN_TASK_STATES = (TaskState.open, TaskState.in_progress)


class FollowUpTask(SQLModel, table=True):
    """One open task per (subject, rule, item): `open_key` holds that triple while the task is open and
    is cleared when it closes, so a unique constraint — not a lock — keeps a second one from opening."""

    __tablename__ = "follow_up_task"
    __change_entity__ = "task"
    __change_owner__ = "assignee_id"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    open_key: str | None = Field(default=None, unique=True, max_length=200)
    branch_id: uuid.UUID = Field(foreign_key="branch.id", index=True)
    facility_id: uuid.UUID = Field(foreign_key="facility.id")
    subject_type: SubjectType = Field(
        sa_column=Column(Enum(SubjectType, native_enum=False, length=16), nullable=False)
    )
    subject_id: uuid.UUID = Field(index=True)
    rule_key: str = Field(max_length=32)
    item_key: str = Field(default="", max_length=64)
    severity: Severity = Field(
        sa_column=Column(Enum(Severity, native_enum=False, length=16), index=True, nullable=False)
    )
    state: TaskState = Field(
        sa_column=Column(Enum(TaskState, native_enum=False, length=16), index=True, nullable=False)
    )
    title_zh: str = Field(max_length=500)
    title_en: str = Field(max_length=500)
    due_on: dt.date = Field(index=True)
    assignee_id: uuid.UUID = Field(foreign_key="app_user.id", index=True)
    occurrences: int = Field(default=1)
    # No visit for a commitment recorded off site (a phone call): then the contact that brought it.
    opened_by_visit_id: uuid.UUID | None = Field(default=None, foreign_key="visit.id")
    last_seen_visit_id: uuid.UUID | None = Field(default=None, foreign_key="visit.id")
    opened_by_contact_id: uuid.UUID | None = Field(default=None, foreign_key="borrower_contact.id")
    resolved_by_visit_id: uuid.UUID | None = Field(default=None, foreign_key="visit.id")
    closed_by_id: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    waiver_reason: str | None = Field(default=None, sa_type=Text)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(
        default_factory=utcnow, index=True, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utcnow}
    )
    closed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)

    def change_scope(self) -> tuple[uuid.UUID, uuid.UUID | None, uuid.UUID | None]:
        return self.branch_id, self.assignee_id, self.last_seen_visit_id


class TaskWatcher(SQLModel, table=True):
    """Others who own a task with the assignee: the branch's reviewers, for critical findings."""

    __tablename__ = "task_watcher"

    task_id: uuid.UUID = Field(primary_key=True, foreign_key="follow_up_task.id")
    user_id: uuid.UUID = Field(primary_key=True, foreign_key="app_user.id")


class TaskCommentBase(SQLModel):
    """A comment as the table keeps it and the API shows it (schemas.TaskComment)."""

    author_id: uuid.UUID = Field(foreign_key="app_user.id")
    body: str = Field(sa_type=Text)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TaskComment(TaskCommentBase, table=True):
    __tablename__ = "task_comment"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    task_id: uuid.UUID = Field(foreign_key="follow_up_task.id", index=True)
