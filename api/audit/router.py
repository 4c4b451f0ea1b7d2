"""Reading the audit trail of one record (reviewers within their branch, admins everywhere)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlmodel import col, select

from api.audit import service
from api.audit.models import AuditEvent
from api.auth.dependencies import StaffUser
from api.auth.models import Role
from api.db import CommitFirstRoute, SessionDep
from api.errors import NotFound
from api.kit.cursor import Page
from api.kit.pagination import int_key, paginate
from api.visits import service as visit_service

router = APIRouter(prefix="/api/v1", tags=["audit"], route_class=CommitFirstRoute)


class AuditEventPublic(BaseModel):
    id: uuid.UUID
    seq: int | None
    recorded_at: dt.datetime
    actor_id: uuid.UUID | None
    action: str
    entity_type: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    chain_sha256: str | None


def _visit_of(session: SessionDep, entity_type: str, entity_id: str) -> uuid.UUID | None:
    from api.photos.models import Photo
    from api.rules.models import Discrepancy
    from api.sync.models import Submission
    from api.tasks.models import FollowUpTask

    try:
        key = uuid.UUID(entity_id)
    except ValueError:
        return None
    if entity_type == "visit":
        return key
    model: Any = {"submission": Submission, "photo": Photo, "discrepancy": Discrepancy}.get(entity_type)
    if model is not None:
        row = session.get(model, key)
        return row.visit_id if row is not None else None
    if entity_type == "follow_up_task":
        task = session.get(FollowUpTask, key)
        return task.last_seen_visit_id if task is not None else None
    return None


def seal_first(request: Request) -> None:
    # Listed before the user, so sealing commits before the request's own snapshot is taken.
    service.seal(request.app.state.engine, settings=request.app.state.settings)


@router.get("/audit", response_model=Page[AuditEventPublic], summary="Audit events of one record")
def audit_events(
    _sealed: Annotated[None, Depends(seal_first)],
    user: StaffUser,
    session: SessionDep,
    entity_type: str = Query(
        max_length=32, description="e.g. visit, submission, photo, follow_up_task, borrower"
    ),
    entity_id: str = Query(max_length=64),
    cursor: str | None = Query(None, max_length=500),
    limit: int = Query(100, ge=1, le=500),
) -> Page[AuditEventPublic]:
    """In chain order. Reviewers read the events of visits, submissions, photos, discrepancies and tasks of
    their branch; admins read every record's."""
    if user.role != Role.admin:
        visit_id = _visit_of(session, entity_type, entity_id)
        if visit_id is None or not visit_service.can_see_visit(session, user=user, visit_id=visit_id):
            raise NotFound("No such record.", detail_zh="记录不存在。")
    query = select(AuditEvent).where(
        AuditEvent.entity_type == entity_type,
        AuditEvent.entity_id == entity_id,
        col(AuditEvent.seq).is_not(None),
    )
    rows, next_cursor = paginate(
        session, query, kind="audit", keys=[int_key(col(AuditEvent.seq))], cursor=cursor, limit=limit
    )
    return Page(
        items=[
            AuditEventPublic(
                id=row.id,
                seq=row.seq,
                recorded_at=row.recorded_at,
                actor_id=row.actor_id,
                action=row.action,
                entity_type=row.entity_type,
                entity_id=row.entity_id,
                before=row.before,
                after=row.after,
                chain_sha256=row.chain_sha256,
            )
            for row in rows
        ],
        next_cursor=next_cursor,
    )
