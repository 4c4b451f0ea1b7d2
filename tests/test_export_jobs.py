"""Export jobs: the same export made in the background into a file, downloaded through a signed link that
needs no token and expires; the asker's scope as the job runs; a failed job says why."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import subprocess
import sys
import uuid

import pytest
import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlmodel import col

from api.config import Settings
from api.exports import jobs
from api.exports.models import ExportJob, ExportState
from api.integrations.models import Scope
from api.kit.races import held_while_alive
from api.object_store import object_store
from tests.factories import login, make_bank, make_service_account, make_visit, service_login
from tests.live import server_env

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


# A worker that claims one export job and dies after writing the file, before marking it done, on the test's
# clock (the claim's time must be comparable with the test's).
_DIES_MID_JOB = """
import sys, time_machine
with time_machine.travel(sys.argv[1], tick=True):
    from api.config import Settings
    from api.db import make_engine, make_sessionmaker
    from api.exports import jobs
    settings = Settings()
    jobs.run_pending(make_sessionmaker(make_engine(settings.database_url), settings=settings), settings)
"""


def test_a_killed_workers_job_is_taken_over_at_once_on_postgresql_after_its_lapse_on_sqlite(
    app: FastAPI,
    client: TestClient,
    session: Session,
    settings: Settings,
    db_kind: str,
    product_clock: dt.datetime,
) -> None:
    bank = make_bank(session)
    session.commit()
    reviewer = login(client, bank.one.reviewer)
    job_id = client.post(JOBS, json={"format": "csv"}, headers=reviewer).json()["id"]
    worker = subprocess.run(
        [sys.executable, "-c", _DIES_MID_JOB, product_clock.isoformat()],
        env=server_env(settings, FIELDVISIT_CRASH_AT="export_file_before_done"),
        capture_output=True,
        timeout=60,
    )
    assert worker.returncode == 137, worker.stderr.decode()[-2000:]
    assert client.get(f"{JOBS}/{job_id}", headers=reviewer).json()["state"] == "running"

    if db_kind == "postgresql":
        # Its lock went with its connection: nobody alive holds the job, and the next poll takes it.
        assert jobs.run_pending(app.state.sessionmaker, settings) == 1
    else:
        # One process on SQLite: a running claim is taken over once it has lapsed.
        assert jobs.run_pending(app.state.sessionmaker, settings) == 0
        with time_machine.travel(product_clock + jobs.CLAIM_LAPSES + dt.timedelta(minutes=1), tick=False):
            assert jobs.run_pending(app.state.sessionmaker, settings) == 1
    done = client.get(f"{JOBS}/{job_id}", headers=reviewer).json()
    assert done["state"] == "done", done
    file = client.get(done["download_url"].removeprefix("http://testserver"))
    assert hashlib.sha256(file.content).hexdigest() == done["sha256"]


def test_a_job_held_by_a_live_worker_is_left_to_it(
    app: FastAPI, client: TestClient, session: Session, settings: Settings, db_kind: str
) -> None:
    if db_kind != "postgresql":
        pytest.skip("SQLite serves one process: there is no other live worker to ask")
    bank = make_bank(session)
    session.commit()
    reviewer = login(client, bank.one.reviewer)
    job_id = uuid.UUID(client.post(JOBS, json={"format": "csv"}, headers=reviewer).json()["id"])
    session.execute(update(ExportJob).where(col(ExportJob.id) == job_id).values(state=ExportState.running))
    session.commit()
    # Another worker, alive and at it: it holds the claim's lock on its connection.
    with held_while_alive(app.state.engine, namespace=jobs.EXPORT_TURNS, key=job_id) as other_has_it:
        assert other_has_it
        assert jobs.run_pending(app.state.sessionmaker, settings) == 0
        assert client.get(f"{JOBS}/{job_id}", headers=reviewer).json()["state"] == "running"
    # It has let go (here: it ended without finishing): the next poll takes the job over.
    assert jobs.run_pending(app.state.sessionmaker, settings) == 1
    assert client.get(f"{JOBS}/{job_id}", headers=reviewer).json()["state"] == "done"
