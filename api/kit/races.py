"""Losing a race to a unique key, gracefully.

Two requests (a phone's retry, another process, the scheduler twice) may insert the same row at once. The
database decides — a primary or unique key, never an in-process lock — and the loser must not lose its whole
transaction with it: the insert runs in a savepoint, and the caller is told it lost, to answer with the row that
won. Two transactions that each insert one side of a pair and look for the other take turns instead
(`take_turns`). A long job claimed by one process is held for as long as that process lives
(`held_while_alive`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import SQLModel

from api.errors import AppError


class RaceLost(AppError):
    """The insert was refused by a key, yet no winner is to be found (it was removed meanwhile, or a reference
    it needs went away): nothing was kept, and sending the request again decides afresh."""

    status = 409
    code = "write_race"
    title_zh = "与同时进行的其他操作冲突，未保存，请重试"
    title_en = "Another request got in the way; nothing was kept: send it again"


def inserted(session: Session, row: SQLModel) -> bool:
    """Add and flush `row` in a savepoint: True if it is in, False if a key said another got there first (the
    savepoint is rolled back; the transaction goes on)."""
    savepoint = session.begin_nested()
    try:
        session.add(row)
        session.flush()
        savepoint.commit()
    except IntegrityError:
        savepoint.rollback()
        return False
    return True


# Built once: text() parses its string for parameters on every construction.
_TAKE_TURNS = text(
    "SELECT pg_advisory_xact_lock(:namespace, k) FROM (SELECT unnest(:keys) AS k ORDER BY 1) AS wanted"
)


def take_turns(session: Session, *, namespace: int, ids: Iterable[uuid.UUID]) -> None:
    """Hold, until this transaction ends, PostgreSQL advisory locks on these ids in `namespace`.

    For two transactions that each write one side of a pair and read the other — a photo kept while the
    submission listing it is stored: each looks for the other's row, and under READ COMMITTED neither sees
    the other's uncommitted insert, so the photo would never be ticked off. Taking the lock before looking
    makes the second wait for the first's commit, and then see it. Locks are taken in one order (sorted), so
    two takers cannot deadlock. Two ids sharing a 32-bit key only wait for each other. SQLite has one writer
    at a time: nothing to do there."""
    keys = sorted({_lock_key(each) for each in ids})
    if not keys or session.get_bind().dialect.name != "postgresql":
        return
    session.execute(_TAKE_TURNS, {"namespace": namespace, "keys": keys})


@contextmanager
def held_while_alive(engine: Engine, *, namespace: int, key: uuid.UUID) -> Iterator[bool]:
    """Hold a claim on `key` for as long as the block runs, and as long as this process lives: True if it
    is ours, False if a live process holds it.

    A claim committed as a row (state and time) outlives the process that made it: when that process is
    killed, the row still says "running" and another can only take it over once the claim has lapsed. On
    PostgreSQL the claim is also a session-level advisory lock on a connection of its own, which the server
    frees when that connection ends — with the block, or with the process, however it dies. So a job whose
    row says running and whose lock is free belongs to nobody alive and is taken over at once. The lock is
    taken outside any transaction (nothing stays "idle in transaction" while the work runs). SQLite serves
    one process: always True there, and the row's lapse stays the rule."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    wanted = {"namespace": namespace, "key": _lock_key(key)}
    with engine.connect() as holder:
        got = bool(holder.execute(text("SELECT pg_try_advisory_lock(:namespace, :key)"), wanted).scalar())
        holder.commit()
        try:
            yield got
        finally:
            if got:
                try:
                    holder.execute(text("SELECT pg_advisory_unlock(:namespace, :key)"), wanted)
                    holder.commit()
                except Exception:
                    # The unlock could not be sent (an outage): the connection must not go back to the
                    # pool still holding the lock. Closing it for good frees the lock on the server.
                    holder.invalidate()
                    raise


def _lock_key(each: uuid.UUID) -> int:
    """The id's advisory-lock key within a namespace: its first 32 bits (PostgreSQL's two-key form takes two
    int4). Two ids sharing them only wait for each other."""
    return int.from_bytes(each.bytes[:4], "big", signed=True)
