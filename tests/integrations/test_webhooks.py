"""Webhooks: every state change a subscriber wants is written with the change (a transactional outbox),
signed per Standard Webhooks, sent in order per visit, retried until delivered — through a receiver killed
and started again — and refused for destinations inside the bank's network unless allow-listed."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from sqlmodel import col, select

from api.config import Settings
from api.db import make_sessionmaker
from api.integrations import webhooks
from api.integrations.models import EventType, Scope, WebhookEvent
from api.photos import jobs as photo_jobs
from api.visits.models import Visit, VisitStatus
from tests.factories import login, make_bank, make_service_account, make_visit, service_login
from tests.integrations import receiver as receivers
from tests.live import free_port
from tests.sync.helpers import capture_photos, submit_with_photos

HOOKS = "/api/v1/webhooks"
EVERY_EVENT = [kind.value for kind in EventType]
FAR = {"lat": 31.30, "lon": 121.60, "accuracy_m": 10, "fixed_at": "2026-11-29T10:00:00+08:00"}


def _start_receiver(port: int, secret: str, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integrations.receiver", str(port), secret, str(log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("the receiver did not start")


@contextmanager
def _receiver_thread(port: int, secret: str, log: Path) -> Iterator[None]:
    """In this process, so that it verifies timestamps on the same (frozen) clock that signs them."""
    server = receivers.serve(port, secret, log)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def _events(session: Session, **where: Any) -> list[WebhookEvent]:
    """What is committed, read on a session of its own: nothing this test's session still holds gets
    written by reading."""
    query = (
        select(WebhookEvent).filter_by(**where).order_by(col(WebhookEvent.created_at), col(WebhookEvent.id))
    )
    with Session(session.get_bind()) as reader:
        return list(reader.scalars(query))


@pytest.mark.real_clock  # the receiver is another process and checks the timestamp on the machine's clock
def test_every_change_reaches_the_subscriber_signed_in_order_through_a_killed_receiver(
    app: FastAPI, client: TestClient, session: Session, settings: Settings, tmp_path: Path
) -> None:
    bank = make_bank(session)
    _system, key = make_service_account(session, admin=bank.one.admin, branches=[bank.one.branch])
    system = service_login(client, key)
    port, log = free_port(), tmp_path / "received.jsonl"
    created = client.post(
        HOOKS, json={"url": f"http://127.0.0.1:{port}/hook", "event_types": EVERY_EVENT}, headers=system
    )
    assert created.status_code == 201, created.text
    receiver = _start_receiver(port, created.json()["secret"], log)
    fast = settings.model_copy(update={"webhook_retry_seconds": [1] * 60})
    make_session = app.state.sessionmaker
    try:
        for world in (bank.one, bank.two):  # branch two's changes are not this system's to hear of
            manager = login(client, world.manager)
            # Far from the site: a finding and its task.
            submit_with_photos(client, manager, world.visit.id, capture_photos(seed=7), check_in=FAR)
        photo_jobs.process_pending(make_session, settings)
        webhooks.run(make_session, fast)
        kinds = {record["type"] for record in receivers.read_log(log)}
        assert {
            "visit.scheduled",
            "visit.submitted",
            "discrepancy.created",
            "task.opened",
            "photo.processed",
        } <= kinds

        receiver.kill()  # SIGKILL: the destination is simply gone
        receiver.wait()
        reviewer = login(client, bank.one.reviewer)
        decided = client.post(
            f"/api/v1/visits/{bank.one.visit.id}/review", json={"decision": "approve"}, headers=reviewer
        )
        assert decided.status_code == 200, decided.text
        webhooks.run(make_session, fast)
        waiting = client.get(
            f"{HOOKS}/{created.json()['id']}/deliveries?state=pending", headers=system
        ).json()
        refused = [d for d in waiting if d["attempts"] >= 1]  # the rest wait their turn
        assert len(refused) == 1 and "Connection refused" in refused[0]["last_error"]

        receiver = _start_receiver(port, created.json()["secret"], log)
        expected = _events(session, branch_id=bank.one.branch.id)
        deadline = time.monotonic() + 60
        while {r["id"] for r in receivers.read_log(log)} != {str(e.id) for e in expected}:
            got = {r["id"] for r in receivers.read_log(log)}
            assert time.monotonic() < deadline, [(e.event_type, str(e.id) in got) for e in expected]
            time.sleep(0.3)
            webhooks.run(make_session, fast)
    finally:
        receiver.kill()
        receiver.wait()

    received = receivers.read_log(log)
    assert "visit.approved" in {r["type"] for r in received}
    assert len(received) == len({r["id"] for r in received})  # each webhook-id once (no lost answers here)
    assert not {r["id"] for r in received} & {
        str(e.id) for e in _events(session, branch_id=bank.two.branch.id)
    }
    # In order per visit: the order the changes were made in.
    visit_one = [str(e.id) for e in expected if e.visit_id == bank.one.visit.id]
    assert [r["id"] for r in received if r["id"] in set(visit_one)] == visit_one
    approved = next(r for r in received if r["type"] == "visit.approved")
    assert approved["data"]["status"] == "approved"
    assert approved["data"]["links"]["self"] == f"/api/v1/visits/{bank.one.visit.id}"
    assert approved["data"]["borrower_name"] == bank.one.borrower.name  # the resource as the API shows it


def test_a_committed_change_has_its_event_and_a_rolled_back_one_none(session: Session) -> None:
    bank = make_bank(session)
    scheduled = _events(session, entity_id=bank.one.visit.id)
    assert [e.event_type for e in scheduled] == ["visit.scheduled"]
    bank.one.visit.status = VisitStatus.cancelled
    session.flush()
    session.rollback()
    assert [e.event_type for e in _events(session, entity_id=bank.one.visit.id)] == ["visit.scheduled"]
    bank.one.visit.status = VisitStatus.cancelled
    session.commit()
    events = _events(session, entity_id=bank.one.visit.id)
    assert [e.event_type for e in events] == ["visit.scheduled", "visit.cancelled"]
    assert events[1].payload["data"]["status"] == "cancelled" and events[1].branch_id == bank.one.branch.id


def test_destinations_inside_the_network_are_refused_and_only_admins_or_systems_manage(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    admin = login(client, bank.one.admin)
    for url in (
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest",
        "http://[::1]:8080/",
        "http://192.168.0.1/",
    ):
        answer = client.post(HOOKS, json={"url": url, "event_types": ["visit.approved"]}, headers=admin)
        assert answer.status_code == 422 and answer.json()["code"] == "unsafe_destination", (url, answer.text)
    assert (
        client.post(
            HOOKS, json={"url": "ftp://127.0.0.1/", "event_types": ["visit.approved"]}, headers=admin
        ).status_code
        == 422
    )
    assert (
        client.post(
            HOOKS, json={"url": "http://127.0.0.1:9/", "event_types": ["nope"]}, headers=admin
        ).status_code
        == 422
    )
    assert client.get(HOOKS, headers=admin).json() == []
    body = {"url": "http://127.0.0.1:9/hook", "event_types": ["visit.approved"]}
    for person in (bank.one.manager, bank.one.reviewer):
        assert client.post(HOOKS, json=body, headers=login(client, person)).status_code == 403
    _reader, key = make_service_account(
        session, admin=bank.one.admin, branches=None, scopes=[Scope.visits_read]
    )
    assert client.post(HOOKS, json=body, headers=service_login(client, key)).status_code == 403
    _manager, key = make_service_account(session, admin=bank.one.admin, branches=None)
    mine = client.post(HOOKS, json=body, headers=service_login(client, key))
    assert mine.status_code == 201
    other_system = make_service_account(session, admin=bank.one.admin, branches=None)[1]
    theirs = service_login(client, other_system)
    assert client.get(f"{HOOKS}/{mine.json()['id']}", headers=theirs).status_code == 404  # not its own
    assert client.get(f"{HOOKS}/{mine.json()['id']}", headers=admin).status_code == 200


def test_failures_are_retried_on_schedule_then_disable_and_a_replay_delivers(
    app: FastAPI, client: TestClient, session: Session, settings: Settings, tmp_path: Path
) -> None:
    bank = make_bank(session)
    admin = login(client, bank.one.admin)
    port, log = free_port(), tmp_path / "received.jsonl"
    created = client.post(
        HOOKS, json={"url": f"http://127.0.0.1:{port}/", "event_types": ["visit.cancelled"]}, headers=admin
    ).json()
    hook = f"{HOOKS}/{created['id']}"
    schedule = settings.model_copy(update={"webhook_retry_seconds": [60, 120]})
    make_session = app.state.sessionmaker
    cancel = {"reason": "借款已结清"}
    assert (
        client.post(f"/api/v1/visits/{bank.one.visit.id}/cancel", json=cancel, headers=admin).status_code
        == 200
    )
    start = dt.datetime.now(dt.UTC)
    assert webhooks.run(make_session, schedule) == (1, 1)  # nobody listens: refused
    assert webhooks.run(make_session, schedule) == (0, 0)  # not again before its time
    for offset in (61, 61 + 121):
        with time_machine.travel(start + dt.timedelta(seconds=offset), tick=False):
            assert webhooks.run(make_session, schedule)[1] == 1
    log_rows = client.get(f"{hook}/deliveries", headers=admin).json()
    assert [(d["state"], d["attempts"]) for d in log_rows] == [("failed", 3)]
    subscription = client.get(hook, headers=admin).json()
    assert subscription["is_active"] is False and "failed 3 times" in subscription["disabled_reason"]
    attempts = client.get(f"{hook}/deliveries/{log_rows[0]['id']}/attempts", headers=admin).json()
    assert [(a["status"], "Connection refused" in a["error"]) for a in attempts] == [(None, True)] * 3

    # While it is disabled another visit is cancelled; nothing is sent to it.
    assert (
        client.post(f"/api/v1/visits/{bank.two.visit.id}/cancel", json=cancel, headers=admin).status_code
        == 200
    )
    assert webhooks.run(make_session, schedule) == (0, 0)
    with _receiver_thread(port, created["secret"], log):
        assert client.patch(hook, json={"is_active": True}, headers=admin).json()["is_active"] is True
        replayed = client.post(f"{hook}/deliveries/{log_rows[0]['id']}/replay", headers=admin)
        assert replayed.status_code == 200 and replayed.json()["state"] == "pending"
        webhooks.run(make_session, schedule)
        assert [r["data"]["id"] for r in receivers.read_log(log)] == [str(bank.one.visit.id)]
        attempts = client.get(f"{hook}/deliveries/{log_rows[0]['id']}/attempts", headers=admin).json()
        # The whole story (the test's clock went forward for the retries, so not in this order).
        assert sorted(a["status"] or 0 for a in attempts) == [0, 0, 0, 204]
        window = {
            "since": (start - dt.timedelta(minutes=1)).isoformat(),
            "until": (start + dt.timedelta(hours=1)).isoformat(),
        }
        assert client.post(f"{hook}/replay", json=window, headers=admin).json() == {"replayed": 2}
        webhooks.run(make_session, schedule)
        received = receivers.read_log(log)
        # (Two visits: sent side by side, so in either order; the order holds per visit.)
        assert sorted(r["data"]["id"] for r in received) == sorted(
            [str(bank.one.visit.id)] * 2 + [str(bank.two.visit.id)]
        )
        again = [r["id"] for r in received if r["data"]["id"] == str(bank.one.visit.id)]
        assert again[0] == again[1]  # a replay keeps its webhook-id: the receiver drops it

        # A rotated secret: for the overlap, deliveries carry both signatures, so the old receiver still
        # verifies; the ping says so at once.
        rotated = client.post(f"{hook}/rotate-secret", json={"overlap_hours": 1}, headers=admin)
        assert rotated.status_code == 200 and rotated.json()["secret"] != created["secret"]
        ping = client.post(f"{hook}/ping", headers=admin).json()
        assert ping["ok"] is True and ping["status"] == 204, ping
        assert receivers.read_log(log)[-1]["signatures"] == 2
    assert client.post(f"{hook}/ping", headers=admin).json()["ok"] is False  # the receiver is gone


def test_a_change_a_savepoint_took_back_has_no_event(session: Session) -> None:
    """As when two requests open the same task at once: the loser's insert is rolled back to a savepoint
    (tasks.service) and the transaction goes on and commits."""
    bank = make_bank(session)
    savepoint = session.begin_nested()
    bank.one.visit.status = VisitStatus.cancelled
    lost = make_visit(session, collateral=bank.one.collateral, version=bank.version)
    session.flush()
    savepoint.rollback()
    session.commit()
    assert [e.event_type for e in _events(session, entity_id=bank.one.visit.id)] == ["visit.scheduled"]
    assert _events(session, entity_id=lost.id) == []


def test_a_savepoint_rolled_back_keeps_the_events_of_what_came_before_it(session: Session) -> None:
    bank = make_bank(session)
    bank.one.visit.status = VisitStatus.cancelled
    session.flush()
    savepoint = session.begin_nested()
    make_visit(session, collateral=bank.one.collateral, version=bank.version)
    savepoint.rollback()
    session.commit()
    assert [e.event_type for e in _events(session, entity_id=bank.one.visit.id)] == [
        "visit.scheduled",
        "visit.cancelled",
    ]


def test_links_are_absolute_once_the_public_address_is_set(
    app: FastAPI, session: Session, settings: Settings
) -> None:
    bank = make_bank(session)
    public = settings.model_copy(update={"public_url": "https://fieldvisit.bank.example/"})
    with make_sessionmaker(app.state.engine, settings=public)() as other:
        visit = other.get_one(Visit, bank.one.visit.id)
        visit.status = VisitStatus.cancelled
        other.commit()
    cancelled = _events(session, entity_id=bank.one.visit.id, event_type="visit.cancelled")
    assert cancelled[0].payload["data"]["links"]["self"] == (
        f"https://fieldvisit.bank.example/api/v1/visits/{bank.one.visit.id}"
    )


class _Slow(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        time.sleep(2)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


def test_a_slow_destination_does_not_hold_up_the_others(
    app: FastAPI, client: TestClient, session: Session, settings: Settings, tmp_path: Path
) -> None:
    """Three visits cancelled: a destination that takes two seconds to answer each, and another that answers
    at once, are sent to side by side."""
    bank = make_bank(session)
    visits = [
        bank.one.visit,
        *(make_visit(session, collateral=bank.one.collateral, version=bank.version) for _ in range(2)),
    ]
    session.commit()
    admin = login(client, bank.one.admin)
    slow_port, fast_port, log = free_port(), free_port(), tmp_path / "fast.jsonl"
    body = {"event_types": ["visit.cancelled"]}
    assert (
        client.post(HOOKS, json={**body, "url": f"http://127.0.0.1:{slow_port}/"}, headers=admin).status_code
        == 201
    )
    fast = client.post(HOOKS, json={**body, "url": f"http://127.0.0.1:{fast_port}/"}, headers=admin).json()
    for visit in visits:
        answer = client.post(f"/api/v1/visits/{visit.id}/cancel", json={"reason": "已结清"}, headers=admin)
        assert answer.status_code == 200
    slow_server = ThreadingHTTPServer(("127.0.0.1", slow_port), _Slow)
    threading.Thread(target=slow_server.serve_forever, daemon=True).start()
    try:
        with _receiver_thread(fast_port, fast["secret"], log):
            started = time.monotonic()
            made, sent = webhooks.run(app.state.sessionmaker, settings)
            took = time.monotonic() - started
    finally:
        slow_server.shutdown()
        slow_server.server_close()
    assert (made, sent) == (6, 6)
    assert len(receivers.read_log(log)) == 3
    assert took < 4, took  # one after another it would be 6 s and more


def test_a_destination_whose_name_does_not_resolve_is_refused_as_such(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    body = {"url": "https://no-such-host.invalid/hook", "event_types": ["visit.approved"]}
    answer = client.post(HOOKS, json=body, headers=login(client, bank.one.admin))
    assert answer.status_code == 422 and answer.json()["code"] == "destination_unresolvable"
