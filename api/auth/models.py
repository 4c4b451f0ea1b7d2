"""Tables of the auth domain: branches (the tenancy boundary), users and refresh tokens."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Boolean, Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, UTCDateTime, new_id, utcnow


class Role(enum.StrEnum):
    manager = "manager"
    reviewer = "reviewer"
    admin = "admin"


class Branch(Base):
    __tablename__ = "branch"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=16))
    branch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("branch.id"), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RefreshToken(Base):
    """One refresh token of a rotation family; only its SHA-256 is kept."""

    __tablename__ = "refresh_token"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id"), index=True)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    rotated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RevokedSession(Base):
    """A signed-out sign-in (a refresh-token family): its access tokens stop working at once, not when
    they expire. Looked up by primary key on every authenticated request."""

    __tablename__ = "revoked_session"

    family_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    revoked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SignInThrottle(Base):
    """Failed sign-ins per key (`user:<name>` as typed, or `addr:<client address>`). Kept for unknown
    usernames exactly as for known ones, so the throttle reveals nothing about who exists."""

    __tablename__ = "sign_in_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    lockouts: Mapped[int] = mapped_column(default=0)
    blocked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
