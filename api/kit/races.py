"""Losing a race to a unique key, gracefully.

Two requests (a phone's retry, another process, the scheduler twice) may insert the same row at once. The
database decides — a primary or unique key, never an in-process lock — and the loser must not lose its whole
transaction with it: the insert runs in a savepoint, and the caller is told it lost, to answer with the row that
won."""

from __future__ import annotations

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
