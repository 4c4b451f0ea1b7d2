"""The transactional outbox: every state change a consumer may subscribe to becomes a `webhook_event` row in
the change's own transaction.

A `before_flush` hook notes which events the flushed objects make (so no endpoint, job or tick can forget
one); a `before_commit` hook renders each event's payload — the resource as the API returns it, with a link
— from the objects as they are at commit, and adds the rows, which the commit then writes with everything
else. A rollback of the transaction drops the notes; a note whose change a rolled-back savepoint took back
is dropped at commit (`still_holds`). So a committed change always has its event, a rolled-back one never.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, SessionTransaction

from api.cases.models import Case, CaseState
from api.db import utcnow, write_beside
from api.integrations.models import EventType, WebhookEvent
from api.monitoring.models import Signal
from api.photos.models import Photo, PhotoState
from api.rules.models import Discrepancy
from api.tasks.models import FollowUpTask, TaskState
from api.visits.models import Visit, VisitStatus

PENDING = "webhook_events_pending"
# The bank's zone decides `overdue` in a payload; sessions made by the app carry the configured one.
ZONE = "timezone"

VISIT_STATUS_EVENTS = {
    VisitStatus.submitted: EventType.visit_submitted,
    VisitStatus.returned: EventType.visit_returned,
    VisitStatus.approved: EventType.visit_approved,
    VisitStatus.cancelled: EventType.visit_cancelled,
}
TASK_STATE_EVENTS = {TaskState.resolved: EventType.task_resolved, TaskState.waived: EventType.task_waived}
CASE_STATE_EVENTS = {
    CaseState.submitted: EventType.case_submitted,
    CaseState.approved: EventType.case_approved,
    CaseState.rejected: EventType.case_rejected,
}
# Columns whose change is worth a task.updated (not the bookkeeping ones).
TASK_FIELDS = ("state", "assignee_id", "due_on", "severity", "occurrences", "last_seen_visit_id")


def _changed(obj: Any, key: str) -> bool:
    return bool(inspect(obj).attrs[key].history.has_changes())


def events_of(obj: Any, *, created: bool) -> list[EventType]:
    """The events an object being flushed makes (none for most objects)."""
    if isinstance(obj, Visit):
        if created:
            return [EventType.visit_scheduled]
        made = VISIT_STATUS_EVENTS.get(obj.status)
        return [made] if made is not None and _changed(obj, "status") else []
    if isinstance(obj, Discrepancy):
        if not created:
            return []
        overdue = [EventType.visit_overdue] if obj.rule_key == "visit_overdue" else []
        return [*overdue, EventType.discrepancy_created]
    if isinstance(obj, FollowUpTask):
        if created:
            return [EventType.task_opened]
        if _changed(obj, "state") and obj.state in TASK_STATE_EVENTS:
            return [TASK_STATE_EVENTS[obj.state]]
        return [EventType.task_updated] if any(_changed(obj, key) for key in TASK_FIELDS) else []
    if isinstance(obj, Photo):
        done = obj.state == PhotoState.processed and (created or _changed(obj, "state"))
        return [EventType.photo_processed] if done else []
    if isinstance(obj, Signal):
        return [EventType.signal_opened] if created else []
    if isinstance(obj, Case):
        made = CASE_STATE_EVENTS.get(obj.state)
        return [made] if made is not None and not created and _changed(obj, "state") else []
    return []


@event.listens_for(Session, "before_flush")
def _note_events(session: Session, _context: Any, _instances: Any) -> None:
    pending: dict[tuple[str, uuid.UUID], Any] = session.info.setdefault(PENDING, {})
    for obj, created in [(o, True) for o in session.new] + [(o, False) for o in session.dirty]:
        for kind in events_of(obj, created=created):
            if getattr(obj, "id", None) is None:
                obj.id = uuid.uuid4()
            if kind == EventType.task_updated and (EventType.task_opened, obj.id) in pending:
                continue  # opened and filled in within one transaction: one event says it
            pending.setdefault((kind, obj.id), obj)


@event.listens_for(Session, "before_commit")
def _write_events(session: Session) -> None:
    # The commit's own flush comes after this hook: flush now, so what it writes is noted too.
    session.flush()
    pending: dict[tuple[str, uuid.UUID], Any] = session.info.pop(PENDING, {})
    if not pending:
        return
    with session.no_autoflush:
        rows = [
            render(session, EventType(kind), obj)
            for (kind, _id), obj in pending.items()
            if still_holds(EventType(kind), obj)
        ]
    # In core SQL beside the commit's flush (api/db.py, write_beside): nothing reads them back here.
    write_beside(session, WebhookEvent, rows)


def still_holds(kind: EventType, obj: Any) -> bool:
    """Is the noted change still there at commit? A savepoint rolled back after the flush (a task another
    request opened a moment earlier, tasks.service) takes back a new row or a changed state; its event must
    go with it."""
    if not inspect(obj).persistent:
        return False
    if isinstance(obj, Visit) and kind in VISIT_STATUS_EVENTS.values():
        return VISIT_STATUS_EVENTS.get(obj.status) == kind
    if isinstance(obj, FollowUpTask) and kind in TASK_STATE_EVENTS.values():
        return TASK_STATE_EVENTS.get(obj.state) == kind
    if isinstance(obj, Photo):
        return obj.state == PhotoState.processed
    if isinstance(obj, Case):
        return CASE_STATE_EVENTS.get(obj.state) == kind
    return True


@event.listens_for(Session, "after_transaction_end")
def _forget_events(session: Session, transaction: SessionTransaction) -> None:
    # The whole transaction is over (a commit has taken its notes already): what is left was rolled back.
    # Not on a savepoint's end: what came before it still stands (`still_holds` drops what it took back).
    if transaction.parent is None:
        session.info.pop(PENDING, None)


def render(session: Session, kind: EventType, obj: Any) -> dict[str, Any]:
    """The event row's columns: the resource as the API shows it, a link to it, and what bounds who receives
    it."""
    from api.cases import service as case_service
    from api.kit.clock import today_in
    from api.monitoring import service as monitoring_service
    from api.photos import service as photo_service
    from api.portfolio.models import Borrower
    from api.rules.schemas import DiscrepancyPublic
    from api.tasks import service as task_service
    from api.visits import service as visit_service

    zone = session.info.get(ZONE) or "Asia/Shanghai"
    base = str(session.info.get("public_url") or "").rstrip("/")
    today = today_in(zone)
    data: dict[str, Any]
    visit_id: uuid.UUID | None  # a task a contact opened off site has none
    if isinstance(obj, Visit):
        borrower = session.get(Borrower, obj.borrower_id)
        data = visit_service.summary(obj, borrower.name if borrower else "", today).model_dump(mode="json")
        link, visit_id = f"/api/v1/visits/{obj.id}", obj.id
    elif isinstance(obj, Discrepancy):
        data = DiscrepancyPublic.model_validate(obj).model_dump(mode="json")
        link, visit_id = f"/api/v1/visits/{obj.visit_id}", obj.visit_id
        if kind == EventType.visit_overdue:
            data = {"visit_id": str(obj.visit_id), "discrepancy": data}
    elif isinstance(obj, FollowUpTask):
        data = task_service.public(session, obj, today).model_dump(mode="json")
        link, visit_id = f"/api/v1/tasks/{obj.id}", obj.last_seen_visit_id
    elif isinstance(obj, Signal):
        data = monitoring_service.signal_public(session, obj).model_dump(mode="json")
        link, visit_id = f"/api/v1/signals/{obj.id}", obj.visit_id
    elif isinstance(obj, Case):
        data = case_service.public(session, obj, user=None, today=today).model_dump(mode="json")
        link, visit_id = f"/api/v1/cases/{obj.id}", None
    else:
        data = photo_service.public(obj).model_dump(mode="json")
        link, visit_id = f"/api/v1/photos/{obj.id}", obj.visit_id
    now = utcnow()
    return {
        "event_type": kind.value,
        "entity_id": obj.id,
        "visit_id": visit_id,
        "branch_id": obj.branch_id,
        "payload": {
            "type": kind.value,
            "timestamp": _stamp(now),
            "data": {**data, "links": {"self": base + link}},
        },
        "created_at": now,
    }


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
