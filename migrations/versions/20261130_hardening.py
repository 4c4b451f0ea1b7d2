"""hardening: audit content as canonical text, revoked sessions, sign-in throttle

The audit event's content becomes its canonical JSON text, hashed as stored: jsonb on PostgreSQL gave
numbers back in another form, so the old hash of before/after raised false alarms. Existing events are
rewritten into the new form and the chain is sealed again from the first event, once, by this upgrade.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 00:00:00
"""

import datetime as dt
import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import api.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value is not None and not isinstance(value, str | int | float | bool):
        return str(value)
    return value


def upgrade() -> None:
    op.create_table(
        "revoked_session",
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("revoked_at", api.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("family_id", name=op.f("pk_revoked_session")),
    )
    op.create_table(
        "sign_in_throttle",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", api.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lockouts", sa.Integer(), nullable=False),
        sa.Column("blocked_until", api.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sign_in_throttle")),
    )
    with op.batch_alter_table("photo_upload", schema=None) as batch_op:
        batch_op.add_column(sa.Column("finished_photo_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("finished_at", api.db.UTCDateTime(timezone=True), nullable=True))
    # Signed-out sign-ins end their access tokens too; families already revoked are carried over.
    op.execute(
        "INSERT INTO revoked_session (family_id, revoked_at) "
        "SELECT family_id, MAX(revoked_at) FROM refresh_token WHERE revoked_at IS NOT NULL GROUP BY family_id"
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content", sa.Text(), nullable=True))
    bind = op.get_bind()
    events = sa.table(
        "audit_event",
        sa.column("id", sa.Uuid()),
        sa.column("seq", sa.BigInteger()),
        sa.column("recorded_at", sa.DateTime(timezone=True)),
        sa.column("actor_id", sa.Uuid()),
        sa.column("action", sa.String()),
        sa.column("entity_type", sa.String()),
        sa.column("entity_id", sa.String()),
        sa.column("before", _JSON),
        sa.column("after", _JSON),
        sa.column("content", sa.Text()),
        sa.column("content_sha256", sa.String()),
        sa.column("prev_sha256", sa.String()),
        sa.column("chain_sha256", sa.String()),
    )
    rows = bind.execute(
        sa.select(events).order_by(events.c.seq.is_(None), events.c.seq, events.c.recorded_at, events.c.id)
    ).all()
    chain = GENESIS
    for row in rows:
        content = json.dumps(
            _plain(
                {
                    "id": str(row.id),
                    "recorded_at": row.recorded_at
                    if not isinstance(row.recorded_at, str)
                    else dt.datetime.fromisoformat(row.recorded_at),
                    "actor_id": str(row.actor_id) if row.actor_id else None,
                    "action": row.action,
                    "entity_type": row.entity_type,
                    "entity_id": row.entity_id,
                    "before": row.before,
                    "after": row.after,
                }
            ),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        digest = hashlib.sha256(content.encode()).hexdigest()
        values: dict[str, Any] = {"content": content, "content_sha256": digest}
        if row.seq is not None:
            values["prev_sha256"] = chain
            chain = hashlib.sha256((chain + digest).encode()).hexdigest()
            values["chain_sha256"] = chain
        bind.execute(sa.update(events).where(events.c.id == row.id).values(**values))
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.alter_column("content", existing_type=sa.Text(), nullable=False)
        batch_op.drop_column("before")
        batch_op.drop_column("after")


def downgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("after", _JSON, nullable=True))
        batch_op.add_column(sa.Column("before", _JSON, nullable=True))
    bind = op.get_bind()
    events = sa.table(
        "audit_event", sa.column("id", sa.Uuid()), sa.column("content", sa.Text()),
        sa.column("before", _JSON), sa.column("after", _JSON),
    )  # fmt: skip
    for row in bind.execute(sa.select(events.c.id, events.c.content)).all():
        stated = json.loads(row.content)
        bind.execute(
            sa.update(events)
            .where(events.c.id == row.id)
            .values(before=stated["before"], after=stated["after"])
        )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_column("content")
    with op.batch_alter_table("photo_upload", schema=None) as batch_op:
        batch_op.drop_column("finished_at")
        batch_op.drop_column("finished_photo_id")
    op.drop_table("sign_in_throttle")
    op.drop_table("revoked_session")
