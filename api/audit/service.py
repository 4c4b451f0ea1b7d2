"""Recording, sealing and verifying the audit trail.

Recording is automatic: a `before_flush` hook writes one event per created, changed or deleted row of
an audited table, with the changed fields before and after, and the actor the request put in
`session.info["actor_id"]`. Explicit events (sign-ins, revocations, reviews) go through `record`.

An event's content is its canonical JSON text (sorted keys, no spaces, UTF-8), stored as text and hashed
as stored, so that what is verified is exactly what was hashed, on SQLite and PostgreSQL alike.

Sealing gives events their place in the chain in commit order, under the same kind of serialised step
as the change feed: `chain = SHA-256(prev_chain + content_sha256)`. `verify` walks the chain and names
the first event whose content was changed, that was removed, or that was moved.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import functools
import hashlib
import json
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from json.encoder import encode_basestring as encode_string
from typing import Any

from sqlalchemy import event, inspect, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel import col, select

from api.audit import checkpoint as head
from api.audit.models import AuditEvent
from api.config import Settings
from api.db import defaulted_columns, python_default, utcnow, write_beside

GENESIS = "0" * 64
AUDIT_LOCK_KEY = 0x46564155  # "FVAU"
# Tables whose rows are evidence or decisions. Bookkeeping tables (change log, uploads in flight,
# manifests, refresh tokens, the audit table itself) are left out.
AUDITED = {
    "visit",
    "visit_assignment",
    "submission",
    "photo",
    "follow_up_task",
    "task_comment",
    "visit_review",
    "discrepancy",
    "borrower",
    "facility",
    "collateral",
    "project",
    "milestone",
    "declaration",
    "checklist_template",
    "template_version",
    "app_user",
    "branch",
    "service_account",
    "api_key",  # its last_used_at moves on every token exchange: each use of a key is in the trail
    "webhook_subscription",
    "referral_case",
    "case_step",
    "case_comment",
    "case_attachment",
    "borrower_contact",
}
# Never copied into the trail.
SECRET_FIELDS = {"password_hash", "token_hash", "secret_sha256", "secret", "previous_secret"}
# Fields that change on every touch and say nothing.
NOISE_FIELDS = {"updated_at", "claimed_at"}


_AS_IS = frozenset({str, int, bool, type(None)})
# The one canonical JSON form of an event's content (sorted keys, compact, UTF-8, no NaN).
_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _plain(value: Any) -> Any:
    """JSON-ready values. The common exact types first: this runs for every field of every audited row."""
    if type(value) in _AS_IS:
        return value
    if isinstance(value, float):
        # JSON has no NaN or infinity; requests refuse them, so this is only a guard for the trail.
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def canonical(content: dict[str, Any]) -> str:
    return _ENCODE(_plain(content))


def content_sha256(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def _stated_columns(
    *,
    event_id: uuid.UUID,
    recorded_at: dt.datetime,
    actor_id: uuid.UUID | None,
    action: str,
    entity_type: str,
    entity_id: str,
) -> dict[str, Any]:
    """An event's lookup columns as its content states them."""
    return {
        "id": str(event_id),
        "recorded_at": recorded_at.isoformat(),
        "actor_id": str(actor_id) if actor_id is not None else None,
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
    }


def columns_of(event_row: AuditEvent) -> dict[str, Any]:
    return _stated_columns(
        event_id=event_row.id,
        recorded_at=event_row.recorded_at,
        actor_id=event_row.actor_id,
        action=event_row.action,
        entity_type=event_row.entity_type,
        entity_id=event_row.entity_id,
    )


def record(
    session: Session,
    *,
    action: str,
    entity_type: str,
    entity_id: Any,
    actor_id: uuid.UUID | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """An explicit event (a sign-in, a revocation), written with the session's next flush."""
    row = AuditEvent(
        **_event_columns(
            session, action=action, entity_type=entity_type, entity_id=entity_id, actor_id=actor_id,
            before=before, after=after,
        )
    )  # fmt: skip
    session.add(row)
    return row


def _event_columns(
    session: Session,
    *,
    action: str,
    entity_type: str,
    entity_id: Any,
    actor_id: uuid.UUID | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> dict[str, Any]:
    event_id, recorded_at = uuid.uuid4(), utcnow()
    actor_id = actor_id if actor_id is not None else session.info.get("actor_id")
    stated = _stated_columns(
        event_id=event_id, recorded_at=recorded_at, actor_id=actor_id, action=action,
        entity_type=entity_type, entity_id=str(entity_id),
    )  # fmt: skip
    content = canonical({**stated, "before": before, "after": after})
    return {
        "id": event_id, "recorded_at": recorded_at, "actor_id": actor_id, "action": action,
        "entity_type": entity_type, "entity_id": str(entity_id), "content": content,
        "content_sha256": content_sha256(content),
    }  # fmt: skip


_SCALAR_FORMS: dict[type, Any] = {
    uuid.UUID: str,
    dt.datetime: dt.datetime.isoformat,
    dt.date: dt.date.isoformat,
    decimal.Decimal: str,
}


def _plain_scalar(value: Any) -> Any:
    """The JSON encoder's fallback for what it cannot write itself; the same forms `_plain` gives."""
    form = _SCALAR_FORMS.get(type(value))
    if form is not None:
        return form(value)
    plain = _plain(value)
    if plain is value:
        raise TypeError(f"{type(value).__name__} is not JSON-ready")
    return plain


def created_events(
    *,
    entity_type: str,
    rows: list[dict[str, Any]],
    actor_id: uuid.UUID | None,
    recorded_at: dt.datetime | None = None,
    ids: Iterator[uuid.UUID] | None = None,
) -> list[dict[str, Any]]:
    """Audit events for rows inserted in bulk (which the flush hook does not see), ready for one INSERT.
    Each content is exactly the canonical text `record` writes (a test holds them equal), built for speed:
    the parts all events share are encoded once, the C encoder writes each row (calling back only for
    UUIDs, dates and decimals, whose text is remembered for the batch: rows share branches and instants),
    and all events carry the one instant of the transaction that writes them. `ids`: the events' ids (the
    import gives time-ordered ones); by default random."""
    recorded_at = recorded_at or utcnow()
    forms: dict[Any, str] = {}

    def plain(value: Any) -> Any:
        # Only UUIDs and datetimes (with their offset) are remembered: equal decimals such as 1.0 and
        # 1.00, or one instant in two zones, are equal keys with different texts.
        kind = type(value)
        if kind is uuid.UUID or kind is dt.datetime:
            key = value if kind is uuid.UUID else (value, value.utcoffset())
            form = forms.get(key)
            if form is None:
                form = forms[key] = _plain_scalar(value)
            return form
        return _plain_scalar(value)

    encode_row = json.JSONEncoder(
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=plain
    ).encode
    # `canonical` sorts the keys: action, actor_id, after, before, entity_id, entity_type, id, recorded_at.
    opening = '{"action":"created","actor_id":' + _ENCODE(_plain(actor_id)) + ',"after":'
    before = ',"before":null,"entity_id":'
    kind = ',"entity_type":' + _ENCODE(entity_type) + ',"id":"'
    closing = '","recorded_at":' + _ENCODE(recorded_at.isoformat()) + "}"
    events = []
    for row in rows:
        event_id, entity_id = next(ids) if ids is not None else uuid.uuid4(), str(row["id"])
        after = {k: v for k, v in row.items() if k not in SECRET_FIELDS}
        after["id"] = entity_id
        content = (
            opening + encode_row(after) + before + encode_string(entity_id) + kind + str(event_id) + closing
        )
        events.append(
            {
                "id": event_id, "recorded_at": recorded_at, "actor_id": actor_id, "action": "created",
                "entity_type": entity_type, "entity_id": entity_id, "content": content,
                "content_sha256": content_sha256(content),
            }
        )  # fmt: skip
    return events


@functools.cache
def _column_keys(mapper: Any) -> tuple[str, ...]:
    # Found once per table: this runs for every audited row of every flush.
    return tuple(attr.key for attr in mapper.column_attrs)


def _columns(obj: Any) -> dict[str, Any]:
    return {key: getattr(obj, key) for key in _column_keys(inspect(obj).mapper) if key not in SECRET_FIELDS}


def _apply_defaults(obj: Any) -> None:
    """Fill Python-side column defaults now, so a created row's event shows its real id and times."""
    for key, column, _stamped in defaulted_columns(obj.__table__):
        if getattr(obj, key) is None:
            setattr(obj, key, python_default(column)[1])


@event.listens_for(Session, "before_flush")
def _audit_changes(session: Session, _context: Any, _instances: Any) -> None:
    """One event per created, changed or deleted audited row, written in core SQL beside the flush (see
    `write_beside`), in the flush's own transaction."""
    events: list[dict[str, Any]] = []
    for obj in list(session.new):
        table = getattr(obj, "__tablename__", None)
        if table in AUDITED:
            _apply_defaults(obj)
            values = _columns(obj)
            events.append(
                _event_columns(
                    session,
                    action="created",
                    entity_type=table,
                    entity_id=values.get("id") or _key(obj),
                    after=values,
                )
            )
    for obj in list(session.dirty):
        table = getattr(obj, "__tablename__", None)
        if table not in AUDITED or not session.is_modified(obj, include_collections=False):
            continue
        state = inspect(obj)
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        # Only an attribute that was set has a committed value kept aside: the others cannot have changed.
        for key in _column_keys(state.mapper):
            if key in NOISE_FIELDS or key not in state.committed_state:
                continue
            history = state.attrs[key].history
            if history.has_changes():
                secret = key in SECRET_FIELDS
                before[key] = "[secret]" if secret else (history.deleted[0] if history.deleted else None)
                after[key] = "[secret]" if secret else (history.added[0] if history.added else None)
        if after:
            events.append(
                _event_columns(
                    session,
                    action="updated",
                    entity_type=table,
                    entity_id=_key(obj),
                    before=before,
                    after=after,
                )
            )
    for obj in list(session.deleted):
        table = getattr(obj, "__tablename__", None)
        if table in AUDITED:
            events.append(
                _event_columns(
                    session, action="deleted", entity_type=table, entity_id=_key(obj), before=_columns(obj)
                )
            )
    write_beside(session, AuditEvent, events)


def _key(obj: Any) -> str:
    identity = inspect(obj).identity
    if identity is None:
        return str(getattr(obj, "id", ""))
    return ":".join(str(part) for part in identity)


# ---- sealing and verification ----


def seal(engine: Engine, *, batch: int = 5000, settings: Settings | None = None) -> int:
    """Chain every committed, unsealed event, in one serialised step. Returns how many were sealed. With
    settings, the new head is also written to the checkpoint outside the database (checkpoint.py)."""
    sealed = 0
    with Session(engine) as session:
        if engine.dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
        last = session.execute(
            select(AuditEvent.seq, AuditEvent.chain_sha256)
            .where(col(AuditEvent.seq).is_not(None))
            .order_by(col(AuditEvent.seq).desc())
            .limit(1)
        ).first()
        seq, chain = (int(last[0] or 0), str(last[1])) if last else (0, GENESIS)
        pending = session.execute(
            select(AuditEvent.id, AuditEvent.content_sha256)
            .where(col(AuditEvent.seq).is_(None))
            .order_by(col(AuditEvent.recorded_at), col(AuditEvent.id))
            .limit(batch)
        ).all()
        links = []
        for event_id, content_sha in pending:
            seq += 1
            previous = chain
            chain = hashlib.sha256((previous + content_sha).encode()).hexdigest()
            links.append({"id": event_id, "seq": seq, "prev_sha256": previous, "chain_sha256": chain})
        if links:
            # One executemany, not a statement per event.
            session.execute(update(AuditEvent), links)
            sealed = len(links)
        session.commit()
    if settings is not None and seq > 0:
        head.advance(settings, seq=seq, chain_sha256=chain)
    return sealed


@dataclass(frozen=True)
class Verdict:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    first_bad_id: str | None = None
    problem: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.checked} events verified"
        return f"audit chain BROKEN at event #{self.first_bad_seq} ({self.first_bad_id}): {self.problem}"


def verify(session: Session, *, settings: Settings | None = None) -> Verdict:
    """Walk the sealed chain in order; name the first event that was changed, removed or reordered. With
    settings, the chain must also still reach the checkpointed head (newest events removed)."""
    checkpoint = head.read(settings) if settings is not None else None
    if checkpoint is not None and not checkpoint.genuine:
        return Verdict(False, 0, None, None, "the checkpoint of the chain's head was altered")
    expected_seq = 1
    chain = GENESIS
    checked = 0
    rows = session.execute(
        select(AuditEvent).where(col(AuditEvent.seq).is_not(None)).order_by(col(AuditEvent.seq))
    ).scalars()
    for row in rows:
        if row.seq != expected_seq:
            return Verdict(False, checked, expected_seq, None, f"event #{expected_seq} is missing (removed)")
        if row.prev_sha256 != chain:
            return Verdict(
                False,
                checked,
                row.seq,
                str(row.id),
                "does not follow the previous event (removed or reordered)",
            )
        if content_sha256(row.content) != row.content_sha256 or not _columns_agree(row):
            return Verdict(False, checked, row.seq, str(row.id), "its content was changed")
        link = hashlib.sha256((chain + row.content_sha256).encode()).hexdigest()
        if link != row.chain_sha256:
            return Verdict(False, checked, row.seq, str(row.id), "its chain hash was changed")
        if checkpoint is not None and row.seq == checkpoint.seq and link != checkpoint.chain_sha256:
            return Verdict(False, checked, row.seq, str(row.id), "differs from the checkpointed head")
        chain = link
        expected_seq += 1
        checked += 1
    if checkpoint is not None and checkpoint.seq >= expected_seq:
        return Verdict(
            False,
            checked,
            expected_seq,
            None,
            f"events #{expected_seq} to #{checkpoint.seq} are missing: the checkpoint saw the chain reach "
            f"#{checkpoint.seq} (newest events removed)",
        )
    return Verdict(True, checked)


def _columns_agree(row: AuditEvent) -> bool:
    try:
        stated = json.loads(row.content)
    except ValueError:
        return False
    return isinstance(stated, dict) and all(stated.get(k) == v for k, v in columns_of(row).items())
