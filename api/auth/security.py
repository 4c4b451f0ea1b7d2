"""Password hashing (Argon2id) and signed access tokens (HS256 JWT)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from api.config import Settings
from api.db import utcnow

_hasher = PasswordHasher()
# Verifying against this keeps a login for an unknown user as slow as one for a known user.
_DUMMY_HASH = _hasher.hash("fieldvisit-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def make_access_token(
    settings: Settings,
    *,
    user_id: uuid.UUID,
    role: str,
    branch_id: uuid.UUID,
    session_id: uuid.UUID,
    scopes: list[str] | None = None,
    not_after: dt.datetime | None = None,
) -> tuple[str, int]:
    """`scopes`: a service account's (people have roles instead); `not_after`: the token never outlives
    the credential it came from (an API key's expiry)."""
    now = utcnow()
    lifetime = dt.timedelta(minutes=settings.access_token_minutes)
    if not_after is not None:
        lifetime = max(dt.timedelta(seconds=1), min(lifetime, not_after - now))
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "role": role,
        "branch": str(branch_id),
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "typ": "access",
        # The sign-in (refresh family) this token belongs to: signing out ends it before it expires.
        "sid": str(session_id),
    }
    if scopes is not None:
        claims["scope"] = " ".join(scopes)
    return jwt.encode(claims, settings.signing_key, algorithm="HS256"), int(lifetime.total_seconds())


def read_access_token(settings: Settings, token: str) -> dict[str, Any] | None:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.signing_key,
            algorithms=["HS256"],
            options={"require": ["sub", "exp", "typ", "sid"]},
        )
    except jwt.PyJWTError:
        return None
    return claims if claims.get("typ") == "access" else None


def new_refresh_secret() -> str:
    return secrets.token_urlsafe(32)


def digest_secret(secret: str) -> str:
    """A random secret's SHA-256 (refresh tokens, API keys): enough at 256 bits of entropy, unlike a password."""
    return hashlib.sha256(secret.encode()).hexdigest()
