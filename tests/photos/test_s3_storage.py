"""Photos in an S3-compatible bucket (a real SeaweedFS on loopback): two nodes with nothing of their own but
scratch files — an upload begun on one ends on the other, each serves what the other received, parts go with
the commit, a refused photo leaves nothing, two requests racing from one offset cannot move it back, the
sweep removes what no row owns, and readiness reports a bucket it cannot reach."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx
import pytest
import time_machine
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import backup as backups
from api.cases.documents import key_of as documents_key
from api.cli import main
from api.config import Settings, get_settings
from api.db import make_sessionmaker
from api.errors import storage_unavailable
from api.exports import jobs
from api.main import create_app
from api.photos import service as photo_service
from api.photos.exceptions import UploadOffsetMismatch
from api.photos.jobs import process_pending
from api.photos.models import Photo, PhotoState, Upload
from api.photos.storage import PhotoStore
from api.ticks import sweep_photo_store
from tests.cases import documents
from tests.factories import PASSWORD, Bank, login, make_bank
from tests.live import free_port, instance_env, server_env, start_server
from tests.photos.images import jpeg, sha256

TUS = {"Tus-Resumable": "1.0.0"}
DATA = {"Content-Type": "application/offset+octet-stream"}


@contextmanager
def _node(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    try:
        with TestClient(app) as client:
            yield client
    finally:
        app.state.engine.dispose()


def _creation(bank: Bank, photo_id: str, data: bytes, *, claimed: str | None = None) -> dict[str, str]:
    """The tus creation headers for this photo of the bank's first visit (`claimed`: another SHA-256)."""
    values = {
        "photo_id": photo_id, "visit_id": str(bank.one.visit.id), "item_key": "photo_overview",
        "content_type": "image/jpeg", "sha256": claimed or sha256(data),
    }  # fmt: skip
    metadata = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())
    return {"Upload-Length": str(len(data)), "Upload-Metadata": metadata}


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_an_upload_begun_on_one_node_ends_on_the_other_and_both_serve_it(
    session: Session, s3_settings: Settings, tmp_path: Path
) -> None:
    bank = make_bank(session)
    other = s3_settings.model_copy(update={"photo_dir": tmp_path / "node-b"})
    data = jpeg(1600, 1200, seed=301)
    photo_id = str(uuid.uuid4())
    with _node(s3_settings) as node_a, _node(other) as node_b:
        auth_a = {**login(node_a, bank.one.manager), **TUS}
        auth_b = {**login(node_b, bank.one.manager), **TUS}
        first = node_a.post(
            "/api/v1/uploads/",
            content=data[:60_000],
            headers={**auth_a, **DATA, **_creation(bank, photo_id, data)},
        )
        assert first.status_code == 201 and first.headers["upload-offset"] == "60000", first.text
        location = first.headers["location"]
        # Node A is gone; the phone asks node B where it was, and goes on there.
        head = node_b.head(location, headers=auth_b)
        assert head.headers["upload-offset"] == "60000"
        rest = node_b.patch(
            location, content=data[60_000:], headers={**auth_b, **DATA, "Upload-Offset": "60000"}
        )
        assert rest.status_code == 204 and rest.headers["fieldvisit-photo-id"] == photo_id, rest.text

        store = photo_service.photo_store(s3_settings)
        assert store.objects.read_bytes(PhotoStore.original_key(sha256(data))) == data
        assert list(store.objects.listing("uploads/")) == [], "the parts outlived the photo's commit"
        # Nothing on either node but (emptied) scratch: the bucket holds it all.
        assert _files(s3_settings.photo_dir) == [] and _files(other.photo_dir) == []

        # Node B made the derivatives after answering; node A serves them, and the original, whole or a range.
        session.rollback()
        assert (
            session.scalar(select(Photo.state).where(Photo.id == uuid.UUID(photo_id))) == PhotoState.processed
        )
        base = f"/api/v1/photos/{photo_id}"
        thumbnail = node_a.get(f"{base}/thumbnail", headers=auth_a)
        assert thumbnail.status_code == 200 and thumbnail.content[:2] == b"\xff\xd8"
        assert thumbnail.headers["content-type"] == "image/jpeg"
        again = node_a.get(
            f"{base}/thumbnail", headers={**auth_a, "If-None-Match": thumbnail.headers["etag"]}
        )
        assert again.status_code == 304
        original = node_a.get(f"{base}/original", headers=auth_a)
        assert original.status_code == 200 and original.content == data
        assert original.headers["etag"] == f'"{sha256(data)}"'
        part = node_a.get(f"{base}/original", headers={**auth_a, "Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == data[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
        tail = node_b.get(f"{base}/original", headers={**auth_b, "Range": "bytes=-50"})
        assert tail.status_code == 206 and tail.content == data[-50:]
        beyond = node_b.get(f"{base}/original", headers={**auth_b, "Range": f"bytes={len(data) + 10}-"})
        assert beyond.status_code == 416
        stamped = node_b.get(f"{base}/stamped", headers=auth_b)
        assert stamped.status_code == 200 and stamped.content[:2] == b"\xff\xd8"
        assert _files(other.photo_dir) == [], "the stamped copy's scratch file was left behind"


def test_a_refused_photo_leaves_nothing_in_the_bucket(session: Session, s3_settings: Settings) -> None:
    bank = make_bank(session)
    data = jpeg(800, 600, seed=302)
    with _node(s3_settings) as node:
        auth = {**login(node, bank.one.manager), **TUS}
        created = node.post(
            "/api/v1/uploads/",
            content=data[:20_000],
            headers={**auth, **DATA, **_creation(bank, str(uuid.uuid4()), data, claimed="0" * 64)},
        )
        assert created.status_code == 201
        store = photo_service.photo_store(s3_settings)
        assert len(list(store.objects.listing("uploads/"))) == 1  # the first part, kept for a resume
        refused = node.patch(
            created.headers["location"],
            content=data[20_000:],
            headers={**auth, **DATA, "Upload-Offset": "20000"},
        )
        assert refused.status_code == 422 and refused.json()["code"] == "photo_checksum_mismatch", (
            refused.text
        )
    assert list(store.objects.listing("")) == []
    session.rollback()
    assert session.scalar(select(Upload.id)) is None


def test_two_requests_from_one_offset_cannot_move_it_back(
    session: Session, s3_settings: Settings, app: FastAPI
) -> None:
    """With a bucket two nodes may take PATCHes of one upload at once (no file lock between them). The offset
    moves only forward from where each request began: the slower one is answered 409, and the parts left
    still assemble into the photo."""
    bank = make_bank(session)
    data = jpeg(1024, 768, seed=303)
    with _node(s3_settings) as node:
        auth = {**login(node, bank.one.manager), **TUS}
        created = node.post(
            "/api/v1/uploads/",
            headers={**auth, **_creation(bank, str(uuid.uuid4()), data)},
        )
        upload_id = uuid.UUID(created.headers["location"].rsplit("/", 1)[1])
    make = make_sessionmaker(app.state.engine)
    store = photo_service.photo_store(s3_settings)
    # Both requests began at offset 0; the one that sent more finished first.
    store.objects.put_bytes(PhotoStore.part_key(upload_id, 0, 30_000), data[:30_000])
    with make() as first:
        photo_service.record_offset(first, upload=first.get_one(Upload, upload_id), start=0, offset=30_000)
        first.commit()
    store.objects.put_bytes(PhotoStore.part_key(upload_id, 0, 10_000), data[:10_000])
    with make() as second, pytest.raises(UploadOffsetMismatch):
        photo_service.record_offset(second, upload=second.get_one(Upload, upload_id), start=0, offset=10_000)
    store.objects.put_bytes(PhotoStore.part_key(upload_id, 30_000, len(data)), data[30_000:])
    path, private = store.assembled(upload_id, len(data))
    try:
        assert private and path.read_bytes() == data
    finally:
        path.unlink()
    session.rollback()
    assert session.get_one(Upload, upload_id).offset == 30_000


def test_the_sweep_removes_from_the_bucket_what_no_row_owns(
    session: Session, s3_settings: Settings, app: FastAPI
) -> None:
    bank = make_bank(session)
    data = jpeg(640, 480, seed=304)
    with _node(s3_settings) as node:
        auth = login(node, bank.one.manager)
        photo_id = str(uuid.uuid4())
        kept = node.put(
            f"/api/v1/photos/{photo_id}",
            params={"visit_id": str(bank.one.visit.id), "item_key": "photo_overview", "sha256": sha256(data)},
            content=data,
            headers={**auth, "Content-Type": "image/jpeg"},
        )
        assert kept.status_code == 201, kept.text
    store = photo_service.photo_store(s3_settings)
    orphan = PhotoStore.original_key("ab" + "0" * 62)
    store.objects.put_bytes(orphan, b"left by a node that died before its row committed")
    stale_part = PhotoStore.part_key(uuid.uuid4(), 0, 4)
    store.objects.put_bytes(stale_part, b"half")
    written = max(listed.modified for listed in store.objects.listing(""))
    make = make_sessionmaker(app.state.engine)
    # Within the grace period nothing goes (a request may still be working on it)...
    with time_machine.travel(dt.datetime.fromtimestamp(written + 60, dt.UTC), tick=False):
        assert sweep_photo_store(make, s3_settings) == 0
    # ...after it, what no row owns goes, and the photo's own files stay.
    with time_machine.travel(dt.datetime.fromtimestamp(written + 2 * 3600, dt.UTC), tick=False):
        assert sweep_photo_store(make, s3_settings) == 2
    left = {listed.key for listed in store.objects.listing("")}
    assert orphan not in left and stale_part not in left
    assert PhotoStore.original_key(sha256(data)) in left
    assert PhotoStore.derived_key(sha256(data), "thumbnail") in left


def test_readiness_reports_a_bucket_it_cannot_reach(s3_settings: Settings) -> None:
    with _node(s3_settings) as node:
        ready = node.get("/api/health/ready")
        assert ready.status_code == 200 and ready.json()["checks"]["storage"] == "ok"
    with _node(s3_settings.model_copy(update={"s3_bucket": "no-such-bucket"})) as node:
        ready = node.get("/api/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["storage"].startswith("bucket unreachable")


def test_case_attachments_and_export_files_are_in_the_bucket_for_every_node(
    session: Session, s3_settings: Settings, app: FastAPI, tmp_path: Path
) -> None:
    """A case's attachment received by one node is downloaded from another; an export file made by a worker
    is served by any node; a backup holds the attachments (and restores them)."""
    bank = make_bank(session)
    other = s3_settings.model_copy(update={"photo_dir": tmp_path / "node-b"})
    report = documents.pdf()
    with _node(s3_settings) as node_a, _node(other) as node_b:
        manager_a = login(node_a, bank.one.manager)
        opened = node_a.put(
            f"/api/v1/cases/{uuid.uuid4()}",
            json={"kind": "restructuring", "borrower_id": str(bank.one.borrower.id),
                  "facility_id": str(bank.one.facility.id), "title": "贷款重组", "reason": "销售收入下降。",
                  "terms": {"repayment_plan": "分期", "grace_months": 6, "amount": "1000000"}},
            headers=manager_a,
        )  # fmt: skip
        assert opened.status_code == 201, opened.text
        attached = node_a.put(
            f"/api/v1/cases/{opened.json()['id']}/attachments/{uuid.uuid4()}",
            params={"filename": "财务报表.pdf", "sha256": sha256(report)},
            content=report,
            headers={**manager_a, "Content-Type": "application/pdf"},
        )
        assert attached.status_code == 201, attached.text
        download = node_b.get(attached.json()["url"], headers=login(node_b, bank.one.manager))
        assert download.status_code == 200 and download.content == report
        assert download.headers["content-disposition"].startswith("attachment")

        reviewer = login(node_a, bank.one.reviewer)
        asked = node_a.post("/api/v1/exports/jobs", json={"format": "csv", "filters": {}}, headers=reviewer)
        assert asked.status_code == 202, asked.text
        assert jobs.run_pending(make_sessionmaker(app.state.engine), other) == 1  # a worker on node B
        done = node_a.get(f"/api/v1/exports/jobs/{asked.json()['id']}", headers=reviewer).json()
        exported = node_a.get(done["download_url"].removeprefix("http://testserver"))
        assert exported.status_code == 200 and hashlib.sha256(exported.content).hexdigest() == done["sha256"]
    assert _files(s3_settings.photo_dir) == [] and _files(other.photo_dir) == []

    if not s3_settings.database_url.startswith("sqlite"):
        return  # the backup of a PostgreSQL instance with a bucket is tested under load in test_backup.py
    manifest = backups.backup(s3_settings, tmp_path / "backup", now=dt.datetime(2026, 11, 30, tzinfo=dt.UTC))
    kept = tmp_path / "backup" / "files" / documents_key(sha256(report))
    assert manifest.photo_files >= 1 and kept.read_bytes() == report
    restored = Settings(
        environment="test",
        database_url=f"sqlite:///{tmp_path / 'restored.db'}",
        photo_dir=tmp_path / "restored-photos",
        state_dir=tmp_path / "restored-state",
    )
    backups.restore(restored, tmp_path / "backup")
    assert (tmp_path / "restored-state" / documents_key(sha256(report))).read_bytes() == report


def test_migrate_makes_the_bucket_once(s3_settings: Settings) -> None:
    bucket = f"fv-{uuid.uuid4().hex[:12]}"
    env = {**instance_env(s3_settings), "FIELDVISIT_S3_BUCKET": bucket}
    get_settings.cache_clear()  # the command reads the environment
    try:
        first = CliRunner().invoke(main, ["migrate"], env=env)
        again = CliRunner().invoke(main, ["migrate"], env=env)
    finally:
        get_settings.cache_clear()
    assert first.exit_code == 0 and f"bucket {bucket} created" in first.output, first.output
    assert again.exit_code == 0 and f"bucket {bucket} is there" in again.output, again.output


@pytest.mark.real_clock
def test_a_crash_while_finishing_from_a_bucket_loses_only_the_last_request(
    session: Session, s3_settings: Settings
) -> None:
    """The request that brings the last byte writes no part: its bytes go from scratch into the photo, and the
    offset commits with the photo. Killed before that commit, the server has kept the earlier parts and the
    offset where they end; the phone sends the last chunk again, to any node, and the photo is kept once."""
    bank = make_bank(session)
    data = jpeg(1600, 1200, seed=305)
    photo_id = str(uuid.uuid4())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(server_env(s3_settings, FIELDVISIT_CRASH_AT="photo_finished_before_commit"), port)
    try:
        token = httpx.post(
            f"{base}/api/v1/auth/token", data={"username": bank.one.manager.username, "password": PASSWORD}
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}", **TUS}
        created = httpx.post(
            f"{base}/api/v1/uploads/",
            content=data[:60_000],
            headers={**auth, **DATA, **_creation(bank, photo_id, data)},
        )
        assert created.headers["Upload-Offset"] == "60000", created.text
        location = base + created.headers["Location"]
        with pytest.raises(httpx.TransportError):
            httpx.patch(location, content=data[60_000:], headers={**auth, **DATA, "Upload-Offset": "60000"})
        assert server.wait(timeout=10) == 137
    finally:
        server.kill()
        server.wait()
    session.rollback()
    assert session.scalar(select(Photo.id)) is None  # nothing was acknowledged

    other = s3_settings.model_copy(update={"photo_dir": s3_settings.photo_dir.parent / "node-b"})
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    location = base + created.headers["Location"]
    server = start_server(server_env(other), port)
    try:
        head = httpx.head(location, headers=auth)
        assert head.status_code == 200 and head.headers["Upload-Offset"] == "60000"
        rest = httpx.patch(
            location, content=data[60_000:], headers={**auth, **DATA, "Upload-Offset": "60000"}
        )
        assert rest.status_code == 204 and rest.headers["Fieldvisit-Photo-Id"] == photo_id, rest.text
        original = httpx.get(f"{base}/api/v1/photos/{photo_id}/original", headers=auth)
        assert original.content == data
    finally:
        server.kill()
        server.wait()
    store = photo_service.photo_store(s3_settings)
    assert list(store.objects.listing("uploads/")) == []


def test_a_bucket_that_is_down_is_an_outage_not_a_verdict(
    session: Session, s3_settings: Settings, app: FastAPI
) -> None:
    """The phone is answered 503 with Retry-After and nothing is kept; a photo whose derivatives cannot be
    made because the bucket is down stays waiting (never marked failed) and is made once it is back."""
    bank = make_bank(session)
    down = s3_settings.model_copy(update={"s3_endpoint_url": f"http://127.0.0.1:{free_port()}"})
    data = jpeg(800, 600, seed=306)
    photo_id = str(uuid.uuid4())
    query = {"visit_id": str(bank.one.visit.id), "item_key": "photo_overview", "sha256": sha256(data)}
    with _node(down) as node:
        auth = login(node, bank.one.manager)
        refused = node.put(
            f"/api/v1/photos/{photo_id}",
            params=query,
            content=data,
            headers={**auth, "Content-Type": "image/jpeg"},
        )
        assert refused.status_code == 503 and refused.json()["code"] == "storage_unavailable", refused.text
        assert refused.headers["retry-after"] == "10"
        created = node.post(
            "/api/v1/uploads/",
            headers={**auth, **TUS, **_creation(bank, photo_id, data)},
        )
        assert created.status_code == 201  # nothing stored yet: the bucket is not needed
        cut = node.patch(
            created.headers["location"],
            content=data[:30_000],
            headers={**auth, **TUS, **DATA, "Upload-Offset": "0"},
        )
        assert cut.status_code == 503 and cut.json()["code"] == "storage_unavailable"
        assert node.head(created.headers["location"], headers={**auth, **TUS}).headers["upload-offset"] == "0"
    session.rollback()
    assert session.scalar(select(Photo.id)) is None

    # Received while the bucket was up, with its derivatives left to a worker (the node does not make them).
    quiet = s3_settings.model_copy(update={"background_in_serve": False})
    with _node(quiet) as node:
        kept = node.put(
            f"/api/v1/photos/{photo_id}",
            params=query,
            content=data,
            headers={**login(node, bank.one.manager), "Content-Type": "image/jpeg"},
        )
        assert kept.status_code == 201, kept.text
    make = make_sessionmaker(app.state.engine)
    with pytest.raises(Exception) as outage:
        process_pending(make, down)
    assert storage_unavailable(outage.value)
    session.rollback()
    assert session.scalar(select(Photo.state).where(Photo.id == uuid.UUID(photo_id))) == PhotoState.received
    assert process_pending(make, s3_settings) == 1
    session.rollback()
    assert session.scalar(select(Photo.state).where(Photo.id == uuid.UUID(photo_id))) == PhotoState.processed


@pytest.mark.parametrize("store", ["folder", "s3"])
def test_a_body_past_upload_length_is_refused_and_nothing_moves(
    session: Session, settings: Settings, store: str, request: pytest.FixtureRequest
) -> None:
    bank = make_bank(session)
    node_settings = request.getfixturevalue("s3_settings") if store == "s3" else settings
    data = jpeg(800, 600, seed=307)
    with _node(node_settings) as node:
        auth = {**login(node, bank.one.manager), **TUS}
        created = node.post(
            "/api/v1/uploads/",
            content=data[:10_000],
            headers={**auth, **DATA, **_creation(bank, str(uuid.uuid4()), data)},
        )
        assert created.headers["upload-offset"] == "10000"
        location = created.headers["location"]
        too_long = node.patch(
            location,
            content=data[10_000:] + b"\x00" * 100,
            headers={**auth, **DATA, "Upload-Offset": "10000"},
        )
        assert too_long.status_code == 413, too_long.text
        assert node.head(location, headers=auth).headers["upload-offset"] == "10000"
        rest = node.patch(location, content=data[10_000:], headers={**auth, **DATA, "Upload-Offset": "10000"})
        assert rest.status_code == 204 and "fieldvisit-photo-id" in rest.headers
        kept = photo_service.photo_store(node_settings).objects
        assert kept.read_bytes(PhotoStore.original_key(sha256(data))) == data


def test_an_upload_whose_parts_are_gone_is_forgotten_so_the_phone_starts_again(
    session: Session, s3_settings: Settings
) -> None:
    """Parts removed from the bucket behind our back (by hand, or a bucket restored from an older copy): the
    last PATCH is answered 410 `upload_lost`, not a server error, and the upload is forgotten (HEAD 404), so a
    tus client creates a new one from the photo in its outbox."""
    bank = make_bank(session)
    data = jpeg(1024, 768, seed=308)
    photo_id = str(uuid.uuid4())
    with _node(s3_settings) as node:
        auth = {**login(node, bank.one.manager), **TUS}
        meta = _creation(bank, photo_id, data)
        created = node.post("/api/v1/uploads/", content=data[:40_000], headers={**auth, **DATA, **meta})
        location = created.headers["location"]
        store = photo_service.photo_store(s3_settings)
        store.objects.delete([listed.key for listed in store.objects.listing("uploads/")])
        lost = node.patch(location, content=data[40_000:], headers={**auth, **DATA, "Upload-Offset": "40000"})
        assert lost.status_code == 410 and lost.json()["code"] == "upload_lost", lost.text
        assert node.head(location, headers=auth).status_code == 404
        again = node.post("/api/v1/uploads/", content=data, headers={**auth, **DATA, **meta})
        assert again.status_code == 201 and again.headers["fieldvisit-photo-id"] == photo_id, again.text
    assert _files(s3_settings.photo_dir) == []


def test_a_local_partial_file_that_is_gone_is_the_same_410(
    client: TestClient, session: Session, settings: Settings
) -> None:
    bank = make_bank(session)
    data = jpeg(1024, 768, seed=309)
    auth = {**login(client, bank.one.manager), **TUS}
    meta = _creation(bank, str(uuid.uuid4()), data)
    created = client.post("/api/v1/uploads/", content=data[:40_000], headers={**auth, **DATA, **meta})
    location = created.headers["location"]
    upload_id = uuid.UUID(location.rsplit("/", 1)[1])
    (settings.photo_dir / PhotoStore.upload_key(upload_id)).unlink()
    lost = client.patch(location, content=data[40_000:], headers={**auth, **DATA, "Upload-Offset": "40000"})
    assert lost.status_code == 410 and lost.json()["code"] == "upload_lost", lost.text
    assert client.head(location, headers=auth).status_code == 404
