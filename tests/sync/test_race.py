"""Two identical submissions racing on two API processes against one database store exactly one."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.config import Settings
from api.main import create_app
from api.sync.models import Submission
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
