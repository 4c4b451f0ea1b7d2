"""Benchmark: reading borrowers' facts for the daily evaluation (issue 14's indicators) — one borrower at a time,
as each import or approved visit does, against a batch of 200, as the daily evaluation of a whole bank does —
in one run, on the same data.

Seeds the bank of bench/visits_list.py (200 borrowers, each a facility and a collateral, N visits), adds eight
quarters of figures per borrower (the last one restated), a year of monthly repayment status per facility, and
approves the visits due before mid-2025. Then reads every borrower's facts both ways, several times, and prints
the median time, the statements sent, and the ratio. In-process: on SQLite the time is all the work; on
PostgreSQL the server's share is not in it (the statement count shows the round trips saved).

    python bench/monitoring_facts.py                                          # SQLite under var/bench/
    python bench/monitoring_facts.py --database-url postgresql://postgres@127.0.0.1:5432/bench_monitoring
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import statistics
import sys
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.db import make_engine, utcnow
from api.migrate import upgrade
from api.monitoring import service
from api.monitoring.models import BorrowerFigures, RepaymentStatus
from api.portfolio.models import Borrower, Facility
from api.visits.models import Visit
from bench.visits_list import p95, seed, timed

QUARTERS = [
    (f"{year}Q{q}", dt.date(year, 3 * q, 30 if q in (2, 3) else 31))
    for year in (2025, 2026)
    for q in (1, 2, 3, 4)
]


def add_monitoring(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(BorrowerFigures)).scalar_one():
            return
        borrowers = conn.execute(sa.select(Borrower.id)).scalars().all()
        figures = []
        for n, borrower_id in enumerate(borrowers):
            for k, (period, end) in enumerate(QUARTERS):
                for restated in (False, True) if k == len(QUARTERS) - 1 else (False,):
                    figures.append({
                        "id": uuid.uuid4(), "borrower_id": borrower_id, "period": period, "period_end": end,
                        "currency": "CNY", "revenue": decimal.Decimal(1_000_000 + n * 10 + k - 300_000 * restated),
                        "total_liabilities": decimal.Decimal(500_000), "total_assets": decimal.Decimal(1_000_000),
                        "operating_cash_flow": decimal.Decimal(-1 if k > 5 else 1), "source": "季报",
                        "reported_on": end + dt.timedelta(days=25), "created_at": utcnow() + dt.timedelta(seconds=restated),
                    })  # fmt: skip
        conn.execute(sa.insert(BorrowerFigures), figures)
        facilities = conn.execute(sa.select(Facility.id)).scalars().all()
        conn.execute(
            sa.insert(RepaymentStatus),
            [
                {"id": uuid.uuid4(), "facility_id": f, "as_of": dt.date(2026, m, 1), "days_past_due": m % 3 * 15,
                 "source": "核心", "created_at": utcnow()}
                for f in facilities for m in range(1, 12)
            ],
        )  # fmt: skip
        conn.execute(
            sa.update(Visit)
            .where(Visit.due_on < dt.date(2025, 6, 1))
            .values(status="approved", decided_at=sa.func.now())
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="sqlite:///./var/bench/monitoring.db")
    parser.add_argument("-n", type=int, default=20_000, help="visits")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    Path("var/bench").mkdir(parents=True, exist_ok=True)
    upgrade(args.database_url)
    engine = make_engine(args.database_url)
    seed(engine, args.n)
    add_monitoring(engine)
    today = dt.date(2026, 11, 30)
    statements = 0

    def count(*_: object) -> None:
        nonlocal statements
        statements += 1

    sa.event.listen(engine, "before_cursor_execute", count)
    with Session(engine) as session:
        borrowers = list(session.scalars(sa.select(Borrower).order_by(Borrower.id)))

        def one_at_a_time() -> None:
            for borrower in borrowers:
                service.load_facts_many(session, borrowers=[borrower], today=today)
            session.expunge_all()

        def batched() -> None:
            for start in range(0, len(borrowers), service.FACTS_BATCH):
                service.load_facts_many(
                    session, borrowers=borrowers[start : start + service.FACTS_BATCH], today=today
                )
            session.expunge_all()

        ways = {"one borrower at a time": one_at_a_time, f"batches of {service.FACTS_BATCH}": batched}
        print(f"database: {engine.dialect.name}; {len(borrowers)} borrowers, {args.n:,} visits\n")
        print(f"{'way':<24} {'median':>10} {'p95':>10} {'per borrower':>13} {'statements':>11}")
        results = {}
        for name, way in ways.items():
            timed(way, 1)
            before = statements
            samples = timed(way, args.repeat)
            sent = (statements - before) / args.repeat
            results[name] = statistics.median(samples)
            print(f"{name:<24} {results[name]:>7.1f} ms {p95(samples):>7.1f} ms "
                  f"{results[name] / len(borrowers):>10.2f} ms {sent:>11.0f}")  # fmt: skip
        one, batch = results.values()
        print(f"\none at a time / batched: {one / batch:.1f}x the time")
    engine.dispose()


if __name__ == "__main__":
    main()
