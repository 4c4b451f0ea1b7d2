"""Derivatives made once whoever asks: a photo another process is working on is left to it, and one whose
process died is taken up again by the next poll — within seconds on PostgreSQL (the dead process's row
lock went with its connection), after the stale-claim time on SQLite (a committed claim)."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, update
from sqlalchemy.orm import Session
from sqlmodel import col, select

from api.config import Settings
from api.db import utcnow
from api.photos import jobs
from api.photos.models import Photo, PhotoState
from api.ticks import quick_round
from tests.factories import login, make_bank
from tests.live import server_env
from tests.photos.images import jpeg
from tests.sync.helpers import CapturedPhoto, put_photo


def _unprocessed_photos(app: FastAPI, client: TestClient, session: Session, count: int) -> list[uuid.UUID]:
    """Kept photos put back as they are between their acknowledgement and their derivatives."""
    bank = make_bank(session)
    manager = login(client, bank.one.manager)
    ids = []
    for n in range(count):
        photo = CapturedPhoto(str(uuid.uuid4()), "photo_overview", jpeg(seed=31 + n))
        assert put_photo(client, manager, bank.one.visit.id, photo).status_code == 201
        ids.append(uuid.UUID(photo.id))
    with app.state.engine.begin() as conn:
        conn.execute(
            update(Photo)
            .where(col(Photo.id).in_(ids))
            .values(state=PhotoState.received, thumbnail_sha256=None, processed_at=None)
        )
    return ids


def _unprocessed_photo(app: FastAPI, client: TestClient, session: Session) -> uuid.UUID:
    return _unprocessed_photos(app, client, session, 1)[0]


def _state(session: Session, photo_id: uuid.UUID) -> PhotoState:
    session.rollback()
    photo = session.get(Photo, photo_id, populate_existing=True)
    assert photo is not None
    return photo.state


def test_a_photo_another_process_holds_is_left_to_it_and_taken_up_when_that_process_dies(
    app: FastAPI, client: TestClient, session: Session, settings: Settings, db_kind: str
) -> None:
    photo_id = _unprocessed_photo(app, client, session)
    make_session = app.state.sessionmaker
    if db_kind == "postgresql":
        # Another process in the middle of making the derivatives: it holds the row, uncommitted.
        holder = app.state.engine.connect()
        holder.begin()
        held = holder.execute(
            select(Photo.id).where(col(Photo.id) == photo_id).with_for_update(key_share=True)
        ).scalar_one()
        assert held == photo_id
        try:
            assert jobs.process_batch(make_session, settings, [photo_id]) == 0
            assert quick_round(make_session, settings)[0] == 0
            assert _state(session, photo_id) == PhotoState.received
        finally:
            holder.close()  # the process dies: PostgreSQL ends its transaction with its connection
        assert quick_round(make_session, settings)[0] == 1
    else:
        with app.state.engine.begin() as conn:  # a claim committed a minute ago by a process since gone
            conn.execute(
                update(Photo)
                .where(col(Photo.id) == photo_id)
                .values(state=PhotoState.processing, claimed_at=utcnow() - dt.timedelta(minutes=1))
            )
        assert jobs.process_batch(make_session, settings, [photo_id]) == 0
        assert quick_round(make_session, settings)[0] == 0
        with time_machine.travel(utcnow() + jobs.STALE_CLAIM, tick=True):
            assert quick_round(make_session, settings)[0] == 1
    assert _state(session, photo_id) == PhotoState.processed
    # Done once: asking again does nothing.
    assert jobs.process_batch(make_session, settings, [photo_id]) == 0


def test_a_photo_left_without_derivatives_is_made_by_the_poll_not_the_next_tick(
    app: FastAPI, client: TestClient, session: Session, settings: Settings
) -> None:
    photo_id = _unprocessed_photo(app, client, session)
    processed, _sent, _exported = quick_round(app.state.sessionmaker, settings)
    assert processed == 1
    assert _state(session, photo_id) == PhotoState.processed
    session.rollback()
    photo = session.get(Photo, photo_id)
    assert photo is not None and photo.thumbnail_sha256 is not None and photo.phash is not None


@pytest.mark.real_clock
def test_a_worker_process_makes_what_is_waiting_and_stops_cleanly_on_sigterm(
    app: FastAPI, client: TestClient, session: Session, settings: Settings, tmp_path: Path
) -> None:
    photo_id = _unprocessed_photo(app, client, session)
    env = server_env(settings, FIELDVISIT_JOB_POLL_SECONDS="0.3", FIELDVISIT_LOG_FORMAT="text")
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "worker"], env=env, stdout=subprocess.DEVNULL, stderr=log
        )
        try:
            deadline = time.monotonic() + 30
            while _state(session, photo_id) != PhotoState.processed:
                assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
                time.sleep(0.1)
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=30) == 0
        finally:
            worker.kill()
            worker.wait()
    assert (
        "worker started: photos, webhooks and export jobs every 0.3 s"
        in (tmp_path / "worker.log").read_text()
    )


def test_a_worker_with_nothing_to_do_says_so(settings: Settings) -> None:
    env = server_env(settings)  # every background period 0
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "nothing to do" in done.stderr


def test_photos_are_made_a_batch_at_a_time_and_one_that_fails_does_not_hold_back_the_others(
    app: FastAPI, client: TestClient, session: Session, settings: Settings
) -> None:
    ids = _unprocessed_photos(app, client, session, 6)
    session.rollback()
    broken = session.get_one(Photo, ids[2])
    # Its original lost from the disk: the photo is kept as evidence, marked failed, with the reason.
    (settings.photo_dir / "originals" / broken.sha256[:2] / broken.sha256).unlink()
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(app.state.engine, "before_cursor_execute", count)
    try:
        assert jobs.process_pending(app.state.sessionmaker, settings) == 5
    finally:
        event.remove(app.state.engine, "before_cursor_execute", count)
    states = {photo_id: _state(session, photo_id) for photo_id in ids}
    assert states.pop(ids[2]) == PhotoState.failed
    assert set(states.values()) == {PhotoState.processed}
    assert "No such file" in (session.get_one(Photo, ids[2]).processing_error or "")
    # One batch: each table written once for the six (a photo at a time took about forty statements).
    assert len(statements) <= 12, statements


def test_photos_acknowledged_while_a_round_runs_are_made_together_in_its_next_batch(
    app: FastAPI, client: TestClient, session: Session, settings: Settings
) -> None:
    """Right after its answer a photo starts a round of derivatives in its process; the photos acknowledged
    while that round works wait for it and are made together, in one transaction."""
    ids = _unprocessed_photos(app, client, session, 5)
    soon = jobs.SoonAfter(app.state.sessionmaker, settings)
    holds: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith(("SELECT photo.id", "UPDATE photo")) and (
            "FOR NO KEY" in statement or "RETURNING" in statement
        ):
            holds.append(statement)

    assert soon.add(ids[0]) is True  # this one starts the round …
    assert [soon.add(photo_id) for photo_id in ids[1:]] == [False] * 4  # … these wait for it
    event.listen(app.state.engine, "before_cursor_execute", note)
    try:
        soon.run()
    finally:
        event.remove(app.state.engine, "before_cursor_execute", note)
    assert {_state(session, photo_id) for photo_id in ids} == {PhotoState.processed}
    assert len(holds) == 1  # one batch held and made the five
    assert soon.add(uuid.uuid4()) is True  # the round is over: the next photo starts another


def test_a_round_cut_by_an_outage_leaves_its_photos_to_the_poll_and_the_next_photo_starts_anew(
    app: FastAPI, client: TestClient, session: Session, settings: Settings
) -> None:
    ids = _unprocessed_photos(app, client, session, 2)
    # The photos' storage does not answer (an S3 endpoint where nothing listens).
    gone = settings.model_copy(update={"s3_bucket": "gone", "s3_endpoint_url": "http://127.0.0.1:1"})
    soon = jobs.SoonAfter(app.state.sessionmaker, gone)
    assert soon.add(ids[0]) is True
    assert soon.add(ids[1]) is False
    soon.run()  # logged, not raised: the photos are left to the poll
    assert {_state(session, photo_id) for photo_id in ids} == {PhotoState.received}
    assert soon.add(ids[0]) is True  # the round ended: the next photo starts one
