"""The chain's head is checkpointed outside the database: removing the newest events, or events that were
waiting to be sealed, is noticed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from api.audit import checkpoint, service
from api.audit.models import AuditEvent
from api.config import Settings
from api.main import create_app
from tests.factories import login, make_bank


@pytest.fixture
def own_state(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"state_dir": tmp_path})


def test_removing_the_newest_events_is_named(app: FastAPI, session: Session, own_state: Settings) -> None:
    make_bank(session)
    service.seal(app.state.engine, settings=own_state)
    session.rollback()
    assert service.verify(session, settings=own_state).ok
    newest = session.scalar(select(func.max(AuditEvent.seq)))
    assert newest is not None and newest > 3
    session.execute(delete(AuditEvent).where(AuditEvent.seq >= newest - 1))
    session.commit()
    assert service.verify(session).ok, "a chain alone cannot see its tail cut"
    verdict = service.verify(session, settings=own_state)
    assert not verdict.ok and verdict.first_bad_seq == newest - 1 and "newest events removed" in str(verdict)


def test_a_forged_or_rewound_checkpoint_is_refused(
    app: FastAPI, session: Session, own_state: Settings
) -> None:
    make_bank(session)
    service.seal(app.state.engine, settings=own_state)
    path = checkpoint.path_for(own_state)
    stated = json.loads(path.read_text())
    path.write_text(json.dumps({**stated, "seq": stated["seq"] - 2}))
    session.rollback()
    verdict = service.verify(session, settings=own_state)
    assert not verdict.ok and "checkpoint" in str(verdict)


def test_serve_seals_within_seconds_so_a_deleted_fresh_event_is_noticed(
    settings: Settings, session: Session, tmp_path: Path
) -> None:
    quick = settings.model_copy(update={"state_dir": tmp_path, "audit_seal_seconds": 0.2})
    app = create_app(quick)
    bank = make_bank(session)
    with TestClient(app) as client:
        login(client, bank.one.manager)
        for _ in range(100):
            head = checkpoint.read(quick)
            session.rollback()
            unsealed = session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.seq.is_(None))
            )
            if head is not None and unsealed == 0:
                break
            time.sleep(0.1)
        assert unsealed == 0 and head is not None
    app.state.engine.dispose()
    session.execute(delete(AuditEvent).where(AuditEvent.action == "login"))
    session.commit()
    assert not service.verify(session, settings=quick).ok
