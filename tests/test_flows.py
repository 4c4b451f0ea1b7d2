"""The inspection's whole life through the API: findings, tasks, review, resolution."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from api import flows
from api.auth.models import Role, User
from api.config import Settings
from api.rules.models import Discrepancy
from api.tasks.models import FollowUpTask
from tests.factories import Bank, bank_today, login, make_bank, make_visit
from tests.photos.images import encode, exif_block
from tests.sync.helpers import CapturedPhoto, capture_photos, now_in_shanghai_exif, put_photo, submission_body

pytestmark = pytest.mark.calendar

FAR = {"lat": 31.2494, "lon": 121.4737, "accuracy_m": 8.0}  # 2.1 km north of the declared site
NEAR = {"lat": 31.2306, "lon": 121.4738, "accuracy_m": 8.0}


def _check_in(where: dict[str, float]) -> dict[str, Any]:
    return {**where, "fixed_at": dt.datetime.now(dt.UTC).isoformat()}


def _capture(
    client: TestClient,
    bank: Bank,
    visit_id: Any,
    *,
    where: dict[str, float],
    photos: list[CapturedPhoto] | None = None,
    manager: User | None = None,
) -> dict[str, Any]:
    headers = login(client, manager or bank.one.manager)
    photos = photos or capture_photos(seed=hash(str(visit_id)) % 1000)
    answer = client.put(
        f"/api/v1/visits/{visit_id}/submissions/{uuid.uuid4()}",
        json=submission_body(photos, check_in=_check_in(where)),
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    for photo in photos:
        assert put_photo(client, headers, visit_id, photo).status_code in (200, 201)
    result: dict[str, Any] = client.get(f"/api/v1/submissions/{answer.json()['id']}", headers=headers).json()
    return result


def _tasks(client: TestClient, user: User, **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.get(
        "/api/v1/tasks", params=params, headers=login(client, user)
    ).json()["items"]
    return items


def test_a_check_in_2km_away_opens_a_major_task(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    manager = login(client, bank.one.manager)
    photos = capture_photos(seed=3)
    answer = client.put(
        f"/api/v1/visits/{bank.one.visit.id}/submissions/{uuid.uuid4()}",
        json=submission_body(photos, check_in=_check_in(FAR)),
        headers=manager,
    ).json()
    findings = [d for d in answer["discrepancies"] if d["rule_key"] == "site_distance"]
    assert len(findings) == 1
    assert findings[0]["severity"] == "major"
    assert findings[0]["explanation_zh"] == "签到位置距申报地址 2.1 公里"
    (task,) = _tasks(client, bank.one.manager)
    assert task["rule_key"] == "site_distance" and task["severity"] == "major" and task["state"] == "open"
    assert task["assignee_id"] == str(bank.one.manager.id)
    assert dt.date.fromisoformat(task["due_on"]) - bank_today() in (
        dt.timedelta(days=10),
        dt.timedelta(days=9),
        dt.timedelta(days=11),
    )
    record = client.get(
        f"/api/v1/visits/{bank.one.visit.id}", headers=login(client, bank.one.reviewer)
    ).json()
    assert [d["rule_key"] for d in record["discrepancies"]] == ["site_distance"]
    assert record["tasks"][0]["id"] == task["id"]
    assert record["submissions"][0]["id"] == answer["id"]


def test_a_photo_reused_from_another_borrowers_visit_is_critical_and_names_it(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    original = capture_photos(seed=8)
    _capture(client, bank, bank.two.visit.id, where=NEAR, photos=original, manager=bank.two.manager)
    # Branch one's manager sends the other borrower's overview photo again, under a new UUID.
    reused = capture_photos(seed=9)
    reused[0] = CapturedPhoto(str(uuid.uuid4()), "photo_overview", original[0].data)
    _capture(client, bank, bank.one.visit.id, where=NEAR, photos=reused)
    findings = session.scalars(select(Discrepancy).where(Discrepancy.visit_id == bank.one.visit.id)).all()
    reuse = [f for f in findings if f.rule_key == "photo_reuse"]
    assert len(reuse) == 1
    assert reuse[0].severity == "critical"
    assert reuse[0].related_visit_id == bank.two.visit.id
    assert (
        str(bank.two.visit.id) in reuse[0].explanation_en
        and bank.two.borrower.name in reuse[0].explanation_zh
    )
    (task,) = [t for t in _tasks(client, bank.one.reviewer) if t["rule_key"] == "photo_reuse"]
    assert task["severity"] == "critical"
    assert str(bank.one.reviewer.id) in task["watcher_ids"]  # critical: the branch's reviewers own it too


def test_a_rotated_copy_is_caught(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    original = capture_photos(seed=12)
    _capture(client, bank, bank.two.visit.id, where=NEAR, photos=original, manager=bank.two.manager)
    turned = Image.open(io.BytesIO(original[1].data)).transpose(Image.Transpose.ROTATE_90)
    data = encode(
        turned,
        "JPEG",
        exif_block(gps=(31.2304, 121.4737), taken=now_in_shanghai_exif(), offset="+08:00"),
        quality=80,
    )
    copies = capture_photos(seed=13)
    copies[0] = CapturedPhoto(str(uuid.uuid4()), "photo_overview", data)
    _capture(client, bank, bank.one.visit.id, where=NEAR, photos=copies)
    reuse = session.scalars(
        select(Discrepancy).where(
            Discrepancy.visit_id == bank.one.visit.id, Discrepancy.rule_key == "photo_reuse"
        )
    ).all()
    assert len(reuse) == 1 and reuse[0].observed["match"] == "phash"


def test_return_resubmit_approve_resolves_the_task(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    _capture(client, bank, bank.one.visit.id, where=FAR)
    reviewer = login(client, bank.one.reviewer)
    url = f"/api/v1/visits/{bank.one.visit.id}/review"
    assert (
        client.post(url, json={"decision": "return"}, headers=reviewer).status_code == 422
    )  # a comment is required
    returned = client.post(
        url, json={"decision": "return", "comment": "签到位置不对，请到现场重新检查"}, headers=reviewer
    )
    assert returned.status_code == 200, returned.text
    package = client.get("/api/v1/me/work-package", headers=login(client, bank.one.manager)).json()
    entry = next(v for v in package["visits"] if v["visit"]["id"] == str(bank.one.visit.id))
    assert entry["visit"]["status"] == "returned"
    assert entry["review_comment"] == "签到位置不对，请到现场重新检查"

    _capture(client, bank, bank.one.visit.id, where=NEAR)
    approved = client.post(url, json={"decision": "approve", "comment": "已核实"}, headers=reviewer)
    assert approved.status_code == 200, approved.text
    (task,) = _tasks(client, bank.one.reviewer, state="resolved")
    assert task["rule_key"] == "site_distance"
    assert task["resolved_by_visit_id"] == str(bank.one.visit.id)
    record = client.get(f"/api/v1/visits/{bank.one.visit.id}", headers=reviewer).json()
    assert record["status"] == "approved"
    assert [r["decision"] for r in record["reviews"]] == ["return", "approve"]


def test_four_eyes_and_incomplete_submissions(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    photos = capture_photos(seed=21)
    headers = login(client, bank.one.manager)
    client.put(
        f"/api/v1/visits/{bank.one.visit.id}/submissions/{uuid.uuid4()}",
        json=submission_body(photos, check_in=_check_in(NEAR)),
        headers=headers,
    )
    url = f"/api/v1/visits/{bank.one.visit.id}/review"
    reviewer = login(client, bank.one.reviewer)
    incomplete = client.post(url, json={"decision": "approve"}, headers=reviewer)
    assert incomplete.status_code == 409 and incomplete.json()["code"] == "submission_incomplete"
    for photo in photos:
        put_photo(client, headers, bank.one.visit.id, photo)
    # The manager who captured it becomes a reviewer: still may not approve it.
    session.execute(update(User).where(User.id == bank.one.manager.id).values(role=Role.reviewer))
    session.commit()
    own = client.post(url, json={"decision": "approve"}, headers=login(client, bank.one.manager))
    assert own.status_code == 403 and own.json()["code"] == "four_eyes"
    other_branch = client.post(url, json={"decision": "approve"}, headers=login(client, bank.two.reviewer))
    assert other_branch.status_code == 404
    assert client.post(url, json={"decision": "approve"}, headers=reviewer).status_code == 200
    again = client.post(url, json={"decision": "approve"}, headers=reviewer)
    assert again.status_code == 409


def test_the_review_queue(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    _capture(client, bank, bank.one.visit.id, where=FAR)
    queue = client.get("/api/v1/review/queue", headers=login(client, bank.one.reviewer)).json()
    (item,) = queue["items"]
    assert item["visit"]["id"] == str(bank.one.visit.id)
    assert item["discrepancies"] == {"critical": 0, "major": 1, "minor": 0}
    assert item["submission_state"] == "complete"
    assert client.get("/api/v1/review/queue", headers=login(client, bank.two.reviewer)).json()["items"] == []
    assert client.get("/api/v1/review/queue", headers=login(client, bank.one.manager)).status_code == 403


def test_a_repeat_finding_adds_to_the_open_task(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    second = make_visit(session, collateral=bank.one.collateral, version=bank.version)
    session.commit()
    _capture(client, bank, bank.one.visit.id, where=FAR)
    _capture(client, bank, second.id, where=FAR)
    tasks = _tasks(client, bank.one.reviewer, state="open")
    assert len(tasks) == 1
    assert tasks[0]["occurrences"] == 2
    assert tasks[0]["last_seen_visit_id"] == str(second.id)


def test_the_overdue_tick_is_idempotent(session: Session, settings: Settings) -> None:
    bank = make_bank(session)
    make_visit(
        session,
        collateral=bank.two.collateral,
        version=bank.version,
        due_on=bank_today() - dt.timedelta(days=4),
    )
    session.commit()
    assert flows.tick_overdue(session, settings=settings) == 1
    session.commit()
    assert flows.tick_overdue(session, settings=settings) == 0
    session.commit()
    assert (
        session.scalar(
            select(func.count()).select_from(FollowUpTask).where(FollowUpTask.rule_key == "visit_overdue")
        )
        == 1
    )
    assert (
        session.scalar(
            select(func.count()).select_from(Discrepancy).where(Discrepancy.rule_key == "visit_overdue")
        )
        == 1
    )


def test_waiving_needs_a_reviewer_and_a_reason(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    _capture(client, bank, bank.one.visit.id, where=FAR)
    (task,) = _tasks(client, bank.one.manager)
    url = f"/api/v1/tasks/{task['id']}/actions"
    assert (
        client.post(url, json={"action": "start"}, headers=login(client, bank.one.manager)).json()["state"]
        == "in_progress"
    )
    assert (
        client.post(
            url, json={"action": "waive", "comment": "x"}, headers=login(client, bank.one.manager)
        ).status_code
        == 403
    )
    reviewer = login(client, bank.one.reviewer)
    no_reason = client.post(url, json={"action": "waive", "comment": "  "}, headers=reviewer)
    assert no_reason.status_code == 422 and no_reason.json()["code"] == "waiver_needs_reason"
    waived = client.post(
        url, json={"action": "waive", "comment": "押品已于上周解押，无需整改"}, headers=reviewer
    ).json()
    assert waived["state"] == "waived" and waived["waiver_reason"] == "押品已于上周解押，无需整改"
    assert client.post(url, json={"action": "resolve"}, headers=reviewer).status_code == 409
    commented = client.post(
        f"/api/v1/tasks/{task['id']}/comments", json={"body": "已电话确认"}, headers=reviewer
    )
    assert [c["body"] for c in commented.json()["comments"]] == ["已电话确认"]
    assert (
        client.get(f"/api/v1/tasks/{task['id']}", headers=login(client, bank.two.reviewer)).status_code == 404
    )
    assert _tasks(client, bank.one.reviewer, state="waived")[0]["id"] == task["id"]
    assert _tasks(client, bank.one.reviewer, state="open") == []


def test_a_returned_visit_comes_back_with_its_submission_and_the_items_to_change(
    client: TestClient, session: Session
) -> None:
    """The work package carries what the phone needs to open a returned visit pre-filled: the submission's
    body, its photos (already here), the items the reviewer marked first, then those the rules found."""
    bank = make_bank(session)
    photos = capture_photos(seed=61)
    first = _capture(client, bank, bank.one.visit.id, where=FAR, photos=photos)
    reviewer = login(client, bank.one.reviewer)
    url = f"/api/v1/visits/{bank.one.visit.id}/review"
    returned = client.post(
        url,
        json={"decision": "return", "comment": "数量请重新清点", "items": ["observed_quantity"]},
        headers=reviewer,
    )
    assert returned.status_code == 200, returned.text
    assert returned.json()["items"] == ["observed_quantity"]

    package = client.get("/api/v1/me/work-package", headers=login(client, bank.one.manager)).json()
    entry = next(v for v in package["visits"] if v["visit"]["id"] == str(bank.one.visit.id))
    back = entry["returned"]
    assert back["submission_id"] == first["id"]
    assert back["body"]["answers"]["observed_quantity"]["value"] == 10
    assert {p["id"] for p in back["photos"]} == {p.id for p in photos}
    assert all(p["thumbnail"] == f"/api/v1/photos/{p['id']}/thumbnail" for p in back["photos"])
    assert back["marked_items"] == ["observed_quantity", "check_in"]  # the reviewer's, then the rules'
    assert [f["rule_key"] for f in back["findings"]] == ["site_distance"]
    thumbnail = client.get(back["photos"][0]["thumbnail"], headers=login(client, bank.one.manager))
    assert thumbnail.status_code in (200, 409)  # served, or not made yet: the link is the real one

    # The phone resubmits the same photos by their ids, sending none of them again: complete at once.
    body = submission_body(photos, check_in=_check_in(NEAR))
    again = client.put(
        f"/api/v1/visits/{bank.one.visit.id}/submissions/{uuid.uuid4()}",
        json=body,
        headers=login(client, bank.one.manager),
    )
    assert again.status_code == 201, again.text
    assert again.json()["state"] == "complete" and again.json()["conflict"] is False
    package = client.get("/api/v1/me/work-package", headers=login(client, bank.one.manager)).json()
    assert str(bank.one.visit.id) not in {v["visit"]["id"] for v in package["visits"]}


def test_marked_items_must_be_the_checklists_and_go_with_a_return(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    _capture(client, bank, bank.one.visit.id, where=NEAR)
    reviewer = login(client, bank.one.reviewer)
    url = f"/api/v1/visits/{bank.one.visit.id}/review"
    unknown = client.post(
        url, json={"decision": "return", "comment": "请补充", "items": ["no_such_item"]}, headers=reviewer
    )
    assert unknown.status_code == 422 and unknown.json()["code"] == "review_items_invalid"
    assert unknown.json()["items"] == ["no_such_item"]
    with_approval = client.post(
        url, json={"decision": "approve", "items": ["observed_quantity"]}, headers=reviewer
    )
    assert with_approval.status_code == 422 and with_approval.json()["code"] == "review_items_invalid"
    record = client.get(f"/api/v1/visits/{bank.one.visit.id}", headers=reviewer).json()
    assert record["status"] == "submitted" and record["reviews"] == []  # nothing changed


def test_the_record_shows_the_subjects_last_approved_inspection(client: TestClient, session: Session) -> None:
    """Before and after: the reviewer of the next visit sees last time's answers and photos."""
    bank = make_bank(session)
    first_photos = capture_photos(seed=95)
    _capture(client, bank, bank.one.visit.id, where=NEAR, photos=first_photos)
    reviewer = login(client, bank.one.reviewer)
    approved = client.post(
        f"/api/v1/visits/{bank.one.visit.id}/review", json={"decision": "approve"}, headers=reviewer
    )
    assert approved.status_code == 200, approved.text
    first = client.get(f"/api/v1/visits/{bank.one.visit.id}", headers=reviewer).json()
    assert first["previous"] is None  # nothing before it

    later = make_visit(session, collateral=bank.one.collateral, version=bank.version)
    session.commit()
    _capture(client, bank, later.id, where=NEAR, photos=capture_photos(seed=96))
    record = client.get(f"/api/v1/visits/{later.id}", headers=reviewer).json()
    previous = record["previous"]
    assert previous["visit_id"] == str(bank.one.visit.id)
    assert previous["answers"]["observed_quantity"]["value"] == 10
    assert [p["id"] for p in previous["photos"]] == [p.id for p in first_photos]
    assert previous["photos"][0]["links"]["thumbnail"].endswith("/thumbnail")
    assert [p["value"] for p in previous["trend"]["observed_quantity"]] == [10.0]  # the number items' history
    assert "collateral_present" not in previous["trend"]
    other_branch = client.get(f"/api/v1/visits/{later.id}", headers=login(client, bank.two.reviewer))
    assert other_branch.status_code == 404


def test_a_code_read_on_site_that_is_not_the_declared_one_opens_a_task(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    collateral = bank.one.collateral
    collateral.identifiers = {"序列号": "DMU65-2021-0042"}
    session.commit()
    photos = capture_photos(seed=97)
    headers = login(client, bank.one.manager)
    body = submission_body(photos, check_in=_check_in(NEAR))
    body["answers"]["identifier_read"] = {"value": "DMU65-2021-0043"}
    answer = client.put(
        f"/api/v1/visits/{bank.one.visit.id}/submissions/{uuid.uuid4()}", json=body, headers=headers
    )
    assert answer.status_code == 201, answer.text
    for photo in photos:
        put_photo(client, headers, bank.one.visit.id, photo)
    session.rollback()
    found = session.scalars(select(Discrepancy).where(Discrepancy.rule_key == "identifier_match")).all()
    assert [(f.item_key, f.observed) for f in found] == [("identifier_read", {"value": "DMU65-2021-0043"})]
    assert [t["rule_key"] for t in _tasks(client, bank.one.reviewer)] == ["identifier_match"]
