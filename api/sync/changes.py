"""The change feed: every created or changed visit, submission, photo and task, in one server order.

Recording: a `before_flush` hook on every session writes a change row for each new or modified
object whose class declares `__change_entity__`, so no endpoint can forget to.

Numbering: rows are written without a position. Positions are handed out later, only to rows whose
transaction has committed, by one serialised step (a transaction-level advisory lock on PostgreSQL;
SQLite has one writer at a time anyway), and that step commits before anyone reads them. So positions
appear in commit order: the classic hole — 41 and 42 taken, 42 committed first, a reader at 42 never
sees 41 — cannot happen, because 41 has no position until it has committed, and it then gets 43.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, event, func, inspect, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col, select

from api.auth.models import BRANCH_READERS, Role, User
from api.db import new_id, utcnow, write_beside
from api.errors import AppError
from api.integrations import accounts
from api.sync.models import ChangeLog

FEED_LOCK_KEY = 0x46564348  # "FVCH"


class FeedPositionExpired(AppError):
    status = 410
    code = "feed_position_expired"
    title_zh = "该位置之前的变更已不再保留"
    title_en = "Changes before this position are no longer kept"


def _op(obj: Any, op: str) -> tuple[str, Any]:
    """What happened, in a consumer's words, and the owner it left (for a tombstone), if it changed hands."""
    if op != "updated":
        return op, None
    owner = getattr(type(obj), "__change_owner__", None)
    state = inspect(obj)
    if owner is not None:
        history = state.attrs[owner].history
        if history.has_changes() and history.deleted and history.deleted[0] is not None:
            return "reassigned", history.deleted[0]
    status = state.attrs["status"].history if "status" in state.attrs else None
    if status is not None and status.has_changes() and getattr(obj, "status", None) == "cancelled":
        return "cancelled", None
    return op, None


@event.listens_for(Session, "before_flush")
def _record_changes(session: Session, _context: Any, _instances: Any) -> None:
    # Written in core SQL beside the flush, in its transaction (api/db.py, write_beside).
    changes: list[dict[str, Any]] = []
    touched = [(o, "created") for o in session.new] + [(o, "updated") for o in session.dirty]
    for obj, op in touched + [(o, "deleted") for o in session.deleted]:
        entity = getattr(type(obj), "__change_entity__", None)
        if entity is None or (op == "updated" and not session.is_modified(obj, include_collections=False)):
            continue
        if getattr(obj, "id", None) is None:
            obj.id = new_id()
        branch_id, manager_id, visit_id = obj.change_scope()
        op, former_owner = _op(obj, op)
        rows = [(op, manager_id)]
        if former_owner is not None and former_owner != manager_id:
            # A tombstone for the one it left: their feed says it is gone from their scope.
            rows.append(("removed", former_owner))
        changes.extend(
            {
                "entity_type": entity,
                "entity_id": obj.id,
                "op": row_op,
                "branch_id": branch_id,
                "manager_id": owner,
                "visit_id": visit_id,
            }
            for row_op, owner in rows
        )
    write_beside(session, ChangeLog, changes)


def publish(engine: Engine) -> int:
    """Number what has committed, in a short transaction of its own, before the feed is read."""
    with Session(engine) as session:
        numbered = number_pending(session)
        session.commit()
    return numbered


def number_pending(session: Session, *, batch: int = 5000) -> int:
    """Give positions to committed, unnumbered changes. The caller commits right after."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FEED_LOCK_KEY})
    pending = list(
        session.scalars(
            select(ChangeLog.id)
            .where(col(ChangeLog.seq).is_(None))
            .order_by(col(ChangeLog.recorded_at), col(ChangeLog.id))
            .limit(batch)
        )
    )
    if not pending:
        return 0
    last = session.scalar(select(func.max(ChangeLog.seq))) or 0
    session.execute(
        update(ChangeLog),
        [{"id": change_id, "seq": last + offset} for offset, change_id in enumerate(pending, start=1)],
    )
    return len(pending)


def feed(session: Session, *, user: User, after: int, limit: int) -> tuple[list[ChangeLog], int]:
    """Numbered changes after `after`, in the user's scope; returns them and the position to resume at.
    A position older than the retention kept (`prune`) is refused: the consumer must read afresh."""
    # Read the ceiling first: rows numbered after this moment wait for the next call.
    newest = int(session.scalar(select(func.max(ChangeLog.seq))) or 0)
    oldest = session.scalar(select(func.min(ChangeLog.seq)))
    if oldest is not None and after < oldest - 1:
        raise FeedPositionExpired(
            f"Changes up to position {oldest - 1} are no longer kept; read the records afresh (the lists, or "
            f"an export) and follow the feed from {newest}.",
            detail_zh=f"位置 {oldest - 1} 及之前的变更已不再保留；请重新读取全部记录（列表或导出），再从 {newest} 继续跟随。",
            extra={"oldest_after": oldest - 1, "newest": newest},
        )
    query = select(ChangeLog).where(col(ChangeLog.seq) > after, col(ChangeLog.seq) <= newest)
    if user.role in BRANCH_READERS:
        query = query.where(ChangeLog.branch_id == user.branch_id)
    elif user.role == Role.service:
        branches = accounts.branch_scope(user)
        if branches is not None:
            query = query.where(col(ChangeLog.branch_id).in_(branches))
    elif user.role == Role.manager:
        query = query.where(ChangeLog.manager_id == user.id)
    rows = list(session.scalars(query.order_by(col(ChangeLog.seq)).limit(limit)))
    if len(rows) == limit:
        return rows, int(rows[-1].seq or after)
    # Nothing more in scope up to the ceiling: resume there, so a consumer with a sparse scope does
    # not rescan everybody else's changes on every call.
    return rows, max(after, newest)


def pending(session: Session) -> bool:
    """Are there committed changes still waiting for a position? (A read, for the long poll.)"""
    return session.scalar(select(ChangeLog.id).where(col(ChangeLog.seq).is_(None)).limit(1)) is not None


def prune(engine: Engine, *, keep: dt.timedelta) -> int:
    """Forget numbered changes older than `keep`, always keeping the newest (which marks the horizon)."""
    with Session(engine) as session:
        newest = session.scalar(select(func.max(ChangeLog.seq)))
        if newest is None:
            return 0
        gone = session.execute(
            delete(ChangeLog).where(
                col(ChangeLog.seq) < newest,
                col(ChangeLog.seq).is_not(None),
                col(ChangeLog.recorded_at) < utcnow() - keep,
            )
        )
        session.commit()
        return int(gone.rowcount or 0)  # type: ignore[attr-defined]
