"""Tables of the integrations domain: service accounts and their API keys, webhook subscriptions, the
transactional outbox of events and the delivery log."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import Column, Enum, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from api.db import JSONDoc, UTCDateTime, new_id, utcnow


class Scope(enum.StrEnum):
    """What a service account may do; a person's role decides for people."""

    visits_read = "visits:read"
    photos_read = "photos:read"
    tasks_read = "tasks:read"
    portfolio_read = "portfolio:read"
    exports_read = "exports:read"
    cases_read = "cases:read"
    webhooks_manage = "webhooks:manage"


class ServiceAccount(SQLModel, table=True):
    """A system of the bank (core banking, the risk platform, the archive) that reads through the API.

    It is also a row of `app_user` (role `service`, no usable password), so the audit trail, the
    change feed and every scope check name it like anyone else; this row adds what a person lacks."""

    __tablename__ = "service_account"

    user_id: uuid.UUID = Field(foreign_key="app_user.id", primary_key=True)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSONDoc, nullable=False))
    # The branches whose records it sees, as id strings; None: the whole bank.
    branch_ids: list[str] | None = Field(default=None, sa_column=Column(JSONDoc, nullable=True))
    description: str = Field(default="", max_length=500)
    created_by: uuid.UUID = Field(foreign_key="app_user.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ApiKey(SQLModel, table=True):
    """One key of a service account. The secret is shown once; only its SHA-256 is kept (a 256-bit
    random secret needs no slow hash). The prefix names the key in logs and lists."""

    __tablename__ = "api_key"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    service_account_id: uuid.UUID = Field(foreign_key="service_account.user_id", index=True)
    prefix: str = Field(unique=True, max_length=32)
    secret_sha256: str = Field(max_length=64)
    name: str = Field(max_length=200)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: uuid.UUID = Field(foreign_key="app_user.id")
    expires_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The key this one replaced by rotation (that one then expires after the overlap).
    rotated_from: uuid.UUID | None = Field(default=None)


class EventType(enum.StrEnum):
    visit_scheduled = "visit.scheduled"
    visit_submitted = "visit.submitted"
    visit_returned = "visit.returned"
    visit_approved = "visit.approved"
    visit_cancelled = "visit.cancelled"
    visit_overdue = "visit.overdue"
    discrepancy_created = "discrepancy.created"
    task_opened = "task.opened"
    task_updated = "task.updated"
    task_resolved = "task.resolved"
    task_waived = "task.waived"
    photo_processed = "photo.processed"
    signal_opened = "signal.opened"
    case_submitted = "case.submitted"
    case_approved = "case.approved"
    case_rejected = "case.rejected"


class WebhookSubscription(SQLModel, table=True):
    __tablename__ = "webhook_subscription"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    # Who owns it (a service account with webhooks:manage, or an admin): its scope bounds what is sent.
    owner_id: uuid.UUID = Field(foreign_key="app_user.id", index=True)
    url: str = Field(max_length=2000)
    description: str = Field(default="", max_length=500)
    event_types: list[str] = Field(default_factory=list, sa_column=Column(JSONDoc, nullable=False))
    # Standard Webhooks secrets ("whsec_" + base64). Kept readable: the server must sign with them.
    secret: str = Field(max_length=200)
    # The secret before the last rotation, still signed with until `previous_secret_until`.
    previous_secret: str | None = Field(default=None, max_length=200)
    previous_secret_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    is_active: bool = Field(default=True)
    disabled_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    disabled_reason: str | None = Field(default=None, max_length=500)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WebhookEvent(SQLModel, table=True):
    """The outbox: one row per state change, written in the change's own transaction, so that a committed
    change always has its event and a rolled-back one never has. Its id is the `webhook-id`."""

    __tablename__ = "webhook_event"
    __table_args__ = (Index("ix_webhook_event_visit_id_created_at", "visit_id", "created_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    event_type: str = Field(max_length=40)
    entity_id: uuid.UUID
    # Deliveries are in order per visit; branch_id bounds who may receive it.
    visit_id: uuid.UUID | None = Field(default=None)
    branch_id: uuid.UUID | None = Field(default=None)
    payload: dict[str, Any] = Field(sa_column=Column(JSONDoc, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    # Set when the event has been fanned out to the subscriptions of that moment.
    fanned_out_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


class DeliveryState(enum.StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"  # gave up after the last retry, or the subscription was disabled


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        Index("ix_webhook_delivery_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    subscription_id: uuid.UUID = Field(foreign_key="webhook_subscription.id", index=True)
    event_id: uuid.UUID = Field(foreign_key="webhook_event.id")
    visit_id: uuid.UUID | None = Field(default=None)
    state: DeliveryState = Field(
        default=DeliveryState.pending,
        sa_column=Column(Enum(DeliveryState, native_enum=False, length=16), nullable=False),
    )
    attempts: int = Field(default=0)
    next_attempt_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    delivered_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    last_attempt_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status: int | None = Field(default=None)
    last_latency_ms: int | None = Field(default=None)
    last_response: str | None = Field(default=None, max_length=500)
    last_error: str | None = Field(default=None, max_length=500)


class WebhookAttempt(SQLModel, table=True):
    """Every attempt of a delivery, for the integrator working out why it failed (the delivery keeps the
    latest one too, for its list)."""

    __tablename__ = "webhook_attempt"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    delivery_id: uuid.UUID = Field(foreign_key="webhook_delivery.id", index=True)
    attempted_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    status: int | None = Field(default=None)
    latency_ms: int = Field(default=0)
    response: str | None = Field(default=None, max_length=500)
    error: str | None = Field(default=None, max_length=500)
