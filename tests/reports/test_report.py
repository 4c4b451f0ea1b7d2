"""The inspection report (贷后检查报告): the whole record as a PDF a credit committee reads, in Chinese or
English, the same bytes for the same record, scoped like the visit; and a batch for a branch and period."""

from __future__ import annotations

import datetime as dt
import decimal
import io
from pathlib import Path
from zoneinfo import ZoneInfo

import pypdfium2
import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy.orm import Session

from api.config import Settings
from api.integrations.models import Scope
from api.photos import jobs as photo_jobs
from tests.factories import BANK_ZONE, Bank, login, make_bank, make_service_account, make_visit, service_login
from tests.sync.helpers import capture_photos, submission_body, submit_with_photos

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
FAR = {"lat": 31.2330, "lon": 121.4790, "accuracy_m": 15, "fixed_at": "2026-11-29T10:00:00+08:00"}


def _inspected(app: FastAPI, client: TestClient, session: Session, settings: Settings) -> Bank:
    """Branch one's visit submitted with three photos, a check-in 600 m off (a finding and its task), and
    approved with a comment."""
    bank = make_bank(session)
    bank.one.collateral.quantity, bank.one.collateral.unit = decimal.Decimal("10.000"), "台"
    session.commit()
    manager = login(client, bank.one.manager)
    photos = capture_photos(seed=3)
    answers = submission_body(photos)["answers"] | {
        "observed_quantity": {"value": 8, "note": "两台设备外借维修"}
    }
    notes = "厂房完好，设备运转正常。"
    submit_with_photos(client, manager, bank.one.visit.id, photos, check_in=FAR, notes=notes, answers=answers)
    photo_jobs.process_pending(app.state.sessionmaker, settings)
    review = {"decision": "approve", "comment": "同意。请跟进设备数量差异。"}
    reviewer = login(client, bank.one.reviewer)
    assert (
        client.post(f"/api/v1/visits/{bank.one.visit.id}/review", json=review, headers=reviewer).status_code
        == 200
    )
    return bank


def _stamp(moment: dt.datetime, minutes: int) -> str:
    return (moment + dt.timedelta(minutes=minutes)).astimezone(ZoneInfo(BANK_ZONE)).strftime("%Y-%m-%d %H:%M")


def _text(document: bytes) -> tuple[str, int, int]:
    reader = PdfReader(io.BytesIO(document))
    text = "\n".join(page.extract_text() for page in reader.pages)
    # WeasyPrint shares one resource dictionary between pages: count each image once.
    images = len({image.name for page in reader.pages for image in page.images})
    return text, images, len(reader.pages)


def test_the_report_holds_the_whole_record_in_chinese_and_the_same_bytes_each_time(
    app: FastAPI, client: TestClient, session: Session, settings: Settings
) -> None:
    bank = _inspected(app, client, session, settings)
    reviewer = login(client, bank.one.reviewer)
    url = f"/api/v1/visits/{bank.one.visit.id}/report"
    moment = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) + dt.timedelta(minutes=2)
    with time_machine.travel(moment, tick=False):
        first = client.get(url, headers=reviewer)
        second = client.get(url, headers=reviewer)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "application/pdf"
    assert "filename*=UTF-8''" in first.headers["content-disposition"]
    assert first.content == second.content  # deterministic: the same record, the same bytes
    text, images, _pages = _text(first.content)
    for expected in (
        "贷后现场检查报告",
        bank.one.borrower.name,
        bank.one.borrower.credit_code,
        bank.one.facility.reference,
        bank.one.collateral.reference,
        "10 台",  # declared...
        "两台设备外借维修",  # ...against observed, with the manager's note on the answer
        "厂房完好",  # the notes on site
        "同意。请跟进设备数量差异。",  # the reviewer's comment
        "通过",  # the decision
        "审计链位置",
        moment.astimezone(ZoneInfo(BANK_ZONE)).strftime("%Y-%m-%d %H:%M"),  # generated, in the bank's zone
    ):
        assert expected in text, expected
    assert "#" in text.split("审计链位置")[1][:10]  # a sealed position, not "not sealed yet"
    assert images == 3  # every photo, embedded
    with time_machine.travel(moment + dt.timedelta(minutes=1), tick=False):
        later = client.get(url, headers=reviewer).content
    assert later != first.content  # the generation time differs, and only it:
    assert _text(later)[0].replace(_stamp(moment, 1), _stamp(moment, 0)) == text

    page = pypdfium2.PdfDocument(first.content)[0]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.render(scale=1.4).to_pil().save(SCREENSHOTS / "report-page-1.png")
    pypdfium2.PdfDocument(first.content)[1].render(scale=1.4).to_pil().save(SCREENSHOTS / "report-page-2.png")


def test_english_on_request_and_scoped_like_the_visit(
    app: FastAPI, client: TestClient, session: Session, settings: Settings
) -> None:
    bank = _inspected(app, client, session, settings)
    url = f"/api/v1/visits/{bank.one.visit.id}/report"
    english = client.get(url, params={"lang": "en"}, headers=login(client, bank.one.reviewer))
    text, _images, _pages = _text(english.content)
    assert "Post-loan Site Inspection Report" in text and "approved" in text
    assert client.get(url, headers=login(client, bank.two.reviewer)).status_code == 404
    _system, key = make_service_account(
        session, admin=bank.one.admin, branches=None, scopes=[Scope.visits_read]
    )
    assert client.get(url, headers=service_login(client, key)).status_code == 403  # photos:read too
    _archive, key = make_service_account(
        session,
        admin=bank.one.admin,
        branches=[bank.one.branch],
        scopes=[Scope.visits_read, Scope.photos_read],
    )
    assert client.get(url, headers=service_login(client, key)).status_code == 200


def test_a_batch_report_for_a_branch_holds_one_report_per_visit(
    app: FastAPI, client: TestClient, session: Session, settings: Settings
) -> None:
    bank = _inspected(app, client, session, settings)
    extra = make_visit(session, collateral=bank.one.collateral, version=bank.version)
    session.commit()
    reviewer = login(client, bank.one.reviewer)
    answer = client.get("/api/v1/reports/visits", headers=reviewer)
    assert answer.status_code == 200, answer.text
    text, images, pages = _text(answer.content)
    assert text.count("贷后现场检查报告") == 2 and pages >= 2 and images == 3
    assert str(extra.id) in text and str(bank.two.visit.id) not in text  # the branch's, not another's
    for _ in range(50):
        make_visit(session, collateral=bank.one.collateral, version=bank.version)
    session.commit()
    too_many = client.get("/api/v1/reports/visits", headers=reviewer)
    assert too_many.status_code == 422 and "50" in too_many.json()["detail"]
    assert (
        client.get("/api/v1/reports/visits", params={"status": "approved"}, headers=reviewer).status_code
        == 200
    )
