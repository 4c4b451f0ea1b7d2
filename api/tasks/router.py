"""The follow-up task board: list, read, comment, start, resolve, waive, reassign."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from api.auth.dependencies import CurrentUser, SettingsDep, TasksReader
from api.checklists.schemas import Severity
from api.db import CommitFirstRoute, SessionDep
from api.kit.clock import today_in
from api.kit.cursor import Page
from api.tasks import schemas, service
from api.tasks.models import TaskState

router = APIRouter(prefix="/api/v1", tags=["tasks"], route_class=CommitFirstRoute)


@router.get("/tasks", response_model=Page[schemas.TaskPublic], summary="Follow-up tasks (跟进任务)")
def list_tasks(
    user: TasksReader,
    session: SessionDep,
    settings: SettingsDep,
    state: Annotated[list[TaskState] | None, Query()] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    assignee_id: uuid.UUID | None = None,
    subject_id: uuid.UUID | None = None,
    visit_id: uuid.UUID | None = None,
    overdue: bool | None = None,
    cursor: str | None = Query(None, max_length=500),
    limit: int = Query(50, ge=1, le=500),
) -> Page[schemas.TaskPublic]:
    """Ordered by due date. Managers see tasks assigned to or watched by them, reviewers their branch."""
    where = service.TaskFilter(
        state=state,
        severity=severity,
        assignee_id=assignee_id,
        subject_id=subject_id,
        visit_id=visit_id,
        overdue=overdue,
    )
    items, next_cursor = service.list_tasks(
        session, user=user, settings=settings, where=where, cursor=cursor, limit=limit
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get("/tasks/{task_id}", response_model=schemas.TaskDetail, summary="A task with its comments")
def get_task(
    task_id: uuid.UUID, user: TasksReader, session: SessionDep, settings: SettingsDep
) -> schemas.TaskDetail:
    task = service.get_task_for(session, user=user, task_id=task_id)
    return service.detail(session, task, today_in(settings.timezone))


@router.post(
    "/tasks/{task_id}/comments", response_model=schemas.TaskDetail, status_code=201, summary="Comment"
)
def comment(
    task_id: uuid.UUID, body: schemas.CommentIn, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> schemas.TaskDetail:
    task = service.get_task_for(session, user=user, task_id=task_id)
    service.comment(session, task=task, user=user, body=body.body)
    return service.detail(session, task, today_in(settings.timezone))


@router.post(
    "/tasks/{task_id}/actions", response_model=schemas.TaskDetail, summary="Start, resolve, waive or assign"
)
def act(
    task_id: uuid.UUID,
    body: schemas.TaskAction,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> schemas.TaskDetail:
    """`start` (open → in_progress); `resolve` (a reviewer confirms); `waive` (a reviewer, with the reason in
    `comment`); `assign` (a reviewer, to `assignee_id` in the task's branch). Closed tasks answer 409."""
    task = service.get_task_for(session, user=user, task_id=task_id)
    service.act(
        session, task=task, user=user, action=body.action, note=body.comment, assignee_id=body.assignee_id
    )
    return service.detail(session, task, today_in(settings.timezone))
