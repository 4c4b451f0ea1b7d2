"""Export jobs: the same export made in the background into a file, downloaded through a signed link that
needs no token and expires; the asker's scope as the job runs; a failed job says why."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import uuid

import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.config import Settings
from api.exports import jobs
from api.integrations.models import Scope
from api.object_store import object_store
from tests.factories import login, make_bank, make_service_account, make_visit, service_login

JOBS = "/api/v1/exports/jobs"


def test_a_job_makes_the_file_a_signed_link_serves_until_it_expires(
    app: FastAPI, client: TestClient, session: Session, settings: Settings
) -> None:
    bank = make_bank(session)
    extra = make_visit(session, collateral=bank.one.collateral, version=bank.version)
    session.commit()
    reviewer = login(client, bank.one.reviewer)
    asked = client.post(JOBS, json={"format": "csv", "filters": {"status": ["scheduled"]}}, headers=reviewer)
    assert asked.status_code == 202, asked.text
    job = asked.json()
    assert job["state"] == "pending" and job["download_url"] is None
    assert jobs.run_pending(app.state.sessionmaker, settings) == 1
    done = client.get(f"{JOBS}/{job['id']}", headers=reviewer).json()
    assert done["state"] == "done" and done["download_url"], done

    link = done["download_url"].removeprefix("http://testserver")
    file = client.get(link)  # no token: the signature is the permission
    assert file.status_code == 200 and file.headers["content-type"].startswith("text/csv")
    assert hashlib.sha256(file.content).hexdigest() == done["sha256"] and len(file.content) == done["size"]
    rows = list(csv.DictReader(io.StringIO(file.content.decode("utf-8-sig"))))
    assert {r["visit_id"] for r in rows} == {str(bank.one.visit.id), str(extra.id)}  # the branch's only
    assert rows[0]["photo_links"] == "" or rows[0]["photo_links"].startswith("/api/v1/photos/")

    assert client.get(link.replace("signature=", "signature=0")[:-1]).status_code == 401  # tampered
    assert client.get(f"{JOBS}/{job['id']}", headers=login(client, bank.one.manager)).status_code == 404
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=settings.export_link_hours, minutes=1)
    with time_machine.travel(later, tick=False):
        assert client.get(link).status_code == 410
        assert jobs.expire(app.state.sessionmaker, settings) == 1
    expired = jobs.get_for(session, user=bank.one.reviewer, job_id=uuid.UUID(job["id"]))
    assert not object_store(settings, area="state").exists(jobs.key_of(expired))


def test_a_system_with_exports_read_gets_xlsx_and_bad_bodies_are_refused(
    app: FastAPI, client: TestClient, session: Session, settings: Settings
) -> None:
    bank = make_bank(session)
    _system, key = make_service_account(
        session, admin=bank.one.admin, branches=None, scopes=[Scope.exports_read]
    )
    system = service_login(client, key)
    assert client.post(JOBS, json={"format": "pdf"}, headers=system).status_code == 422
    assert client.post(JOBS, json={"filters": {"colour": "red"}}, headers=system).status_code == 422
    made = client.post(JOBS, json={"format": "xlsx"}, headers=system).json()
    jobs.run_pending(app.state.sessionmaker, settings)
    done = client.get(f"{JOBS}/{made['id']}", headers=system).json()
    assert done["state"] == "done" and done["size"] > 1000
    content = client.get(done["download_url"].removeprefix("http://testserver")).content
    assert content[:2] == b"PK"  # a workbook
    _reader, other = make_service_account(
        session, admin=bank.one.admin, branches=None, scopes=[Scope.visits_read]
    )
    assert client.post(JOBS, json={}, headers=service_login(client, other)).status_code == 403


def test_a_job_whose_asker_was_deactivated_fails_and_says_why(
    app: FastAPI, client: TestClient, session: Session, settings: Settings
) -> None:
    bank = make_bank(session)
    reviewer = login(client, bank.one.reviewer)
    made = client.post(JOBS, json={"format": "jsonl"}, headers=reviewer).json()
    bank.one.reviewer.is_active = False
    session.commit()
    assert jobs.run_pending(app.state.sessionmaker, settings) == 1
    admin = login(client, bank.one.admin)
    failed = client.get(f"{JOBS}/{made['id']}", headers=admin).json()
    assert failed["state"] == "failed" and "no longer active" in failed["error"]
    assert failed["download_url"] is None
