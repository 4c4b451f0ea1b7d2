"""The daily evaluation of the whole bank, run by the tick in every process: on PostgreSQL a process that finds
another one evaluating leaves today's evaluation to it (several workers at the day's first tick)."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from api import ticks
from api.config import Settings
from api.monitoring.models import BorrowerFigures, Signal
from tests.factories import bank_today, make_bank

pytestmark = pytest.mark.calendar


@pytest.fixture
def fresh_day() -> Iterator[None]:
    """This process has not evaluated today yet (and other tests find it so afterwards too)."""
    ticks._evaluated_on.clear()
    yield
    ticks._evaluated_on.clear()


def _signals(session: Session) -> int:
    session.rollback()
    return int(session.scalar(select(func.count()).select_from(Signal)) or 0)


def test_a_process_that_finds_another_evaluating_leaves_the_day_to_it(
    app: FastAPI, session: Session, settings: Settings, db_kind: str, fresh_day: None
) -> None:
    if db_kind != "postgresql":
        pytest.skip("SQLite has one writer at a time: two evaluations cannot overlap there")
    bank = make_bank(session)
    for period, end, revenue in (
        ("2025Q3", dt.date(2025, 9, 30), 1_000_000),
        ("2026Q3", dt.date(2026, 9, 30), 650_000),
    ):
        session.add(BorrowerFigures(borrower_id=bank.one.borrower.id, period=period, period_end=end,
                                    revenue=decimal.Decimal(revenue), reported_on=bank_today(), source="季报"))  # fmt: skip
    session.commit()  # written straight to the table: not evaluated on import

    with app.state.engine.connect() as other:  # another worker, in the middle of today's evaluation
        other.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ticks.DAILY_EVALUATION_LOCK_KEY})
        assert ticks.evaluate_daily(app.state.sessionmaker, settings) == 0
        assert _signals(session) == 0
        other.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ticks.DAILY_EVALUATION_LOCK_KEY})
    # Left to the other one for today: this process does not try again.
    assert ticks.evaluate_daily(app.state.sessionmaker, settings) == 0

    ticks._evaluated_on.clear()  # the next day, say, or a process alone
    assert ticks.evaluate_daily(app.state.sessionmaker, settings) == 1
    assert _signals(session) == 1
