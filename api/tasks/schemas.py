from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from api.checklists.schemas import Severity
from api.db import PUBLIC
from api.portfolio.models import SubjectType
from api.tasks.models import TaskCommentBase, TaskState


class TaskComment(TaskCommentBase):
    model_config = PUBLIC

    id: uuid.UUID


class TaskPublic(BaseModel):
    id: uuid.UUID
    state: TaskState
    severity: Severity
    rule_key: str
    item_key: str
    title_zh: str
    title_en: str
    branch_id: uuid.UUID
    facility_id: uuid.UUID
    borrower_id: uuid.UUID
    borrower_name: str = Field(description="The borrower's name, so a task list reads without a lookup.")
    subject_type: SubjectType
    subject_id: uuid.UUID
    due_on: dt.date
    overdue: bool
    assignee_id: uuid.UUID
    watcher_ids: list[uuid.UUID]
    occurrences: int = Field(description="How many findings (visits) this task has gathered.")
    opened_by_visit_id: uuid.UUID | None
    last_seen_visit_id: uuid.UUID | None
    opened_by_contact_id: uuid.UUID | None = None
    resolved_by_visit_id: uuid.UUID | None
    closed_by_id: uuid.UUID | None
    waiver_reason: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    closed_at: dt.datetime | None


class TaskDetail(TaskPublic):
    comments: list[TaskComment]
    discrepancy_ids: list[uuid.UUID]


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=5000)


class TaskAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str = Field(
        pattern="^(start|resolve|waive|assign)$", description="start, resolve, waive or assign"
    )
    comment: str | None = Field(None, max_length=5000, description="Required to waive (the reason).")
    assignee_id: uuid.UUID | None = Field(None, description="For assign.")
