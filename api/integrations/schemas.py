from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field, HttpUrl

from api.integrations.models import DeliveryState, EventType, Scope
from api.kit.dates import UtcDateTime

USERNAME = r"^[A-Za-z0-9_.-]+$"


class ServiceAccountCreate(BaseModel):
    username: str = Field(min_length=2, max_length=64, pattern=USERNAME)
    display_name: str = Field(
        min_length=1, max_length=200, description="e.g. 信贷风险平台 (credit-risk platform)"
    )
    description: str = Field("", max_length=500)
    scopes: list[Scope] = Field(min_length=1)
    branch_codes: list[str] | None = Field(
        None, max_length=500, description="The branches it sees; leave out (null) for the whole bank."
    )


class ServiceAccountUpdate(BaseModel):
    """Only the fields sent change; `branch_codes: null` widens it to the whole bank."""

    display_name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=500)
    scopes: list[Scope] | None = Field(None, min_length=1)
    branch_codes: list[str] | None = Field(None, max_length=500)
    is_active: bool | None = None


class ServiceAccountPublic(BaseModel):
    """A service account is a user row and its account row together, so this shape stands alone."""

    id: uuid.UUID
    username: str
    display_name: str
    description: str
    scopes: list[str]
    branch_ids: list[uuid.UUID] | None = Field(description="null: the whole bank")
    is_active: bool
    created_at: dt.datetime


class ApiKeyCreate(BaseModel):
    name: str = Field(
        min_length=1, max_length=200, description="Where it is used, e.g. 'risk platform prod'."
    )
    expires_at: UtcDateTime | None = Field(
        None, description="RFC 3339 (without an offset: UTC); null: until revoked."
    )


class ApiKeyRotate(BaseModel):
    overlap_hours: int = Field(24, ge=0, le=24 * 30, description="How long the old key keeps working.")


class ApiKeyPublic(BaseModel):
    id: uuid.UUID
    prefix: str = Field(description="The key's first characters, which name it; never the secret.")
    name: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    rotated_from: uuid.UUID | None


class ApiKeyIssued(ApiKeyPublic):
    key: str = Field(description="The whole key. Shown this once: only its SHA-256 is kept.")


class SubscriptionCreate(BaseModel):
    url: HttpUrl = Field(description="https (or http for an allow-listed internal address)")
    event_types: list[EventType] = Field(min_length=1)
    description: str = Field("", max_length=500)


class SubscriptionUpdate(BaseModel):
    url: HttpUrl | None = None
    event_types: list[EventType] | None = Field(None, min_length=1)
    description: str | None = Field(None, max_length=500)
    is_active: bool | None = Field(
        None, description="true re-enables a subscription disabled after failures."
    )


class SubscriptionPublic(BaseModel):
    id: uuid.UUID
    owner_id: uuid.UUID
    url: str
    description: str
    event_types: list[str]
    is_active: bool
    disabled_at: dt.datetime | None
    disabled_reason: str | None
    created_at: dt.datetime


class SubscriptionCreated(SubscriptionPublic):
    secret: str = Field(description="The signing secret (Standard Webhooks, whsec_…). Shown once.")


class SecretRotate(BaseModel):
    overlap_hours: int = Field(
        24, ge=0, le=24 * 7, description="How long deliveries also carry the old signature."
    )


class SecretRotated(BaseModel):
    secret: str
    previous_secret_until: dt.datetime


class PingResult(BaseModel):
    ok: bool
    status: int | None
    latency_ms: int
    response: str | None = Field(description="The first 500 characters of the answer.")
    error: str | None


class DeliveryPublic(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID = Field(description="The webhook-id header: the same on every retry.")
    event_type: str
    state: DeliveryState
    attempts: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None
    last_attempt_at: dt.datetime | None
    last_status: int | None
    last_latency_ms: int | None
    last_response: str | None
    last_error: str | None


class AttemptPublic(BaseModel):
    attempted_at: dt.datetime
    status: int | None = Field(description="The destination's HTTP status; null when it did not answer.")
    latency_ms: int
    response: str | None = Field(description="The first 500 characters of the answer.")
    error: str | None = Field(
        description="Why there was no answer: refused, timed out, not a public address…"
    )


class ReplayRange(BaseModel):
    """Without an offset, a time is read as UTC."""

    since: UtcDateTime
    until: UtcDateTime


class ReplayReport(BaseModel):
    replayed: int
