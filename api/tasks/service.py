"""Follow-up tasks: opened from discrepancies (one open task per subject, rule and item), owned until
resolved — by hand or by a later approved visit that passes the same rule — or waived with a reason."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session
from sqlmodel import col, select

from api.auth.models import BRANCH_READERS, Role, User
from api.checklists.schemas import Severity
from api.config import Settings
from api.db import utcnow
from api.errors import AppError, Forbidden, InvalidTransition, NotFound
from api.integrations import accounts
from api.kit.clock import today_in
from api.kit.pagination import date_key, paginate, uuid_key
from api.kit.races import inserted
from api.portfolio.models import Borrower, Facility
from api.rules.models import Discrepancy
from api.tasks import schemas
from api.tasks.models import OPEN_TASK_STATES, FollowUpTask, TaskComment, TaskState, TaskWatcher
from api.visits.models import Visit

SEVERITY_RANK = {Severity.minor: 1, Severity.major: 2, Severity.critical: 3}


class WaiverNeedsReason(AppError):
    status = 422
    code = "waiver_needs_reason"
    title_zh = "豁免须填写理由"
    title_en = "A waiver needs a reason"


class BadAssignee(AppError):
    status = 422
    code = "bad_assignee"
    title_zh = "只能指派给本分支机构的在职人员"
    title_en = "Assign to an active user of the task's branch"


def due_days(settings: Settings, severity: Severity) -> int:
    rules = settings.rules
    return {
        Severity.critical: rules.due_days_critical,
        Severity.major: rules.due_days_major,
        Severity.minor: rules.due_days_minor,
    }[severity]


def open_key(subject_id: uuid.UUID, rule_key: str, item_key: str) -> str:
    return f"{subject_id}:{rule_key}:{item_key}"


def _reviewers(session: Session, branch_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(User.id).where(
                User.branch_id == branch_id, User.role == Role.reviewer, col(User.is_active).is_(True)
            )
        )
    )


def open_or_add(session: Session, *, settings: Settings, finding: Discrepancy, visit: Visit) -> FollowUpTask:
    """The open task of this finding's (subject, rule, item), or a new one. Never two open at once."""
    key = open_key(finding.subject_id, finding.rule_key, finding.item_key)
    today = today_in(settings.timezone)
    task = session.scalar(select(FollowUpTask).where(FollowUpTask.open_key == key))
    if task is None:
        facility = session.get(Facility, visit.facility_id)
        assert facility is not None
        task = FollowUpTask(
            open_key=key,
            branch_id=visit.branch_id,
            facility_id=visit.facility_id,
            subject_type=finding.subject_type,
            subject_id=finding.subject_id,
            rule_key=finding.rule_key,
            item_key=finding.item_key,
            severity=finding.severity,
            state=TaskState.open,
            title_zh=finding.explanation_zh,
            title_en=finding.explanation_en,
            due_on=today + dt.timedelta(days=due_days(settings, finding.severity)),
            assignee_id=facility.manager_id,
            occurrences=1,
            opened_by_visit_id=visit.id,
            last_seen_visit_id=visit.id,
        )
        if not inserted(session, task):
            # Another request opened it a moment ago: add to that one.
            existing = session.scalar(select(FollowUpTask).where(FollowUpTask.open_key == key))
            assert existing is not None
            return _add_occurrence(session, settings=settings, task=existing, finding=finding, visit=visit)
        if finding.severity == Severity.critical:
            for reviewer_id in _reviewers(session, visit.branch_id):
                session.add(TaskWatcher(task_id=task.id, user_id=reviewer_id))
            session.flush()
        return task
    return _add_occurrence(session, settings=settings, task=task, finding=finding, visit=visit)


def _add_occurrence(
    session: Session, *, settings: Settings, task: FollowUpTask, finding: Discrepancy, visit: Visit
) -> FollowUpTask:
    if finding.task_id == task.id:
        return task
    task.occurrences += 1
    task.last_seen_visit_id = visit.id
    task.title_zh, task.title_en = finding.explanation_zh, finding.explanation_en
    if SEVERITY_RANK[finding.severity] > SEVERITY_RANK[task.severity]:
        task.severity = finding.severity
        sooner = today_in(settings.timezone) + dt.timedelta(days=due_days(settings, finding.severity))
        task.due_on = min(task.due_on, sooner)
        if finding.severity == Severity.critical:
            watching = set(session.scalars(select(TaskWatcher.user_id).where(TaskWatcher.task_id == task.id)))
            for reviewer_id in _reviewers(session, task.branch_id):
                if reviewer_id not in watching:
                    session.add(TaskWatcher(task_id=task.id, user_id=reviewer_id))
    session.flush()
    return task


def _close(task: FollowUpTask, state: TaskState, *, user_id: uuid.UUID | None) -> None:
    task.state = state
    task.open_key = None
    task.closed_at = utcnow()
    task.closed_by_id = user_id


def resolve_passed(session: Session, *, visit: Visit, passed: set[tuple[str, str]]) -> list[FollowUpTask]:
    """An approved visit passed these (rule, item) pairs: their open tasks on this subject are resolved."""
    resolved = []
    for rule_key, item_key in passed:
        task = session.scalar(
            select(FollowUpTask).where(
                FollowUpTask.open_key == open_key(visit.subject_id, rule_key, item_key)
            )
        )
        if task is not None:
            _close(task, TaskState.resolved, user_id=None)
            task.resolved_by_visit_id = visit.id
            resolved.append(task)
    session.flush()
    return resolved


# ---- scope and reading ----


def scope_tasks(query: Select[Any], user: User) -> Select[Any]:
    if user.role == Role.admin:
        return query
    if user.role == Role.service:
        branches = accounts.branch_scope(user)
        return query if branches is None else query.where(col(FollowUpTask.branch_id).in_(branches))
    if user.role in BRANCH_READERS:
        return query.where(col(FollowUpTask.branch_id) == user.branch_id)
    watched = select(TaskWatcher.task_id).where(TaskWatcher.user_id == user.id)
    return query.where((col(FollowUpTask.assignee_id) == user.id) | col(FollowUpTask.id).in_(watched))


def get_task_for(session: Session, *, user: User, task_id: uuid.UUID) -> FollowUpTask:
    task: FollowUpTask | None = session.scalar(
        scope_tasks(select(FollowUpTask), user).where(col(FollowUpTask.id) == task_id)
    )
    if task is None:
        raise NotFound("No such task.", detail_zh="跟进任务不存在。")
    return task


@dataclass(frozen=True)
class TaskFilter:
    state: list[TaskState] | None = None
    severity: list[Severity] | None = None
    assignee_id: uuid.UUID | None = None
    subject_id: uuid.UUID | None = None
    visit_id: uuid.UUID | None = None
    overdue: bool | None = None


def list_tasks(
    session: Session, *, user: User, settings: Settings, where: TaskFilter, cursor: str | None, limit: int
) -> tuple[list[schemas.TaskPublic], str | None]:
    query = scope_tasks(select(FollowUpTask), user)
    today = today_in(settings.timezone)
    if where.state:
        query = query.where(col(FollowUpTask.state).in_(where.state))
    if where.severity:
        query = query.where(col(FollowUpTask.severity).in_(where.severity))
    if where.assignee_id:
        watched = select(TaskWatcher.task_id).where(TaskWatcher.user_id == where.assignee_id)
        query = query.where(
            (col(FollowUpTask.assignee_id) == where.assignee_id) | col(FollowUpTask.id).in_(watched)
        )
    if where.subject_id:
        query = query.where(col(FollowUpTask.subject_id) == where.subject_id)
    if where.visit_id:
        linked = select(Discrepancy.task_id).where(Discrepancy.visit_id == where.visit_id)
        query = query.where(col(FollowUpTask.id).in_(linked))
    if where.overdue is True:
        query = query.where(col(FollowUpTask.state).in_(OPEN_TASK_STATES), col(FollowUpTask.due_on) < today)
    elif where.overdue is False:
        query = query.where(
            ~(col(FollowUpTask.state).in_(OPEN_TASK_STATES) & (col(FollowUpTask.due_on) < today))
        )
    rows, next_cursor = paginate(
        session,
        query,
        kind="tasks",
        keys=[date_key(col(FollowUpTask.due_on)), uuid_key(col(FollowUpTask.id))],
        cursor=cursor,
        limit=limit,
    )
    return [public(session, task, today) for task in rows], next_cursor


def public(session: Session, task: FollowUpTask, today: dt.date) -> schemas.TaskPublic:
    watchers = list(session.scalars(select(TaskWatcher.user_id).where(TaskWatcher.task_id == task.id)))
    borrower = session.execute(
        select(Borrower.id, Borrower.name)
        .join(Facility, col(Facility.borrower_id) == col(Borrower.id))
        .where(col(Facility.id) == task.facility_id)
    ).one()
    return schemas.TaskPublic(
        id=task.id,
        state=task.state,
        severity=task.severity,
        rule_key=task.rule_key,
        item_key=task.item_key,
        title_zh=task.title_zh,
        title_en=task.title_en,
        branch_id=task.branch_id,
        facility_id=task.facility_id,
        borrower_id=borrower.id,
        borrower_name=borrower.name,
        subject_type=task.subject_type,
        subject_id=task.subject_id,
        due_on=task.due_on,
        overdue=task.state in OPEN_TASK_STATES and task.due_on < today,
        assignee_id=task.assignee_id,
        watcher_ids=watchers,
        occurrences=task.occurrences,
        opened_by_visit_id=task.opened_by_visit_id,
        last_seen_visit_id=task.last_seen_visit_id,
        opened_by_contact_id=task.opened_by_contact_id,
        resolved_by_visit_id=task.resolved_by_visit_id,
        closed_by_id=task.closed_by_id,
        waiver_reason=task.waiver_reason,
        created_at=task.created_at,
        updated_at=task.updated_at,
        closed_at=task.closed_at,
    )


def detail(session: Session, task: FollowUpTask, today: dt.date) -> schemas.TaskDetail:
    comments = session.scalars(
        select(TaskComment).where(col(TaskComment.task_id) == task.id).order_by(col(TaskComment.created_at))
    )
    findings = session.scalars(select(Discrepancy.id).where(Discrepancy.task_id == task.id))
    return schemas.TaskDetail(
        **public(session, task, today).model_dump(),
        comments=[schemas.TaskComment.model_validate(c) for c in comments],
        discrepancy_ids=list(findings),
    )


# ---- acting on a task ----


def comment(session: Session, *, task: FollowUpTask, user: User, body: str) -> TaskComment:
    row = TaskComment(task_id=task.id, author_id=user.id, body=body)
    session.add(row)
    task.updated_at = utcnow()
    session.flush()
    return row


def act(
    session: Session,
    *,
    task: FollowUpTask,
    user: User,
    action: str,
    note: str | None,
    assignee_id: uuid.UUID | None,
) -> FollowUpTask:
    staff = user.role in (Role.reviewer, Role.admin)
    if action == "start":
        if task.state != TaskState.open:
            raise InvalidTransition(
                "Only an open task can be started.", detail_zh="只有待处理的任务可以开始处理。"
            )
        task.state = TaskState.in_progress
    elif action == "resolve":
        if task.state not in OPEN_TASK_STATES:
            raise InvalidTransition("The task is already closed.", detail_zh="任务已关闭。")
        if not staff:
            raise Forbidden("A reviewer confirms a task is resolved.", detail_zh="须由审核人员确认整改完成。")
        _close(task, TaskState.resolved, user_id=user.id)
    elif action == "waive":
        if task.state not in OPEN_TASK_STATES:
            raise InvalidTransition("The task is already closed.", detail_zh="任务已关闭。")
        if not staff:
            raise Forbidden("Only a reviewer may waive a task.", detail_zh="只有审核人员可以豁免任务。")
        if not note or not note.strip():
            raise WaiverNeedsReason()
        _close(task, TaskState.waived, user_id=user.id)
        task.waiver_reason = note.strip()
    elif action == "assign":
        if not staff:
            raise Forbidden("Only a reviewer reassigns tasks.", detail_zh="只有审核人员可以改派任务。")
        target = session.get(User, assignee_id) if assignee_id else None
        if target is None or target.branch_id != task.branch_id or not target.is_active:
            raise BadAssignee()
        task.assignee_id = target.id
    if note and action != "waive":
        comment(session, task=task, user=user, body=note)
    task.updated_at = utcnow()
    session.flush()
    return task
