"""Tables of the auth domain: branches (the tenancy boundary), users and refresh tokens."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Column, Enum
from sqlmodel import Field, SQLModel

from api.db import UTCDateTime, new_id, utcnow


class Role(enum.StrEnum):
    manager = "manager"
    reviewer = "reviewer"
    admin = "admin"
    # 风险管理部: reviews and approves extension and restructuring cases and takes escalations to risk.
    risk_officer = "risk_officer"
    # 法律合规部: takes escalations to legal and to compliance.
    compliance_officer = "compliance_officer"
    # A system of the bank reading through the API (integrations.ServiceAccount), never a person: it cannot
    # sign in with a password nor act as a manager, reviewer or admin.
    service = "service"


# People who read their branch's portfolio, visits, tasks and signals (reviewers also act on them; the
# officers act on cases only).
BRANCH_READERS = frozenset({Role.reviewer, Role.risk_officer, Role.compliance_officer})


class BranchBase(SQLModel):
    """A branch as the table keeps it and the API shows it (schemas.BranchPublic)."""

    code: str = Field(unique=True, max_length=32)
    name: str = Field(max_length=200)


class Branch(BranchBase, table=True):
    __tablename__ = "branch"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UserBase(SQLModel):
    """A user as the table keeps it and the API shows it (schemas.UserPublic); never the password hash."""

    username: str = Field(unique=True, max_length=64)
    display_name: str = Field(max_length=200)
    role: Role = Field(sa_column=Column(Enum(Role, native_enum=False, length=24), nullable=False))
    branch_id: uuid.UUID = Field(foreign_key="branch.id", index=True)
    is_active: bool = Field(default=True)


class User(UserBase, table=True):
    __tablename__ = "app_user"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    password_hash: str = Field(max_length=200)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RefreshToken(SQLModel, table=True):
    """One refresh token of a rotation family; only its SHA-256 is kept."""

    __tablename__ = "refresh_token"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    token_hash: str = Field(unique=True, max_length=64)
    family_id: uuid.UUID = Field(index=True)
    user_id: uuid.UUID = Field(foreign_key="app_user.id", index=True)
    issued_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
    rotated_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class RevokedSession(SQLModel, table=True):
    """A signed-out sign-in (a refresh-token family): its access tokens stop working at once, not when
    they expire. Joined by primary key to the user on every authenticated request."""

    __tablename__ = "revoked_session"

    family_id: uuid.UUID = Field(primary_key=True)
    revoked_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SignInThrottle(SQLModel, table=True):
    """Failed sign-ins per key (`user:<name>` as typed, or `addr:<client address>`). Kept for unknown
    usernames exactly as for known ones, so the throttle reveals nothing about who exists."""

    __tablename__ = "sign_in_throttle"

    key: str = Field(primary_key=True, max_length=200)
    failures: int = Field(default=0)
    window_started_at: dt.datetime = Field(sa_type=UTCDateTime)
    lockouts: int = Field(default=0)
    blocked_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
