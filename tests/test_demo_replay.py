"""Issue 4's acceptance story on the demo bank, replayed through the API."""

from __future__ import annotations

import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api import demo
from api.audit import service as audit
from api.audit.models import AuditEvent
from api.config import Settings
from api.kit.geo import to_wgs84
from api.portfolio.models import Collateral
from tests.sync.helpers import CapturedPhoto, capture_photos, put_photo, submission_body

pytestmark = pytest.mark.calendar


def _login(client: TestClient, username: str) -> dict[str, str]:
    token = client.post(
        "/api/v1/auth/token", data={"username": username, "password": "fieldvisit-demo"}
    ).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def _submit(
    client: TestClient,
    headers: dict[str, str],
    visit_id: str,
    lat: float,
    lon: float,
    photos: list[CapturedPhoto],
) -> None:
    body = submission_body(
        photos, check_in={"lat": lat, "lon": lon, "accuracy_m": 9, "fixed_at": "2026-11-29T10:00:00+08:00"}
    )
    assert (
        client.put(
            f"/api/v1/visits/{visit_id}/submissions/{uuid.uuid4()}", json=body, headers=headers
        ).status_code
        == 201
    )
    for photo in photos:
        assert put_photo(client, headers, visit_id, photo).status_code in (200, 201)


def test_the_demo_story(app: FastAPI, client: TestClient, session: Session, settings: Settings) -> None:
    demo.load(session, settings=settings)
    session.commit()
    manager = _login(client, "manager1")
    visits = client.get("/api/v1/visits", params={"status": "scheduled"}, headers=manager).json()["items"]
    food = next(v for v in visits if v["borrower_name"] == "上海东岳食品贸易有限公司")
    # The plant's buildings, whose site was copied from a Chinese web map (GCJ-02).
    plant = next(
        v
        for v in visits
        if v["borrower_name"] == "上海华锦精密机械有限公司"
        and (found := session.get(Collateral, uuid.UUID(v["subject_id"]))) is not None
        and found.site_datum == "GCJ02"
    )
    site = session.get(Collateral, uuid.UUID(plant["subject_id"]))
    assert site is not None
    lat, lon = to_wgs84(site.site_lat, site.site_lon, "GCJ02")

    # Another borrower's visit, photographed properly; its overview photo will be reused.
    food_site = session.get(Collateral, uuid.UUID(food["subject_id"]))
    assert food_site is not None
    food_lat, food_lon = to_wgs84(food_site.site_lat, food_site.site_lon, food_site.site_datum.value)
    food_photos = capture_photos(seed=31, gps=(food_lat, food_lon))
    _submit(client, manager, food["id"], food_lat, food_lon, food_photos)

    # 1. A check-in 2 km from the declared site, with a photo reused from the other borrower's visit.
    photos = capture_photos(seed=32, gps=(lat, lon))
    photos[0] = CapturedPhoto(str(uuid.uuid4()), "photo_overview", food_photos[0].data)
    _submit(client, manager, plant["id"], lat + 0.018, lon, photos)
    tasks = client.get("/api/v1/tasks", params={"subject_id": plant["subject_id"]}, headers=manager).json()[
        "items"
    ]
    by_rule = {t["rule_key"]: t for t in tasks}
    assert by_rule["site_distance"]["severity"] == "major"
    assert "公里" in by_rule["site_distance"]["title_zh"]
    assert by_rule["photo_reuse"]["severity"] == "critical"
    assert (
        food["id"] in by_rule["photo_reuse"]["title_en"]
        and "上海东岳食品贸易有限公司" in by_rule["photo_reuse"]["title_zh"]
    )

    # 2. The reviewer returns the visit; the manager sees why.
    reviewer = _login(client, "reviewer1")
    url = f"/api/v1/visits/{plant['id']}/review"
    assert (
        client.post(
            url,
            json={"decision": "return", "comment": "签到位置偏离厂区，照片疑似重复，请重新检查"},
            headers=reviewer,
        ).status_code
        == 200
    )
    package = client.get("/api/v1/me/work-package", headers=manager).json()
    assert next(v for v in package["visits"] if v["visit"]["id"] == plant["id"])["review_comment"].startswith(
        "签到位置偏离"
    )

    # 3. The manager goes back, checks in at the plant with fresh photos; the reviewer approves.
    _submit(client, manager, plant["id"], lat + 0.0002, lon, capture_photos(seed=33, gps=(lat, lon)))
    assert (
        client.post(url, json={"decision": "approve", "comment": "复查无误"}, headers=reviewer).status_code
        == 200
    )
    after = {
        t["rule_key"]: t
        for t in client.get(
            "/api/v1/tasks", params={"subject_id": plant["subject_id"]}, headers=reviewer
        ).json()["items"]
    }
    assert after["site_distance"]["state"] == "resolved"
    assert after["photo_reuse"]["state"] == "resolved"
    assert after["site_distance"]["resolved_by_visit_id"] == plant["id"]

    # 4. The audit trail verifies, until one row is edited by hand.
    audit.seal(app.state.engine)
    session.rollback()
    assert audit.verify(session).ok
    victim = session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "visit_review")).first()
    assert victim is not None
    session.execute(
        update(AuditEvent)
        .where(AuditEvent.id == victim.id)
        .values(content=victim.content.replace(victim.content[-40:], victim.content[-40:].replace('"', "'")))
    )
    session.commit()
    verdict = audit.verify(session)
    assert not verdict.ok and verdict.first_bad_seq == victim.seq


def test_the_demo_bank_has_an_open_case_and_a_contact(
    client: TestClient, session: Session, settings: Settings
) -> None:
    """Issue 14: two years of figures, signals, one open case (a restructuring waiting for review) and the
    meeting that led to it, seen by the branch's risk officer and not by the other branch."""
    demo.load(session, settings=settings)
    session.commit()
    risk = _login(client, "risk2")
    [case] = client.get("/api/v1/cases", params={"open": "true"}, headers=risk).json()
    assert (case["kind"], case["state"], case["origin_type"]) == ("restructuring", "submitted", "signal")
    assert "take" in case["can"]
    page = client.get(
        f"/api/v1/borrowers/{case['borrower_id']}/overview", headers=_login(client, "manager2")
    ).json()
    assert len({f["period"] for f in page["figures"]}) == 8 and len(page["signals"]) >= 2
    [contact] = page["contacts"]
    assert contact["commitments"][0]["task_id"] in {t["id"] for t in page["tasks"]}
    assert client.get("/api/v1/cases", headers=_login(client, "reviewer1")).json() == []
    # The field app's package carries the meeting to the borrower's next visit.
    package = client.get("/api/v1/me/work-package", headers=_login(client, "manager2")).json()
    carried = [v for v in package["visits"] if v["visit"]["borrower"]["id"] == case["borrower_id"]]
    assert carried and all(v["contacts"][0]["id"] == contact["id"] for v in carried)
