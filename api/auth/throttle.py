"""Sign-in throttling: too many failures for a username, or from one client address, block further
attempts for a while that grows with each block.

Counted in the database (not in a process), so every API process sees the same counts. Unknown usernames
are counted exactly like known ones: a blocked name answers the same whether it exists or not.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlmodel import col, select

from api.audit import service as audit
from api.auth.exceptions import TooManySignIns
from api.auth.models import SignInThrottle
from api.db import utcnow

WINDOW = dt.timedelta(minutes=15)
# A username is one person; an address may be a branch office behind one NAT, so it gets more room.
USER_LIMIT = 5
ADDRESS_LIMIT = 20
FIRST_BLOCK = dt.timedelta(minutes=1)
LONGEST_BLOCK = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Keys:
    user: str
    address: str | None

    @classmethod
    def of(cls, username: str, address: str | None) -> Keys:
        return cls(f"user:{username.strip().lower()[:150]}", f"addr:{address[:150]}" if address else None)

    def each(self) -> list[tuple[str, int]]:
        keys = [(self.user, USER_LIMIT)]
        if self.address:
            keys.append((self.address, ADDRESS_LIMIT))
        return keys


def _blocked_until(session: Session, keys: Keys, now: dt.datetime) -> list[dt.datetime]:
    rows = session.scalars(
        select(SignInThrottle).where(col(SignInThrottle.key).in_([k for k, _ in keys.each()]))
    )
    return [row.blocked_until for row in rows if row.blocked_until is not None and row.blocked_until > now]


def blocked(session: Session, *, keys: Keys) -> bool:
    return bool(_blocked_until(session, keys, utcnow()))


def check(session: Session, *, keys: Keys, username: str) -> None:
    """Refuse at once while any key is blocked; the refusal is audited."""
    now = utcnow()
    blocked = _blocked_until(session, keys, now)
    if blocked:
        wait = max(1, math.ceil((max(blocked) - now).total_seconds()))
        audit.record(
            session, action="sign_in_throttled", entity_type="sign_in", entity_id=username[:64],
            after={"retry_after_s": wait},
        )  # fmt: skip
        raise TooManySignIns(
            f"Too many failed sign-ins. Try again in {wait} s.",
            detail_zh=f"登录失败次数过多，请 {wait} 秒后再试。",
            headers={"Retry-After": str(wait)},
        )


def _row(session: Session, key: str, now: dt.datetime) -> SignInThrottle:
    # Insert-if-missing as one statement: two failures racing on two processes both land.
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(SignInThrottle)
        .values(key=key, failures=0, window_started_at=now, lockouts=0)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    row = session.scalars(
        select(SignInThrottle)
        .where(SignInThrottle.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return row


def failed(session: Session, *, keys: Keys, username: str) -> None:
    now = utcnow()
    for key, limit in keys.each():
        row = _row(session, key, now)
        if now - row.window_started_at > LONGEST_BLOCK * 24:
            row.lockouts = 0
        if now - row.window_started_at > WINDOW:
            row.failures, row.window_started_at = 0, now
        row.failures += 1
        if row.failures >= limit:
            row.lockouts += 1
            row.failures = 0
            row.window_started_at = now
            row.blocked_until = now + min(LONGEST_BLOCK, FIRST_BLOCK * 2 ** min(row.lockouts - 1, 10))
    audit.record(session, action="sign_in_failed", entity_type="sign_in", entity_id=username[:64])
    session.flush()


def succeeded(session: Session, *, keys: Keys) -> None:
    row = session.get(SignInThrottle, keys.user)
    if row is not None:
        session.delete(row)
