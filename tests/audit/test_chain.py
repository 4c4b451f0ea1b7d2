"""The audit trail records every state change and catches an edited, a deleted and a swapped event."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from api.audit import service
from api.audit.models import AuditEvent
from api.cli import main
from api.config import Settings, get_settings
from tests.factories import login, make_bank


@pytest.fixture
def trail(app: FastAPI, client: TestClient, session: Session) -> Iterator[list[AuditEvent]]:
    """Some real history: sign-ins, a visit started and reassigned; sealed."""
    bank = make_bank(session)
    client.post(f"/api/v1/visits/{bank.one.visit.id}/start", headers=login(client, bank.one.manager))
    client.post(
        f"/api/v1/visits/{bank.one.visit.id}/reassign",
        json={"manager_id": str(bank.one.other_manager.id)},
        headers=login(client, bank.one.reviewer),
    )
    service.seal(app.state.engine)
    session.rollback()
    yield list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def test_state_changes_and_sign_ins_are_recorded(trail: list[AuditEvent]) -> None:
    actions = {(e.entity_type, e.action) for e in trail}
    assert ("app_user", "login") in actions
    assert ("visit", "updated") in actions
    reassigned = [
        e
        for e in trail
        if e.entity_type == "visit" and e.action == "updated" and "manager_id" in (e.after or {})
    ]
    assert reassigned and reassigned[0].before is not None and reassigned[0].actor_id is not None
    assert all("password_hash" not in (e.after or {}) for e in trail)
    assert [e.seq for e in trail] == list(range(1, len(trail) + 1))


def test_an_untouched_chain_verifies(trail: list[AuditEvent], session: Session) -> None:
    verdict = service.verify(session)
    assert verdict.ok and verdict.checked == len(trail)


def test_an_edited_event_is_named(trail: list[AuditEvent], session: Session) -> None:
    target = trail[len(trail) // 2]
    session.execute(update(AuditEvent).where(AuditEvent.id == target.id).values(action="deleted"))
    session.commit()
    verdict = service.verify(session)
    assert (
        not verdict.ok
        and verdict.first_bad_seq == target.seq
        and "content was changed" in (verdict.problem or "")
    )


def test_a_deleted_event_is_named(trail: list[AuditEvent], session: Session) -> None:
    target = trail[3]
    session.execute(delete(AuditEvent).where(AuditEvent.id == target.id))
    session.commit()
    verdict = service.verify(session)
    assert not verdict.ok and verdict.first_bad_seq == target.seq and "removed" in (verdict.problem or "")


def test_swapped_events_are_named(trail: list[AuditEvent], session: Session) -> None:
    (first_id, first_seq), (second_id, second_seq) = (trail[2].id, trail[2].seq), (trail[3].id, trail[3].seq)
    session.execute(update(AuditEvent).where(AuditEvent.id == first_id).values(seq=-1))
    session.execute(update(AuditEvent).where(AuditEvent.id == second_id).values(seq=first_seq))
    session.execute(update(AuditEvent).where(AuditEvent.id == first_id).values(seq=second_seq))
    session.commit()
    verdict = service.verify(session)
    assert not verdict.ok and verdict.first_bad_seq == first_seq


def test_the_cli_verifies_and_fails_after_a_hand_edit(
    trail: list[AuditEvent], session: Session, settings: Settings, tmp_path: Path
) -> None:
    previous = dict(os.environ)
    os.environ["FIELDVISIT_DATABASE_URL"] = settings.database_url
    # The CLI checkpoints the chain's head in the state folder: this test's own, not the checkout's ./var.
    os.environ["FIELDVISIT_STATE_DIR"] = str(tmp_path)
    get_settings.cache_clear()
    try:
        ok = CliRunner().invoke(main, ["audit", "verify"])
        assert ok.exit_code == 0 and "intact" in ok.output
        session.execute(
            update(AuditEvent).where(AuditEvent.id == trail[1].id).values(entity_id="someone-else")
        )
        session.commit()
        broken = CliRunner().invoke(main, ["audit", "verify"])
        assert broken.exit_code == 1 and f"#{trail[1].seq}" in broken.output
    finally:
        os.environ.clear()
        os.environ.update(previous)
        get_settings.cache_clear()


def test_reviewers_read_their_branchs_events_only(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    client.post(f"/api/v1/visits/{bank.one.visit.id}/start", headers=login(client, bank.one.manager))
    params = {"entity_type": "visit", "entity_id": str(bank.one.visit.id)}
    events = client.get("/api/v1/audit", params=params, headers=login(client, bank.one.reviewer)).json()[
        "items"
    ]
    assert [e["action"] for e in events][-1] == "updated"
    assert events[-1]["after"]["status"] == "in_progress"
    assert (
        client.get("/api/v1/audit", params=params, headers=login(client, bank.two.reviewer)).status_code
        == 404
    )
    assert (
        client.get("/api/v1/audit", params=params, headers=login(client, bank.one.manager)).status_code == 403
    )
