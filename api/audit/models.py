from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy import BigInteger, Index, Text
from sqlmodel import Field, SQLModel

from api.db import UTCDateTime, new_id, utcnow


class AuditEvent(SQLModel, table=True):
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

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    seq: int | None = Field(default=None, unique=True, sa_type=BigInteger)
    recorded_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor_id: uuid.UUID | None = Field(default=None)
    action: str = Field(max_length=32)
    entity_type: str = Field(max_length=32)
    entity_id: str = Field(max_length=64)
    content: str = Field(sa_type=Text)
    content_sha256: str = Field(max_length=64)
    prev_sha256: str | None = Field(default=None, max_length=64)
    chain_sha256: str | None = Field(default=None, max_length=64)

    @property
    def before(self) -> dict[str, Any] | None:
        value: dict[str, Any] | None = json.loads(self.content)["before"]
        return value

    @property
    def after(self) -> dict[str, Any] | None:
        value: dict[str, Any] | None = json.loads(self.content)["after"]
        return value
