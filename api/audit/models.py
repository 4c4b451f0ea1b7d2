from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, UTCDateTime, new_id, utcnow


class AuditEvent(Base):
    """One state change. `content` is the event's canonical JSON text and `content_sha256` its hash, both
    fixed when the event is written; `seq`, `prev_sha256` and `chain_sha256` are given when it is sealed
    into the chain, in commit order (see audit/service.py).

    The content is kept as text, not as a JSON column: PostgreSQL's jsonb gives numbers back in another
    form (1e16 comes back as 10000000000000000), so a hash of what jsonb returns would raise false alarms.
    Text comes back byte for byte on both databases; the columns beside it are copies for lookups, which
    `verify` checks against the text."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_entity", "entity_type", "entity_id"),
        Index("ix_audit_event_unsealed", "seq", "recorded_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True, nullable=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    content_sha256: Mapped[str] = mapped_column(String(64))
    prev_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    chain_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)

    @property
    def before(self) -> dict[str, Any] | None:
        value: dict[str, Any] | None = json.loads(self.content)["before"]
        return value

    @property
    def after(self) -> dict[str, Any] | None:
        value: dict[str, Any] | None = json.loads(self.content)["after"]
        return value
