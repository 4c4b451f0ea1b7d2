from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.visits.models import VisitStatus
from tests.factories import bank_today, login, make_bank, make_visit
from tests.sync.helpers import capture_photos, submit_with_photos

pytestmark = pytest.mark.calendar


def test_the_package_holds_open_visits_with_what_offline_work_needs(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    make_visit(session, collateral=bank.one.collateral, version=bank.version, status=VisitStatus.approved)
    returned = make_visit(
        session, collateral=bank.one.collateral, version=bank.version, status=VisitStatus.returned
    )
    session.commit()
    package = client.get("/api/v1/me/work-package", headers=login(client, bank.one.manager))
    assert package.status_code == 200
    visits = package.json()["visits"]
    assert {v["visit"]["id"] for v in visits} == {str(bank.one.visit.id), str(returned.id)}
    entry = visits[0]
    assert entry["visit"]["template_version"]["definition"]["sections"]
    assert entry["visit"]["collateral"]["declared_site"]["address"]


def test_etag_answers_304_until_something_changes(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    first = client.get("/api/v1/me/work-package", headers=headers)
    etag = first.headers["etag"]
    assert (
        client.get("/api/v1/me/work-package", headers={**headers, "If-None-Match": etag}).status_code == 304
    )
    started = client.post(f"/api/v1/visits/{bank.one.visit.id}/start", headers=headers)
    assert started.json()["status"] == "in_progress"
    changed = client.get("/api/v1/me/work-package", headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json()["visits"][0]["visit"]["status"] == "in_progress"


def test_the_package_is_for_managers(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    assert client.get("/api/v1/me/work-package", headers=login(client, bank.one.reviewer)).status_code == 403


def test_a_visit_brings_last_times_photos_so_the_manager_frames_the_same_views(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    manager = login(client, bank.one.manager)
    photos = capture_photos(seed=12)
    submit_with_photos(client, manager, bank.one.visit.id, photos)
    reviewer = login(client, bank.one.reviewer)
    decided = client.post(
        f"/api/v1/visits/{bank.one.visit.id}/review", json={"decision": "approve"}, headers=reviewer
    )
    assert decided.status_code == 200
    due = (bank_today() + dt.timedelta(days=30)).isoformat()
    issued = client.post(
        "/api/v1/visits",
        json={"subject_type": "collateral", "subject_id": str(bank.one.collateral.id), "due_on": due},
        headers=reviewer,
    )
    assert issued.status_code == 201, issued.text
    package = client.get("/api/v1/me/work-package", headers=manager).json()
    entry = next(v for v in package["visits"] if v["visit"]["id"] == issued.json()["id"])
    previous = entry["previous_visit"]
    assert previous["visit_id"] == str(bank.one.visit.id)
    assert sorted((p["item_key"], p["id"]) for p in previous["photos"]) == sorted(
        (p.item_key, p.id) for p in photos
    )
    thumbnail = client.get(previous["photos"][0]["thumbnail"], headers=manager)
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
