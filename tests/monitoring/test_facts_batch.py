"""The daily evaluation reads borrowers' facts a batch at a time: each borrower's facts from a batch are exactly
what reading it alone gives — figures (the newest set of each period), the newest repayment status, collateral
and projects, each subject's overdue visit and its newest approved visits with their critical findings — and
the batch costs the same few queries however many borrowers it holds."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from api.checklists.schemas import Severity
from api.db import utcnow
from api.monitoring import service
from api.monitoring.models import BorrowerFigures, RepaymentStatus
from api.portfolio.models import Borrower
from api.rules.models import Discrepancy
from api.visits.models import VisitStatus
from tests.factories import bank_today, make_bank, make_collateral, make_project, make_visit

pytestmark = pytest.mark.calendar

D = decimal.Decimal


def _history(session: Session, borrower: Borrower, facility_id: object, scale: int) -> None:
    today = bank_today()
    for n, (period, end) in enumerate([("2025Q3", dt.date(2025, 9, 30)), ("2026Q3", dt.date(2026, 9, 30))]):
        session.add(BorrowerFigures(borrower_id=borrower.id, period=period, period_end=end, revenue=D(100 * scale + n),
                                    reported_on=today, source="季报"))  # fmt: skip
    # A restatement of 2026Q3, received later: it is the one that counts.
    session.add(BorrowerFigures(borrower_id=borrower.id, period="2026Q3", period_end=dt.date(2026, 9, 30),
                                revenue=D(7 * scale), reported_on=today, source="更正",
                                created_at=utcnow() + dt.timedelta(hours=1)))  # fmt: skip
    for days, late in ((40, 0), (10, 31 * scale)):
        session.add(RepaymentStatus(facility_id=facility_id, as_of=today - dt.timedelta(days=days),
                                    days_past_due=late, source="核心"))  # fmt: skip


def test_a_batch_gives_each_borrower_what_reading_it_alone_gives(session: Session) -> None:
    bank = make_bank(session)
    today = bank_today()
    for scale, world in enumerate((bank.one, bank.two), start=1):
        _history(session, world.borrower, world.facility.id, scale)
        make_project(session, facility=world.facility)
        second = make_collateral(session, facility=world.facility)
        make_visit(
            session, collateral=second, version=bank.version, due_on=today - dt.timedelta(days=5 * scale)
        )
        for age in (90, 30, 20, 10):  # four approved visits: the newest three count
            done = make_visit(session, collateral=world.collateral, version=bank.version, status=VisitStatus.approved,
                              decided_at=dt.datetime.combine(today - dt.timedelta(days=age), dt.time(3), dt.UTC))  # fmt: skip
            session.add(Discrepancy(visit_id=done.id, branch_id=world.branch.id, subject_type="collateral",
                                    subject_id=world.collateral.id, finding_key=f"k{age}", rule_key="expected_answer",
                                    item_key="collateral_present", severity=Severity.critical,
                                    explanation_zh="押品不在", explanation_en="missing"))  # fmt: skip
    session.commit()
    borrowers = [bank.one.borrower, bank.two.borrower]
    alone = {b.id: service.load_facts_many(session, borrowers=[b], today=today)[b.id] for b in borrowers}
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(session.get_bind(), "before_cursor_execute", count)
    try:
        together = service.load_facts_many(session, borrowers=borrowers, today=today)
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", count)
    assert together == alone
    one = together[bank.one.borrower.id]
    assert one.figures["2026Q3"]["revenue"] == D(7)  # the restatement
    assert [f.days_past_due for f in one.facilities] == [31]  # the newest status
    assert len(one.projects) == 1 and len(one.subjects) == 3
    [collateral] = [s for s in one.subjects if s.subject_id == bank.one.collateral.id]
    assert [age for _visit, age, _found in collateral.approved] == [
        today - dt.timedelta(days=d) for d in (10, 20, 30)
    ]
    assert [s.overdue_days for s in one.subjects if s.overdue_days] == [5]
    assert len(statements) <= 9
