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
from tests.factories import login, make_bank
from tests.sync.helpers import capture_photos, put_photo

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
