"""Submissions: stored at once, complete when their photos arrive, idempotent, conflicts flagged."""

from __future__ import annotations

import copy
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.checklists.models import TemplateVersion, VersionStatus
from api.sync.models import Submission
from api.visits.models import Visit, VisitStatus
from tests.factories import login, make_bank, make_visit
from tests.sync.helpers import capture_photos, put_photo, submission_body

pytestmark = pytest.mark.calendar


def _url(visit_id: object, submission_id: str) -> str:
    return f"/api/v1/visits/{visit_id}/submissions/{submission_id}"


def _count(session: Session) -> int:
    session.rollback()
    return int(session.scalar(select(func.count()).select_from(Submission)) or 0)


def test_a_submission_before_its_photos_is_incomplete_then_complete(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    photos = capture_photos()
    submission_id = str(uuid.uuid4())
    first = client.put(_url(bank.one.visit.id, submission_id), json=submission_body(photos), headers=headers)
    assert first.status_code == 201, first.text
    answer = first.json()
    assert answer["state"] == "incomplete"
    assert {m["id"] for m in answer["missing_photos"]} == {p.id for p in photos}
    assert answer["visit_status"] == "submitted"
    assert answer["conflict"] is False

    for photo in photos[:2]:
        assert put_photo(client, headers, bank.one.visit.id, photo).status_code == 201
    middle = client.get(f"/api/v1/submissions/{submission_id}", headers=headers).json()
    assert [m["id"] for m in middle["missing_photos"]] == [photos[2].id]
    put_photo(client, headers, bank.one.visit.id, photos[2])
    done = client.get(f"/api/v1/submissions/{submission_id}", headers=headers).json()
    assert done["state"] == "complete"
    assert done["missing_photos"] == []
    assert done["completed_at"] is not None


def test_photos_that_arrived_first_count_at_once(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    photos = capture_photos()
    for photo in photos:
        put_photo(client, headers, bank.one.visit.id, photo)
    answer = client.put(
        _url(bank.one.visit.id, str(uuid.uuid4())), json=submission_body(photos), headers=headers
    )
    assert answer.json()["state"] == "complete"


def test_a_photo_with_other_bytes_is_named_as_a_mismatch(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    photos = capture_photos()
    body = submission_body(photos)
    body["photos"][0]["sha256"] = "0" * 64  # the manifest says one thing, the photo will be another
    submission_id = str(uuid.uuid4())
    client.put(_url(bank.one.visit.id, submission_id), json=body, headers=headers)
    for photo in photos:
        put_photo(client, headers, bank.one.visit.id, photo)
    state = client.get(f"/api/v1/submissions/{submission_id}", headers=headers).json()
    assert state["state"] == "incomplete"
    assert state["missing_photos"] == [
        {"id": photos[0].id, "item_key": "photo_overview", "reason": "sha256_mismatch"}
    ]


def test_a_submission_retried_ten_times_exists_once(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    body = submission_body(capture_photos())
    submission_id = str(uuid.uuid4())
    answers = [
        client.put(_url(bank.one.visit.id, submission_id), json=body, headers=headers) for _ in range(10)
    ]
    assert [a.status_code for a in answers] == [201] + [200] * 9
    assert all(a.json() == answers[0].json() for a in answers)
    assert _count(session) == 1


def test_the_same_uuid_with_another_body_is_a_conflict(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    photos = capture_photos()
    submission_id = str(uuid.uuid4())
    client.put(_url(bank.one.visit.id, submission_id), json=submission_body(photos), headers=headers)
    changed = submission_body(photos, notes="另一份内容")
    answer = client.put(_url(bank.one.visit.id, submission_id), json=changed, headers=headers)
    assert answer.status_code == 409
    assert answer.json()["code"] == "submission_id_conflict"
    kept = client.get(f"/api/v1/submissions/{submission_id}", headers=headers).json()
    assert kept["body"]["notes"] == "现场检查正常。"


def test_a_visit_not_theirs_is_404_and_a_uuid_used_on_another_visit_is_409(
    client: TestClient, session: Session
) -> None:
    """What `submit` reads in one statement — the visit, its version, any submission under the UUID — answers
    each case as a lookup of its own would: nothing is written for a visit that is not there, not the
    manager's, or of another branch, and a UUID already stored for another visit is a conflict, never a
    second submission."""
    bank = make_bank(session)
    mine = login(client, bank.one.manager)
    body = submission_body(capture_photos())
    for visit_id, headers in (
        (uuid.uuid4(), mine),
        (bank.one.visit.id, login(client, bank.one.other_manager)),
        (bank.two.visit.id, mine),
    ):
        answer = client.put(_url(visit_id, str(uuid.uuid4())), json=body, headers=headers)
        assert answer.status_code == 404, answer.text
        assert answer.json()["code"] == "not_found"
    assert _count(session) == 0

    second = make_visit(session, collateral=bank.one.collateral, version=bank.version)
    session.commit()
    submission_id = str(uuid.uuid4())
    assert client.put(_url(bank.one.visit.id, submission_id), json=body, headers=mine).status_code == 201
    again = client.put(_url(second.id, submission_id), json=body, headers=mine)
    assert again.status_code == 409
    assert again.json()["code"] == "submission_id_conflict"
    assert _count(session) == 1
    session.refresh(second)
    assert second.status == VisitStatus.scheduled


def test_each_bad_answer_is_named(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    photos = capture_photos()
    body = submission_body(photos)
    body["answers"]["collateral_present"] = {"value": "yes"}
    body["answers"]["condition"] = {"value": "splendid"}
    body["answers"]["observed_quantity"] = {"value": -1}
    del body["answers"]["seizure_notice"]
    body["answers"]["photo_overview"] = {"photos": [photos[0].id]}
    body["answers"]["no_such_item"] = {"value": 1}
    answer = client.put(_url(bank.one.visit.id, str(uuid.uuid4())), json=body, headers=headers)
    assert answer.status_code == 422
    named = {problem["item"] for problem in answer.json()["items"]}
    assert named >= {
        "collateral_present",
        "condition",
        "observed_quantity",
        "seizure_notice",
        "photo_overview",
        "no_such_item",
    }
    assert "photos" in named  # the manifest photo that no item uses any more
    assert _count(session) == 0
    session.rollback()
    assert session.get(Visit, bank.one.visit.id).status == "scheduled"  # type: ignore[union-attr]


def test_malformed_submissions_are_4xx(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    good = submission_body(capture_photos())
    for broken in (
        {**good, "check_in": {"lat": 91, "lon": 0, "accuracy_m": 5, "fixed_at": "2026-11-29T10:00:00+08:00"}},
        {**good, "check_in": {"lat": 31, "lon": 121, "accuracy_m": 5, "fixed_at": "2026-11-29T10:00:00"}},
        {**good, "photos": [{"id": "x", "sha256": "abc", "size": 0}]},
        {**good, "unexpected": True},
        [],
    ):
        answer = client.put(_url(bank.one.visit.id, str(uuid.uuid4())), json=broken, headers=headers)
        assert answer.status_code == 422, broken
    assert _count(session) == 0


def test_a_visit_cancelled_while_offline_still_keeps_the_capture(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    client.post(
        f"/api/v1/visits/{bank.one.visit.id}/cancel",
        json={"reason": "贷款提前结清"},
        headers=login(client, bank.one.admin),
    )
    answer = client.put(
        _url(bank.one.visit.id, str(uuid.uuid4())), json=submission_body(capture_photos()), headers=headers
    )
    assert answer.status_code == 201
    assert answer.json()["conflict"] is True
    assert answer.json()["conflict_reasons"] == ["visit_cancelled"]
    assert answer.json()["visit_status"] == "cancelled"
    assert _count(session) == 1


def test_a_visit_reassigned_while_offline_still_keeps_the_capture(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    first_manager = login(client, bank.one.manager)
    client.post(
        f"/api/v1/visits/{bank.one.visit.id}/reassign",
        json={"manager_id": str(bank.one.other_manager.id)},
        headers=login(client, bank.one.reviewer),
    )
    photos = capture_photos()
    answer = client.put(
        _url(bank.one.visit.id, str(uuid.uuid4())), json=submission_body(photos), headers=first_manager
    )
    assert answer.status_code == 201
    assert answer.json()["conflict_reasons"] == ["visit_reassigned"]
    assert put_photo(client, first_manager, bank.one.visit.id, photos[0]).status_code == 201
    # Someone who never had the visit still cannot write to it.
    stranger = client.put(
        _url(bank.two.visit.id, str(uuid.uuid4())), json=submission_body(photos), headers=first_manager
    )
    assert stranger.status_code == 404


def test_a_retired_template_and_a_second_submission_are_flagged(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    client.put(
        _url(bank.one.visit.id, str(uuid.uuid4())), json=submission_body(capture_photos(1)), headers=headers
    )
    version = session.get(TemplateVersion, bank.version.id)
    assert version is not None
    version.status = VersionStatus.retired
    session.commit()
    answer = client.put(
        _url(bank.one.visit.id, str(uuid.uuid4())), json=submission_body(capture_photos(2)), headers=headers
    )
    assert answer.status_code == 201
    assert set(answer.json()["conflict_reasons"]) == {"visit_already_submitted", "template_retired"}


def test_reviewers_read_submissions_of_their_branch_only(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    submission_id = str(uuid.uuid4())
    client.put(
        _url(bank.one.visit.id, submission_id),
        json=submission_body(capture_photos()),
        headers=login(client, bank.one.manager),
    )
    assert (
        client.get(
            f"/api/v1/submissions/{submission_id}", headers=login(client, bank.one.reviewer)
        ).status_code
        == 200
    )
    listed = client.get(
        f"/api/v1/visits/{bank.one.visit.id}/submissions", headers=login(client, bank.one.reviewer)
    )
    assert [s["id"] for s in listed.json()] == [submission_id]
    assert (
        client.get(
            f"/api/v1/submissions/{submission_id}", headers=login(client, bank.two.reviewer)
        ).status_code
        == 404
    )
    reviewer_write = client.put(
        _url(bank.one.visit.id, str(uuid.uuid4())),
        json=submission_body(capture_photos()),
        headers=login(client, bank.one.reviewer),
    )
    assert reviewer_write.status_code == 403


def test_optional_items_may_be_left_out(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    body = submission_body(capture_photos())
    body = copy.deepcopy(body)
    body["answers"].pop("remarks", None)
    body["answers"]["remarks"] = {"value": ""}
    assert (
        client.put(_url(bank.one.visit.id, str(uuid.uuid4())), json=body, headers=headers).status_code == 201
    )


def test_a_submission_naming_its_incomplete_predecessor_takes_its_place(
    client: TestClient, session: Session
) -> None:
    """The server refused one photo (the phone took another): the resubmission names the submission still
    waiting for it and is not flagged as a second capture. Naming anything else changes nothing."""
    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    photos = capture_photos(seed=71)
    first_id = str(uuid.uuid4())
    client.put(_url(bank.one.visit.id, first_id), json=submission_body(photos), headers=headers)
    for photo in photos[:2]:
        put_photo(client, headers, bank.one.visit.id, photo)  # the third never arrives

    retaken = capture_photos(seed=72)[2]
    kept = [*photos[:2], retaken]
    second = client.put(
        _url(bank.one.visit.id, str(uuid.uuid4())),
        json=submission_body(kept, replaces=first_id),
        headers=headers,
    )
    assert second.status_code == 201, second.text
    assert second.json()["conflict"] is False and second.json()["state"] == "incomplete"
    assert [m["id"] for m in second.json()["missing_photos"]] == [retaken.id]
    put_photo(client, headers, bank.one.visit.id, retaken)
    assert (
        client.get(f"/api/v1/submissions/{second.json()['id']}", headers=headers).json()["state"]
        == "complete"
    )

    # Naming a submission that is no longer the last, or is complete: a second capture, flagged.
    for named in (first_id, second.json()["id"]):
        third = client.put(
            _url(bank.one.visit.id, str(uuid.uuid4())),
            json=submission_body(kept, replaces=named),
            headers=headers,
        )
        assert third.json()["conflict_reasons"] == ["visit_already_submitted"]
