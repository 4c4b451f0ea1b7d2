"""Service accounts and their API keys: creation, issue, rotation with an overlap, revocation, and the
OAuth2 client-credentials exchange of a key for a short access token.

A key reads `fvk_<8 hex>_<43 characters>`: the first part (its prefix) names it in lists and logs and
finds it in the table; the whole key is the secret, kept only as its SHA-256. Revoking a key ends the
access tokens issued for it at once (they carry the key's id as their session, see auth.dependencies).
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, object_session
from sqlmodel import col, select

from api.auth import service as auth_service
from api.auth.exceptions import UsernameTaken
from api.auth.models import RevokedSession, Role, User
from api.auth.security import digest_secret, make_access_token
from api.config import Settings
from api.db import utcnow
from api.errors import NotFound, Unprocessable
from api.integrations.exceptions import InvalidClient, InvalidScope
from api.integrations.models import ApiKey, Scope, ServiceAccount

KEY_PREFIX = "fvk_"
# A password no argon2 hash can match: a service account never signs in with one.
NO_PASSWORD = "!service-account"


def _new_key() -> tuple[str, str]:
    prefix = KEY_PREFIX + secrets.token_hex(4)
    return prefix, f"{prefix}_{secrets.token_urlsafe(32)}"


def branch_scope(user: User) -> list[uuid.UUID] | None:
    """The branches a service account sees (None: the whole bank). Read through the user's own session, so
    every scope function can ask with the user alone."""
    session = object_session(user)
    account = session.get(ServiceAccount, user.id) if session is not None else None
    if account is None:
        return []  # a service user without its account row sees nothing
    return None if account.branch_ids is None else [uuid.UUID(value) for value in account.branch_ids]


def create_service_account(
    session: Session,
    *,
    admin: User,
    username: str,
    display_name: str,
    description: str,
    scopes: Iterable[Scope],
    branch_codes: list[str] | None,
) -> ServiceAccount:
    branch_ids = None
    if branch_codes is not None:
        branch_ids = [
            auth_service.get_branch_by_code(session, code=code).id for code in dict.fromkeys(branch_codes)
        ]
        if not branch_ids:
            raise Unprocessable(
                "Give at least one branch code, or leave branch_codes out for the whole bank.",
                detail_zh="请至少指定一个分支机构代码；如需全行范围，请不要填写 branch_codes。",
            )
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UsernameTaken(f"Username {username!r} is taken.", detail_zh=f"用户名 {username!r} 已存在。")
    user = User(
        username=username,
        display_name=display_name,
        password_hash=NO_PASSWORD,
        role=Role.service,
        branch_id=branch_ids[0] if branch_ids else admin.branch_id,
    )
    session.add(user)
    session.flush()
    account = ServiceAccount(
        user_id=user.id,
        scopes=sorted({scope.value for scope in scopes}),
        branch_ids=None if branch_ids is None else [str(branch_id) for branch_id in branch_ids],
        description=description,
        created_by=admin.id,
    )
    session.add(account)
    session.flush()
    return account


def get_service_account(session: Session, *, account_id: uuid.UUID) -> tuple[ServiceAccount, User]:
    account = session.get(ServiceAccount, account_id)
    user = session.get(User, account_id)
    if account is None or user is None:
        raise NotFound("No such service account.", detail_zh="服务账号不存在。")
    return account, user


def list_service_accounts(session: Session) -> list[tuple[ServiceAccount, User]]:
    rows = session.execute(
        select(ServiceAccount, User)
        .join(User, col(User.id) == col(ServiceAccount.user_id))
        .order_by(User.username)
    )
    return [(account, user) for account, user in rows]


def _branch_ids(session: Session, branch_codes: list[str]) -> list[uuid.UUID]:
    if not branch_codes:
        raise Unprocessable(
            "Give at least one branch code, or leave branch_codes out (null) for the whole bank.",
            detail_zh="请至少指定一个分支机构代码；如需全行范围，请将 branch_codes 置空（null）。",
        )
    return [auth_service.get_branch_by_code(session, code=code).id for code in dict.fromkeys(branch_codes)]


def update_service_account(
    session: Session, *, account: ServiceAccount, user: User, changes: dict[str, Any]
) -> None:
    """Apply the fields sent. Scopes or branches taken away, or deactivation, hold from the next request of
    every token already issued (they are read on each request), not when the tokens expire."""
    if "display_name" in changes and changes["display_name"] is not None:
        user.display_name = changes["display_name"]
    if "description" in changes and changes["description"] is not None:
        account.description = changes["description"]
    if "scopes" in changes and changes["scopes"] is not None:
        account.scopes = sorted({Scope(scope).value for scope in changes["scopes"]})
    if "branch_codes" in changes:
        codes = changes["branch_codes"]
        account.branch_ids = None if codes is None else [str(b) for b in _branch_ids(session, codes)]
    if "is_active" in changes and changes["is_active"] is not None:
        user.is_active = changes["is_active"]
    session.flush()


def issue_key(
    session: Session,
    *,
    account: ServiceAccount,
    actor: User,
    name: str,
    expires_at: dt.datetime | None,
    rotated_from: uuid.UUID | None = None,
) -> tuple[ApiKey, str]:
    """A new key; the whole key is returned here once and never again."""
    if expires_at is not None and expires_at <= utcnow():
        raise Unprocessable("expires_at is in the past.", detail_zh="过期时间早于当前时间。")
    prefix, secret = _new_key()
    key = ApiKey(
        service_account_id=account.user_id,
        prefix=prefix,
        secret_sha256=digest_secret(secret),
        name=name,
        created_by=actor.id,
        expires_at=expires_at,
        rotated_from=rotated_from,
    )
    session.add(key)
    session.flush()
    return key, secret


def get_key(session: Session, *, account: ServiceAccount, key_id: uuid.UUID) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None or key.service_account_id != account.user_id:
        raise NotFound("No such API key.", detail_zh="API 密钥不存在。")
    return key


def list_keys(session: Session, *, account: ServiceAccount) -> list[ApiKey]:
    query = select(ApiKey).where(ApiKey.service_account_id == account.user_id)
    return list(session.scalars(query.order_by(col(ApiKey.created_at), col(ApiKey.id))))


def rotate_key(
    session: Session, *, account: ServiceAccount, key: ApiKey, actor: User, overlap: dt.timedelta
) -> tuple[ApiKey, str]:
    """A successor for `key`; the old one keeps working for `overlap` (or less, if it expires sooner), so
    the consuming system can switch without a gap."""
    if key.revoked_at is not None:
        raise Unprocessable("A revoked key cannot be rotated.", detail_zh="已吊销的密钥不能轮换。")
    ends = utcnow() + overlap
    if key.expires_at is None or key.expires_at > ends:
        key.expires_at = ends
    return issue_key(
        session, account=account, actor=actor, name=key.name, expires_at=None, rotated_from=key.id
    )


def revoke_key(session: Session, *, key: ApiKey) -> None:
    """At once: the key is refused, and so is every access token issued for it."""
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    if session.get(RevokedSession, key.id) is None:
        session.add(RevokedSession(family_id=key.id))
    session.flush()


@dataclass(frozen=True)
class ClientToken:
    access_token: str
    expires_in: int
    scopes: list[str]


def exchange(session: Session, settings: Settings, *, key: str, requested: str | None) -> ClientToken:
    """The client-credentials grant: a valid key for an active account gives a short access token carrying
    the account's scopes, or the subset asked for (`scope`, space-separated)."""
    prefix = key[: len(KEY_PREFIX) + 8]
    row = (
        session.scalar(select(ApiKey).where(ApiKey.prefix == prefix)) if key.startswith(KEY_PREFIX) else None
    )
    now = utcnow()
    if (
        row is None
        or not hmac.compare_digest(row.secret_sha256, digest_secret(key))
        or row.revoked_at is not None
        or (row.expires_at is not None and row.expires_at <= now)
    ):
        raise InvalidClient()
    account = session.get(ServiceAccount, row.service_account_id)
    user = session.get(User, row.service_account_id)
    if account is None or user is None or not user.is_active:
        raise InvalidClient()
    granted = list(account.scopes)
    if requested:
        asked = set(requested.split())
        if not asked <= set(granted):
            raise InvalidScope(
                f"Not granted to this service account: {' '.join(sorted(asked - set(granted)))}.",
                detail_zh=f"该服务账号未被授予：{' '.join(sorted(asked - set(granted)))}。",
            )
        granted = sorted(asked)
    session.info["actor_id"] = user.id  # the audit trail names the system that used its key
    row.last_used_at = now
    access, expires_in = make_access_token(
        settings,
        user_id=user.id,
        role=user.role.value,
        branch_id=user.branch_id,
        session_id=row.id,
        scopes=granted,
        not_after=row.expires_at,
    )
    return ClientToken(access, expires_in, granted)
