"""Users and sessions: sign-in, rotating refresh tokens, revocation, user creation.

Refresh tokens rotate on every use and belong to a family. A token used a second time outside
the grace window means it was copied: the whole family is revoked. Inside the window it is a phone
retrying after losing the answer, and it gets a fresh token, so the manager never retypes anything.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlmodel import col, select

from api.audit import service as audit
from api.auth import throttle
from api.auth.exceptions import (
    BadCredentials,
    BadCredentialsCounted,
    RefreshTokenReplayed,
    TokenInvalid,
    UsernameTaken,
)
from api.auth.models import Branch, RefreshToken, RevokedSession, Role, User
from api.auth.security import (
    digest_secret,
    hash_password,
    make_access_token,
    new_refresh_secret,
    verify_password,
)
from api.config import Settings
from api.db import new_id, utcnow
from api.errors import NotFound


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_at: dt.datetime


@dataclass(frozen=True)
class PasswordCheck:
    """A password verified ahead, on a read-only snapshot, against the hash seen there (None: no user)."""

    password_hash: str | None
    ok: bool


def check_password(
    session: Session, *, username: str, password: str, address: str | None = None
) -> PasswordCheck | None:
    """Verify the password before the sign-in's write transaction begins: argon2's ~0.2 s of work must not
    be spent holding SQLite's one write lock, nor waiting for it. None while the sign-in is throttled
    (no work for a blocked caller; the sign-in then refuses and audits it)."""
    if throttle.blocked(session, keys=throttle.Keys.of(username, address)):
        return None
    password_hash = session.scalar(select(User.password_hash).where(User.username == username))
    return PasswordCheck(password_hash, verify_password(password, password_hash))


def authenticate(
    session: Session, *, username: str, password: str, checked: PasswordCheck | None = None
) -> User:
    user = session.scalar(select(User).where(User.username == username))
    seen = user.password_hash if user else None
    if checked is not None and checked.password_hash == seen:
        ok = checked.ok  # verified moments ago against this very hash
    else:
        ok = verify_password(password, seen)
    if user is None or not ok or not user.is_active:
        raise BadCredentials()
    return user


def _issue(session: Session, settings: Settings, *, user: User, family_id: uuid.UUID) -> TokenPair:
    access, expires_in = make_access_token(
        settings, user_id=user.id, role=user.role.value, branch_id=user.branch_id, session_id=family_id
    )
    secret = new_refresh_secret()
    expires_at = utcnow() + dt.timedelta(days=settings.refresh_token_days)
    session.add(
        RefreshToken(
            token_hash=digest_secret(secret),
            family_id=family_id,
            user_id=user.id,
            expires_at=expires_at,
        )
    )
    session.flush()
    return TokenPair(access, expires_in, secret, expires_at)


def sign_in(
    session: Session,
    settings: Settings,
    *,
    username: str,
    password: str,
    address: str | None = None,
    checked: PasswordCheck | None = None,
) -> tuple[User, TokenPair]:
    """Throttled per username and per client address (see throttle.py); failures are counted and audited.
    `checked`: the password as `check_password` found it, used if the hash is still the same."""
    keys = throttle.Keys.of(username, address)
    throttle.check(session, keys=keys, username=username)
    try:
        user = authenticate(session, username=username, password=password, checked=checked)
    except BadCredentials:
        throttle.failed(session, keys=keys, username=username)
        raise BadCredentialsCounted() from None
    throttle.succeeded(session, keys=keys)
    family = new_id()
    audit.record(
        session,
        action="login",
        entity_type="app_user",
        entity_id=user.id,
        actor_id=user.id,
        after={"family_id": family},
    )
    return user, _issue(session, settings, user=user, family_id=family)


def refresh(session: Session, settings: Settings, *, refresh_token: str) -> tuple[User, TokenPair]:
    token = session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == digest_secret(refresh_token))
    )
    now = utcnow()
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        raise TokenInvalid()
    if token.rotated_at is not None:
        if now - token.rotated_at > dt.timedelta(seconds=settings.refresh_reuse_grace_seconds):
            revoke_family(session, family_id=token.family_id)
            audit.record(
                session,
                action="token_family_revoked",
                entity_type="app_user",
                entity_id=token.user_id,
                actor_id=token.user_id,
                after={"family_id": token.family_id, "reason": "refresh token replayed"},
            )
            raise RefreshTokenReplayed(
                "This refresh token was already used; all sessions of this sign-in were revoked.",
                detail_zh="该刷新凭证已被使用过，本次登录的所有会话均已注销。",
            )
    else:
        token.rotated_at = now
    user = session.get(User, token.user_id)
    if user is None or not user.is_active:
        raise TokenInvalid()
    return user, _issue(session, settings, user=user, family_id=token.family_id)


def revoke_family(session: Session, *, family_id: uuid.UUID) -> None:
    """End a sign-in: its refresh tokens and, from the next request on, its access tokens."""
    if session.get(RevokedSession, family_id) is None:
        session.add(RevokedSession(family_id=family_id))
    session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


def revoke(session: Session, *, refresh_token: str) -> RefreshToken | None:
    """Sign out: revoke the family of this token. Unknown tokens are ignored (signing out twice is fine)."""
    token = session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == digest_secret(refresh_token))
    )
    if token is not None:
        revoke_family(session, family_id=token.family_id)
        audit.record(
            session,
            action="token_revoked",
            entity_type="app_user",
            entity_id=token.user_id,
            actor_id=token.user_id,
            after={"family_id": token.family_id},
        )
    return token


def get_branch_by_code(session: Session, *, code: str) -> Branch:
    branch = session.scalar(select(Branch).where(Branch.code == code))
    if branch is None:
        raise NotFound(f"No branch with code {code!r}.", detail_zh=f"分支机构代码 {code!r} 不存在。")
    return branch


def create_branch(session: Session, *, code: str, name: str) -> Branch:
    branch = Branch(code=code, name=name)
    session.add(branch)
    session.flush()
    return branch


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role,
    branch_id: uuid.UUID,
    display_name: str | None = None,
) -> User:
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UsernameTaken(f"Username {username!r} is taken.", detail_zh=f"用户名 {username!r} 已存在。")
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=role,
        branch_id=branch_id,
    )
    session.add(user)
    session.flush()
    return user
