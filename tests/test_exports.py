"""Exports: the visit list's scope and filters, as CSV Excel opens in Chinese (BOM, formula-looking cells
neutralised) or JSON Lines; each row carries the latest submission's answers, findings, open tasks and photo
links; the export lists exactly what paging the visit list does."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.auth.models import User
from api.config import Settings
from api.exports import copy_csv, formats, service
from api.exports.formats import csv_cell
from api.sync.models import Submission
from api.visits.service import VisitFilter
from tests.factories import login, make_bank, make_visit
from tests.sync.helpers import capture_photos, put_photo, submission_body, submit_with_photos

URL = "/api/v1/exports/visits"


def _csv_rows(content: bytes) -> list[dict[str, str]]:
    assert content.startswith("\ufeff".encode())  # Excel reads the UTF-8 as UTF-8, Chinese intact
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def test_a_reviewer_exports_the_branchs_visits_with_answers_findings_and_photos(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    bank.one.borrower.name = '=HYPERLINK("http://evil")华锦'  # a hostile name must stay text in Excel
    extra = make_visit(session, collateral=bank.one.collateral, version=bank.version)
    session.commit()
    manager = login(client, bank.one.manager)
    photos = capture_photos(seed=99)
    far = submission_body(
        photos,
        check_in={
            "lat": 31.2494,
            "lon": 121.4737,
            "accuracy_m": 8.0,
            "fixed_at": "2026-11-29T23:00:00+00:00",
        },
    )
    assert (
        client.put(
            f"/api/v1/visits/{bank.one.visit.id}/submissions/{uuid.uuid4()}", json=far, headers=manager
        ).status_code
        == 201
    )
    for photo in photos:
        put_photo(client, manager, bank.one.visit.id, photo)

    answer = client.get(URL, headers=login(client, bank.one.reviewer))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    rows = _csv_rows(answer.content)
    assert {r["visit_id"] for r in rows} == {str(bank.one.visit.id), str(extra.id)}  # not the other branch's
    row = next(r for r in rows if r["visit_id"] == str(bank.one.visit.id))
    assert row["borrower_name"].startswith("'=HYPERLINK")
    assert row["status"] == "submitted" and row["submission_state"] == "complete"
    assert row["answer.observed_quantity"] == "10" and row["answer.collateral_present"] == "true"
    assert row["answer.photo_overview"] == "2" and row["photo_count"] == "3"
    assert all(link.endswith("/original") for link in row["photo_links"].split("; "))
    assert [link.removesuffix("/stamped") for link in row["photo_stamped_links"].split("; ")] == [
        link.removesuffix("/original") for link in row["photo_links"].split("; ")
    ]
    assert int(row["findings_major"]) >= 1 and int(row["open_tasks"]) >= 1  # checked in 2.1 km away
    other = next(r for r in rows if r["visit_id"] == str(extra.id))
    assert other["submission_id"] == "" and other["answer.observed_quantity"] == ""

    lines = client.get(
        URL, params={"format": "jsonl", "status": "submitted"}, headers=login(client, bank.one.reviewer)
    )
    assert lines.headers["content-type"].startswith("application/x-ndjson")
    (only,) = [json.loads(line) for line in lines.text.splitlines()]
    assert only["visit_id"] == str(bank.one.visit.id) and only["answer.observed_quantity"] == 10


def test_the_export_lists_what_paging_the_list_does(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    for _ in range(5):
        make_visit(session, collateral=bank.one.collateral, version=bank.version)
    session.commit()
    admin = login(client, bank.one.admin)
    paged: list[str] = []
    cursor = None
    while True:
        page = client.get(
            "/api/v1/visits", params={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=admin
        ).json()
        paged += [v["id"] for v in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    exported = [r["visit_id"] for r in _csv_rows(client.get(URL, headers=admin).content)]
    assert exported == paged and len(exported) == 7  # an admin: both branches
    mine = _csv_rows(client.get(URL, headers=login(client, bank.two.manager)).content)
    assert [r["visit_id"] for r in mine] == [str(bank.two.visit.id)]
    assert client.get(URL, params={"format": "xml"}, headers=admin).status_code == 422


def test_formula_cells_are_neutralised_and_numbers_kept() -> None:
    assert csv_cell("=1+1") == "'=1+1" and csv_cell("+86 138") == "'+86 138" and csv_cell("@SUM") == "'@SUM"
    assert csv_cell("-cmd") == "'-cmd" and csv_cell(-5) == -5 and csv_cell(["a", "b"]) == "a; b"
    assert csv_cell(None) == "" and csv_cell(True) == "true" and csv_cell("华锦") == "华锦"


def test_an_xlsx_export_has_a_sheet_per_template_with_its_items_and_real_dates(
    client: TestClient, session: Session
) -> None:
    from openpyxl import load_workbook

    bank = make_bank(session)
    bank.one.borrower.name = "=cmd|' /C calc'!A0"
    session.commit()
    manager = login(client, bank.one.manager)
    photos = capture_photos(seed=98)
    body = submission_body(photos)
    assert (
        client.put(
            f"/api/v1/visits/{bank.one.visit.id}/submissions/{uuid.uuid4()}", json=body, headers=manager
        ).status_code
        == 201
    )
    answer = client.get(URL, params={"format": "xlsx"}, headers=login(client, bank.one.reviewer))
    assert answer.status_code == 200, answer.text
    book = load_workbook(io.BytesIO(answer.content), read_only=True)
    (sheet,) = book.worksheets
    assert sheet.title.endswith("-v1")
    header, *rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert "实盘数量 (observed_quantity)" in header and "template_version_id" not in header
    row = next(r for r in rows if r[header.index("visit_id")] == str(bank.one.visit.id))
    assert row[header.index("实盘数量 (observed_quantity)")] == 10
    assert row[header.index("押品是否在场 (collateral_present)")] is True
    assert isinstance(row[header.index("due_on")], dt.datetime)  # a date Excel can sort, not text
    assert row[header.index("borrower_name")] == "=cmd|' /C calc'!A0"  # text, never a formula


def test_a_geojson_export_places_sites_check_ins_and_photos_in_wgs84(
    client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    bank.one.collateral.site_datum = "GCJ02"  # declared on a Chinese map: converted, so it sits where it is
    session.commit()
    manager = login(client, bank.one.manager)
    photos = capture_photos(seed=94)
    fix = {"lat": 31.2306, "lon": 121.4738, "accuracy_m": 8.0, "fixed_at": "2026-11-29T23:00:00+00:00"}
    body = submission_body(photos, check_in=fix)
    assert (
        client.put(
            f"/api/v1/visits/{bank.one.visit.id}/submissions/{uuid.uuid4()}", json=body, headers=manager
        ).status_code
        == 201
    )
    for photo in photos:
        put_photo(client, manager, bank.one.visit.id, photo)
    answer = client.get(URL, params={"format": "geojson"}, headers=login(client, bank.one.reviewer))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/geo+json")
    collection = answer.json()
    mine = [f for f in collection["features"] if f["properties"]["visit_id"] == str(bank.one.visit.id)]
    kinds = sorted(f["properties"]["kind"] for f in mine)
    assert kinds == ["check_in", "declared_site", "photo", "photo", "photo"]
    site = next(f for f in mine if f["properties"]["kind"] == "declared_site")
    lon, lat = site["geometry"]["coordinates"]
    assert (
        0.001 < abs(lon - 121.4737) < 0.01 and 0.001 < abs(lat - 31.2304) < 0.01
    )  # GCJ-02 → WGS-84 moved it
    check_in = next(f for f in mine if f["properties"]["kind"] == "check_in")
    assert (
        check_in["geometry"]["coordinates"] == [121.4738, 31.2306]
        and check_in["properties"]["accuracy_m"] == 8.0
    )
    assert {f["properties"]["source"] for f in mine if f["properties"]["kind"] == "photo"} == {"exif"}


def test_every_export_format_is_documented(client: TestClient) -> None:
    documented = client.get("/openapi.json").json()["paths"]["/api/v1/exports/visits"]["get"]["responses"][
        "200"
    ]["content"]
    assert set(documented) == {
        "text/csv", "application/x-ndjson", "application/geo+json",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }  # fmt: skip


def test_postgresql_writes_the_csv_itself_byte_for_byte_as_the_row_by_row_path(
    app: FastAPI, client: TestClient, session: Session, settings: Settings, db_kind: str
) -> None:
    """On PostgreSQL the CSV is made by one COPY (copy_csv.py); it must be the very bytes the row-by-row path
    writes (the one SQLite uses), awkward values included."""
    if db_kind != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    bank = make_bank(session)
    bank.one.borrower.name = '=1+1 含"引号",逗号\n换行\r回车 '
    bank.two.borrower.name = "@华锦\t"
    awkward = make_visit(session, collateral=bank.two.collateral, version=bank.version)
    session.commit()
    manager = login(client, bank.one.manager)
    photos = capture_photos(seed=7)
    far = {"lat": 31.2494, "lon": 121.4737, "accuracy_m": 8.0, "fixed_at": "2026-11-29T23:00:00+00:00"}
    submit_with_photos(client, manager, bank.one.visit.id, photos, check_in=far)
    answers = {
        "remarks": {"value": "-5 是负数"},
        "observed_quantity": {"value": 12.50},
        "collateral_present": {"value": False},
        "condition": {"value": ""},
        "seizure_notice": {"value": None},
        "third_party_occupation": {"value": ["a", "+b", 1, 2.5, True, None]},
        "site_operating": {"value": {"lat": 31.2, "lon": 121.4, "accuracy_m": 8}},
        "photo_overview": {"photos": [str(uuid.uuid4()), str(uuid.uuid4())]},
        "photo_identifier": {"photos": [], "value": 1e16},
        "check_in": {"value": 0.0000001},
    }
    submission = Submission(
        id=uuid.uuid4(), visit_id=awkward.id, branch_id=awkward.branch_id, submitted_by_id=awkward.manager_id,
        template_version_id=awkward.template_version_id, body_sha256="0" * 64,
        body={"answers": answers, "notes": "", "photos": []}, state="complete", conflict=False,
        conflict_reasons=[], visit_status_after="submitted",
    )  # fmt: skip
    session.add(submission)
    awkward.submitted_at = dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC)  # whole seconds: no fraction
    bank.one.visit.decided_at = dt.datetime(2026, 11, 29, 9, 0, 0, 120, tzinfo=dt.UTC)
    session.commit()

    admin = session.get_one(User, bank.one.admin.id)
    where = VisitFilter()
    make_session = app.state.read_sessionmaker
    with make_session() as reader:
        columns = service.VISIT_COLUMNS + service.answer_columns(
            service.sheets(reader, user=admin, where=where, settings=settings)
        )
        by_rows = b"".join(
            formats.csv_stream(
                columns, service.rows(reader, user=admin, where=where, settings=settings, base_url="http://h")
            )
        )
    by_copy = b"".join(
        copy_csv.stream(
            make_session, user=admin, where=where, settings=settings, base_url="http://h", header=columns
        )
    )
    assert by_copy.decode().splitlines() == by_rows.decode().splitlines()
    assert by_copy == by_rows
    assert len(_csv_rows(by_copy)) == 3
