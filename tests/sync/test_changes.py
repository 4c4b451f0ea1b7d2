"""The change feed: one server order, no gaps, no repeats — even with writers committing out of order."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

import pytest
import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.sync import changes
from api.visits.models import Visit
from tests.factories import login, make_bank, make_service_account, service_login
from tests.sync.helpers import capture_photos, put_photo, submission_body


def _follow(
    client: TestClient, headers: dict[str, str], after: int = 0, limit: int = 3
) -> tuple[list[dict[str, object]], int]:
    seen: list[dict[str, object]] = []
    while True:
        page = client.get("/api/v1/changes", params={"after": after, "limit": limit}, headers=headers).json()
        seen.extend(page["items"])
        if page["next_after"] == after:
            return seen, after
        after = page["next_after"]


def test_following_the_feed_sees_every_change_once_in_order(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    manager = login(client, bank.one.manager)
    photos = capture_photos()
    client.put(
        f"/api/v1/visits/{bank.one.visit.id}/submissions/{uuid.uuid4()}",
        json=submission_body(photos),
        headers=manager,
    )
    for photo in photos:
        put_photo(client, manager, bank.one.visit.id, photo)
    admin = login(client, bank.one.admin)
    seen, last = _follow(client, admin)
    seqs = [int(item["seq"]) for item in seen]  # type: ignore[call-overload]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    kinds = {item["entity_type"] for item in seen}
    assert kinds == {"visit", "submission", "photo"}  # photos taken now, on site: no findings, no tasks
    assert {item["entity_id"] for item in seen if item["entity_type"] == "photo"} == {p.id for p in photos}
    # Nothing new: the position stays.
    assert _follow(client, admin, after=last) == ([], last)
    client.post(f"/api/v1/visits/{bank.two.visit.id}/start", headers=login(client, bank.two.manager))
    newer, _ = _follow(client, admin, after=last)
    assert [(i["entity_type"], i["entity_id"], i["op"]) for i in newer] == [
        ("visit", str(bank.two.visit.id), "updated")
    ]


def test_the_feed_is_scoped(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    client.post(f"/api/v1/visits/{bank.one.visit.id}/start", headers=login(client, bank.one.manager))
    client.post(f"/api/v1/visits/{bank.two.visit.id}/start", headers=login(client, bank.two.manager))
    for user, visible, hidden in (
        (bank.one.manager, bank.one.visit.id, bank.two.visit.id),
        (bank.two.reviewer, bank.two.visit.id, bank.one.visit.id),
        (bank.one.other_manager, None, bank.one.visit.id),
    ):
        seen, _ = _follow(client, login(client, user))
        ids = {item["entity_id"] for item in seen}
        assert str(hidden) not in ids
        if visible:
            assert str(visible) in ids


def test_two_interleaved_writers_leave_no_hole(
    app: FastAPI, client: TestClient, session: Session, db_kind: str
) -> None:
    """Writer A takes its change first but commits last. A reader between the two commits must not be
    handed a position that A's change could still fill."""
    if db_kind != "postgresql":
        pytest.skip("SQLite has one writer at a time: two write transactions cannot interleave there")
    bank = make_bank(session)
    admin = login(client, bank.one.admin)
    _seen, start = _follow(client, admin)

    writer_a: Session = app.state.sessionmaker()
    writer_b: Session = app.state.sessionmaker()
    try:
        visit_a = writer_a.get(Visit, bank.one.visit.id)
        assert visit_a is not None
        visit_a.due_on = visit_a.due_on + dt.timedelta(days=1)
        writer_a.flush()  # A's change row exists, uncommitted

        visit_b = writer_b.get(Visit, bank.two.visit.id)
        assert visit_b is not None
        visit_b.due_on = visit_b.due_on + dt.timedelta(days=1)
        writer_b.commit()  # B commits first

        between = client.get("/api/v1/changes", params={"after": start}, headers=admin).json()
        assert [i["entity_id"] for i in between["items"]] == [str(bank.two.visit.id)]

        writer_a.commit()
    finally:
        writer_a.close()
        writer_b.close()

    after = client.get("/api/v1/changes", params={"after": between["next_after"]}, headers=admin).json()
    assert [i["entity_id"] for i in after["items"]] == [str(bank.one.visit.id)]
    assert after["items"][0]["seq"] > between["items"][0]["seq"]


def test_tombstones_tell_a_manager_a_visit_left_them_and_a_system_of_cancellations(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    before, start = _follow(client, login(client, bank.one.manager))
    assert [i["entity_id"] for i in before] == [str(bank.one.visit.id)]
    reviewer = login(client, bank.one.reviewer)
    moved = client.post(
        f"/api/v1/visits/{bank.one.visit.id}/reassign",
        json={"manager_id": str(bank.one.other_manager.id)},
        headers=reviewer,
    )
    assert moved.status_code == 200, moved.text
    gone, _ = _follow(client, login(client, bank.one.manager), after=start)
    assert [(i["entity_id"], i["op"]) for i in gone] == [(str(bank.one.visit.id), "removed")]
    arrived, _ = _follow(client, login(client, bank.one.other_manager), after=start)
    assert (str(bank.one.visit.id), "reassigned") in [(i["entity_id"], i["op"]) for i in arrived]

    _system, key = make_service_account(session, admin=bank.one.admin, branches=[bank.one.branch])
    system = service_login(client, key)
    _all, last = _follow(client, system)
    cancel = {"reason": "贷款已结清"}
    admin = login(client, bank.one.admin)
    assert (
        client.post(f"/api/v1/visits/{bank.one.visit.id}/cancel", json=cancel, headers=admin).status_code
        == 200
    )
    newer, _ = _follow(client, system, after=last)
    assert [(i["entity_id"], i["op"]) for i in newer] == [(str(bank.one.visit.id), "cancelled")]


def test_a_long_poll_answers_as_soon_as_a_change_commits(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    admin = login(client, bank.one.admin)
    _seen, last = _follow(client, admin)
    started = time.monotonic()
    empty = client.get("/api/v1/changes", params={"after": last, "wait": 1}, headers=admin).json()
    assert empty == {"items": [], "next_after": last} and time.monotonic() - started >= 0.9

    def change_later() -> None:
        time.sleep(0.5)
        with app.state.sessionmaker() as other:
            visit = other.get_one(Visit, bank.two.visit.id)
            visit.due_on += dt.timedelta(days=7)
            other.commit()

    writer = threading.Thread(target=change_later)
    started = time.monotonic()
    writer.start()
    page = client.get("/api/v1/changes", params={"after": last, "wait": 20}, headers=admin).json()
    waited = time.monotonic() - started
    writer.join()
    assert [i["entity_id"] for i in page["items"]] == [str(bank.two.visit.id)]
    assert waited < 5, waited  # within a poll of the commit, not at the end of the wait


def test_a_position_older_than_the_changes_kept_answers_410(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    admin = login(client, bank.one.admin)
    _seen, last = _follow(client, admin)
    assert last >= 2
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=31), tick=False):
        client.post(f"/api/v1/visits/{bank.two.visit.id}/start", headers=login(client, bank.two.manager))
        changes.publish(app.state.engine)
        assert changes.prune(app.state.engine, keep=dt.timedelta(days=30)) == last
        admin = login(client, bank.one.admin)  # a month on: a new sign-in
        stale = client.get("/api/v1/changes", params={"after": 0}, headers=admin)
        assert stale.status_code == 410 and stale.json()["code"] == "feed_position_expired"
        assert stale.json()["newest"] == last + 1
        fresh = client.get("/api/v1/changes", params={"after": last}, headers=admin).json()
        assert [i["entity_id"] for i in fresh["items"]] == [str(bank.two.visit.id)]
