"""Two identical submissions racing on two API processes against one database store exactly one."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from api import flows
from api.auth.models import User
from api.config import Settings
from api.main import create_app
from api.photos import service as photo_service
from api.sync.exceptions import SubmissionIdConflict
from api.sync.models import ManifestPhoto, Submission
from api.sync.schemas import SubmissionIn
from api.visits.models import Visit
from tests.factories import login, make_bank
from tests.sync.helpers import capture_photos, submission_body


def test_identical_submissions_racing_on_two_processes_store_one(
    session: Session, settings: Settings
) -> None:
    # Two app instances with their own engines and pools stand for two API processes.
    apps = [create_app(settings), create_app(settings)]
    clients = [TestClient(app) for app in apps]
    bank = make_bank(session)
    headers = login(clients[0], bank.one.manager)
    rounds = 12
    try:
        for _ in range(rounds):
            body = submission_body(capture_photos())
            submission_id = str(uuid.uuid4())
            gate = threading.Barrier(2)
            answers: list[Any] = [None, None]

            def send(
                n: int,
                body: dict[str, Any] = body,
                submission_id: str = submission_id,
                gate: threading.Barrier = gate,
                answers: list[Any] = answers,
            ) -> None:
                gate.wait()
                answers[n] = clients[n].put(
                    f"/api/v1/visits/{bank.one.visit.id}/submissions/{submission_id}",
                    json=body,
                    headers=headers,
                )

            threads = [threading.Thread(target=send, args=(n,)) for n in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert sorted(a.status_code for a in answers) in ([200, 201], [201, 201]), [
                a.text for a in answers
            ]
            assert answers[0].json()["id"] == answers[1].json()["id"] == submission_id
    finally:
        for app in apps:
            app.state.engine.dispose()
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Submission)) == rounds


def test_a_submission_stored_between_the_check_and_the_write_is_the_answer(
    app: FastAPI, session: Session, settings: Settings, db_kind: str
) -> None:
    """The write path has no savepoint: the submission is its request's first write, so when another
    request stores the same UUID after this one looked for it, the key refuses this one's flush, its whole
    transaction is rolled back, and it answers with the stored one — or 409 for another body."""
    if db_kind != "postgresql":
        pytest.skip("SQLite has one writer at a time: the other request would wait for this one")
    bank = make_bank(session)
    photos = capture_photos()
    body = SubmissionIn.model_validate(submission_body(photos))
    other_body = SubmissionIn.model_validate(submission_body(photos, notes="另一份内容"))
    for sent_first, expect_conflict in ((body, False), (other_body, True)):
        submission_id = uuid.uuid4()
        fired: list[bool] = []

        def store_first(
            _conn: object,
            _cursor: object,
            statement: str,
            *_args: object,
            sent: SubmissionIn = sent_first,
            sid: uuid.UUID = submission_id,
            fired: list[bool] = fired,
        ) -> None:
            # The other request stores it after this one looked for it, just before this one writes it
            # (its first step towards the write: taking its turn with the photos, kit.races.take_turns).
            if fired or "pg_advisory_xact_lock" not in statement:
                return
            fired.append(True)
            with app.state.sessionmaker() as other:
                flows.accept_submission(
                    other, settings=settings, user=other.get_one(User, bank.one.manager.id),
                    visit_id=bank.one.visit.id, submission_id=sid, body=sent,
                )  # fmt: skip
                other.commit()

        event.listen(app.state.engine, "before_cursor_execute", store_first)
        try:
            with app.state.sessionmaker() as request:
                user = request.get_one(User, bank.one.manager.id)
                if expect_conflict:
                    with pytest.raises(SubmissionIdConflict):
                        flows.accept_submission(
                            request, settings=settings, user=user, visit_id=bank.one.visit.id,
                            submission_id=submission_id, body=body,
                        )  # fmt: skip
                    continue
                accepted = flows.accept_submission(
                    request, settings=settings, user=user, visit_id=bank.one.visit.id,
                    submission_id=submission_id, body=body,
                )  # fmt: skip
                assert accepted.new is False and accepted.submission.id == submission_id
                request.commit()
        finally:
            event.remove(app.state.engine, "before_cursor_execute", store_first)
        assert fired
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Submission)) == 2


@pytest.mark.parametrize("first", ["photo", "submission"])
def test_a_photo_kept_while_its_submission_is_stored_is_ticked_off_whichever_commits_first(
    app: FastAPI, session: Session, settings: Settings, db_kind: str, tmp_path: Path, first: str
) -> None:
    """Each side looks for the other before it commits; under READ COMMITTED neither would see the other's
    insert, and the submission would wait for a photo that is there. The second to look waits for the
    first's commit (kit.races.take_turns), and then sees it."""
    if db_kind != "postgresql":
        pytest.skip("SQLite has one writer at a time: the two cannot overlap there")
    bank = make_bank(session)
    photos = capture_photos()
    body = SubmissionIn.model_validate(submission_body(photos))
    submission_id = uuid.uuid4()
    photo = photos[0]
    received = tmp_path / "received.jpg"
    received.write_bytes(photo.data)
    claim = photo_service.PhotoClaim(
        photo_id=uuid.UUID(photo.id), visit_id=bank.one.visit.id, item_key=photo.item_key,
        declared_type="image/jpeg", sha256=photo.sha256, size=len(photo.data),
    )  # fmt: skip

    def keep_photo(db: Session) -> None:
        visit, user = db.get_one(Visit, bank.one.visit.id), db.get_one(User, bank.one.manager.id)
        photo_service.accept_file(db, settings=settings, user=user, visit=visit, claim=claim, path=received)

    def store_submission(db: Session) -> None:
        flows.accept_submission(
            db, settings=settings, user=db.get_one(User, bank.one.manager.id), visit_id=bank.one.visit.id,
            submission_id=submission_id, body=body,
        )  # fmt: skip

    sides = {"photo": keep_photo, "submission": store_submission}
    second = sides["submission" if first == "photo" else "photo"]
    with app.state.sessionmaker() as one, app.state.sessionmaker() as other:
        sides[first](one)  # done, not committed yet

        def then() -> None:
            second(other)
            other.commit()

        thread = threading.Thread(target=then)
        thread.start()
        thread.join(timeout=0.5)
        assert thread.is_alive(), "the second side did not wait for the first"
        one.commit()
        thread.join(timeout=10)
        assert not thread.is_alive()
    session.rollback()
    row = session.scalar(
        select(ManifestPhoto).where(
            ManifestPhoto.submission_id == submission_id, ManifestPhoto.photo_id == uuid.UUID(photo.id)
        )
    )
    assert row is not None and row.arrived is True
