"""Audit events and change-feed rows are written in core SQL beside the flush (api/db.py, `write_beside`): they
must stand or fall with the rows they describe — kept with a commit, gone with a rolled-back savepoint or
transaction — and say exactly what changed."""

from __future__ import annotations

import json

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.audit.models import AuditEvent
from api.sync.models import ChangeLog
from api.visits.models import VisitStatus
from tests.factories import make_bank, make_borrower


def _events_of(session: Session, entity_id: object) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.entity_id == str(entity_id)).order_by(AuditEvent.recorded_at)
        )
    )


def _changes_of(session: Session, entity_id: object) -> int:
    return int(session.scalar(select(func.count()).where(ChangeLog.entity_id == entity_id)) or 0)


def test_a_rolled_back_savepoint_takes_its_events_with_it(app: FastAPI) -> None:
    with app.state.sessionmaker() as session:
        bank = make_bank(session)
        kept = make_borrower(session, branch=bank.one.branch)
        visit = bank.one.visit
        savepoint = session.begin_nested()
        dropped = make_borrower(session, branch=bank.one.branch)
        visit.status = VisitStatus.cancelled
        session.flush()
        # Written, inside the savepoint: the transaction sees them.
        assert len(_events_of(session, dropped.id)) == 1
        assert _changes_of(session, visit.id) == 2  # created (make_bank), then cancelled
        savepoint.rollback()
        session.commit()

    with app.state.sessionmaker() as session:
        assert [e.action for e in _events_of(session, kept.id)] == ["created"]
        assert _events_of(session, dropped.id) == []
        assert [e.action for e in _events_of(session, visit.id)] == ["created"]
        assert _changes_of(session, visit.id) == 1


def test_a_rolled_back_transaction_leaves_no_events(app: FastAPI) -> None:
    with app.state.sessionmaker() as session:
        bank = make_bank(session)
        session.commit()
        borrower_id, visit_id = make_borrower(session, branch=bank.one.branch).id, bank.one.visit.id
        bank.one.visit.status = VisitStatus.cancelled
        session.flush()
        assert len(_events_of(session, borrower_id)) == 1
        session.rollback()

    with app.state.sessionmaker() as session:
        assert _events_of(session, borrower_id) == []
        assert [e.action for e in _events_of(session, visit_id)] == ["created"]
        assert _changes_of(session, visit_id) == 1


def test_an_update_records_only_what_changed_and_hides_secrets(app: FastAPI, session: Session) -> None:
    with app.state.sessionmaker() as writer:
        bank = make_bank(writer)
        writer.commit()
        manager = bank.one.manager
        old_name = manager.display_name
        manager.display_name = "新名字"
        manager.password_hash = "changed"
        writer.commit()
        # Set to the value it already had: nothing changed, no event.
        manager.display_name = "新名字"
        writer.commit()

    created, updated = _events_of(session, manager.id)
    assert created.action == "created" and "password_hash" not in json.loads(created.content)["after"]
    assert updated.action == "updated"
    content = json.loads(updated.content)
    assert content["before"] == {"display_name": old_name, "password_hash": "[secret]"}
    assert content["after"] == {"display_name": "新名字", "password_hash": "[secret]"}
