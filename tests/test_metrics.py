"""/metrics: off without a token, refused with a wrong one; with it, requests by route template (not by
raw path), bytes received, and the background work waiting as the database holds it."""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlmodel import col

from api.config import Settings
from api.db import utcnow
from api.main import create_app
from api.photos.models import Photo, PhotoState
from api.sync.models import Submission
from tests.factories import login, make_bank
from tests.sync.helpers import capture_photos, put_photo, submission_body

TOKEN = "metrics-" + "x" * 32


def test_metrics_are_off_without_a_token_and_refused_with_a_wrong_one(client: TestClient) -> None:
    off = client.get("/metrics")
    assert off.status_code == 404 and off.json()["code"] == "metrics_off"


def test_metrics_count_requests_bytes_and_waiting_work(settings: Settings, session: Session) -> None:
    app = create_app(settings.model_copy(update={"metrics_token": TOKEN}))
    try:
        with TestClient(app) as client:
            wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 403 and wrong.json()["code"] == "metrics_forbidden"
            bank = make_bank(session)
            headers = login(client, bank.one.manager)
            photos = capture_photos(seed=81)
            for photo in photos:
                assert put_photo(client, headers, bank.one.visit.id, photo).status_code == 201
            # One photo whose derivatives were never made (its worker died two minutes ago).
            with app.state.sessionmaker() as db, db.begin():
                db.execute(
                    update(Photo)
                    .where(col(Photo.id) == uuid.UUID(photos[0].id))
                    .values(state=PhotoState.received, received_at=utcnow() - dt.timedelta(seconds=120))
                )
            client.get(f"/api/v1/visits/{bank.one.visit.id}", headers=headers)
            client.get(f"/api/v1/visits/{uuid.uuid4()}", headers=headers)
            text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    finally:
        app.state.engine.dispose()
    assert (
        'fieldvisit_http_request_seconds_count{method="GET",route="/api/v1/visits/{visit_id}",status="200"} 1.0'
        in text
    )
    assert 'route="/api/v1/visits/{visit_id}",status="404"} 1.0' in text
    assert str(bank.one.visit.id) not in text  # a series per route, never per id
    uploaded = next(
        line for line in text.splitlines()
        if line.startswith('fieldvisit_http_received_bytes_total{method="PUT",route="/api/v1/photos/{photo_id}"}')
    )  # fmt: skip
    assert float(uploaded.split()[-1]) > 3 * 10_000
    assert 'fieldvisit_jobs_waiting{kind="photo_derivatives"} 1.0' in text
    assert 'fieldvisit_jobs_waiting{kind="webhook_deliveries"} 0.0' in text
    assert 'fieldvisit_jobs_waiting{kind="export_jobs"} 0.0' in text
    assert "fieldvisit_oldest_pending_webhook_seconds 0.0" in text
    oldest = next(
        line for line in text.splitlines() if line.startswith("fieldvisit_oldest_unprocessed_photo_seconds ")
    )
    assert 120 <= float(oldest.split()[-1]) < 180
    numbering = next(line for line in text.splitlines() if 'kind="change_feed_numbering"' in line)
    assert float(numbering.split()[-1]) > 0  # no tick ran: the uploads' changes wait for their numbers
    assert "fieldvisit_db_connections_in_use" in text


def test_metrics_give_the_job_latency_and_the_sync_lag_of_the_last_minutes(
    settings: Settings, session: Session
) -> None:
    app = create_app(settings.model_copy(update={"metrics_token": TOKEN}))
    now = utcnow()
    try:
        with TestClient(app) as client:
            bank = make_bank(session)
            headers = login(client, bank.one.manager)
            photos = capture_photos(seed=82)
            for photo in photos:
                assert put_photo(client, headers, bank.one.visit.id, photo).status_code == 201
            finished_on_phone = now - dt.timedelta(seconds=90)
            body = submission_body(photos, device_finished_at=finished_on_phone.isoformat())
            answer = client.put(
                f"/api/v1/visits/{bank.one.visit.id}/submissions/{uuid.uuid4()}", json=body, headers=headers
            )
            assert answer.status_code == 201 and answer.json()["state"] == "complete"
            submission_id = uuid.UUID(answer.json()["id"])
            # The first three made 2, 4 and 30 s after their arrival; the last one ten minutes ago (outside
            # the window), in 999 s.
            extra = capture_photos(seed=83)[0]
            assert put_photo(client, headers, bank.one.visit.id, extra).status_code == 201
            ago = now - dt.timedelta(minutes=10)
            with app.state.sessionmaker() as db, db.begin():
                for photo, took in zip(photos, (2, 4, 30), strict=True):
                    db.execute(
                        update(Photo)
                        .where(col(Photo.id) == uuid.UUID(photo.id))
                        .values(received_at=now - dt.timedelta(seconds=took), processed_at=now)
                    )
                db.execute(
                    update(Photo)
                    .where(col(Photo.id) == uuid.UUID(extra.id))
                    .values(received_at=ago - dt.timedelta(seconds=999), processed_at=ago)
                )
                db.execute(
                    update(Submission)
                    .where(col(Submission.id) == submission_id)
                    .values(completed_at=now - dt.timedelta(seconds=30))
                )
            text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    finally:
        app.state.engine.dispose()
    assert 'fieldvisit_job_latency_seconds{kind="photo_derivatives",stat="median"} 4.0' in text
    assert 'fieldvisit_job_latency_seconds{kind="photo_derivatives",stat="max"} 30.0' in text
    assert 'fieldvisit_job_latency_seconds{kind="export_jobs",stat="max"} 0.0' in text
    assert 'fieldvisit_job_latency_seconds{kind="webhook_deliveries",stat="median"} 0.0' in text
    # Finished on the phone 90 s ago, whole on the server 30 s ago.
    assert 'fieldvisit_sync_lag_seconds{stat="median"} 60.0' in text
    assert 'fieldvisit_sync_lag_seconds{stat="max"} 60.0' in text
