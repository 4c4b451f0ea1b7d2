"""`fieldvisit backup` while a phone keeps submitting to a live server, then `fieldvisit restore` into an empty
instance: every inspection acknowledged before the backup began is there, every photo row has its original
with the same SHA-256, and the restored instance serves them. Restoring over data, or from an interrupted
backup, is refused."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.orm import Session

from api import backup as backups
from api.cli import main
from api.config import Settings, get_settings
from api.object_store import object_store
from api.photos.storage import PhotoStore
from tests.conftest import _postgres_database
from tests.factories import PASSWORD, make_bank
from tests.live import free_port, instance_env, server_env, start_server
from tests.sync.helpers import capture_photos, submission_body

pytestmark = pytest.mark.real_clock
NOW = dt.datetime(2026, 11, 30, 4, 0, tzinfo=dt.UTC)
S3_FIELDS = ("s3_bucket", "s3_endpoint_url", "s3_access_key_id", "s3_secret_access_key")


def _serve(settings: Settings, port: int) -> object:
    return start_server(server_env(settings), port)


@pytest.fixture
def empty_instance(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Another instance of the same kind, with an empty database and photo folder."""
    base = {"environment": "test", "photo_dir": tmp_path / "restored-photos", "state_dir": tmp_path / "state"}
    if settings.database_url.startswith("sqlite"):
        yield Settings(database_url=f"sqlite:///{tmp_path / 'restored.db'}", **base)  # type: ignore[arg-type]
    else:
        for url in _postgres_database():
            yield Settings(database_url=url, **base)  # type: ignore[arg-type]


class Phone(threading.Thread):
    """Submits inspections (three photos, then the submission) until stopped; notes when each was acknowledged."""

    def __init__(self, base: str, token: str, visit_id: uuid.UUID) -> None:
        super().__init__(daemon=True)
        self.base, self.visit_id = base, visit_id
        self.headers = {"Authorization": f"Bearer {token}"}
        self.acknowledged: list[tuple[float, str, list[str]]] = []  # (when, submission id, photo hashes)
        self.stop = threading.Event()
        self.failures: list[str] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.base, headers=self.headers, timeout=30) as http:
            seed = 0
            while not self.stop.is_set():
                seed += 1
                photos = capture_photos(seed=500 + seed)
                for photo in photos:
                    answer = http.put(
                        f"/api/v1/photos/{photo.id}",
                        params={
                            "visit_id": str(self.visit_id),
                            "item_key": photo.item_key,
                            "sha256": photo.sha256,
                        },
                        content=photo.data,
                        headers={"Content-Type": "image/jpeg"},
                    )
                    if answer.status_code not in (200, 201):
                        self.failures.append(answer.text)
                submission_id = str(uuid.uuid4())
                answer = http.put(
                    f"/api/v1/visits/{self.visit_id}/submissions/{submission_id}",
                    json=submission_body(photos),
                )
                if answer.status_code == 201:
                    self.acknowledged.append((time.monotonic(), submission_id, [p.sha256 for p in photos]))
                else:
                    self.failures.append(answer.text)


@pytest.mark.parametrize("storage", ["folder", "s3"])
def test_a_backup_under_load_restores_whole(
    session: Session,
    settings: Settings,
    empty_instance: Settings,
    tmp_path: Path,
    storage: str,
    request: pytest.FixtureRequest,
) -> None:
    """With photos in a bucket the order is the same: `pg_dump` (or SQLite's backup), then the bucket."""
    if storage == "s3":
        settings = request.getfixturevalue("s3_settings")
        empty_instance = empty_instance.model_copy(
            update={name: getattr(settings, name) for name in S3_FIELDS}
            | {"s3_prefix": settings.s3_prefix + "restored/"}
        )
    bank = make_bank(session)
    port = free_port()
    server = _serve(settings, port)
    base = f"http://127.0.0.1:{port}"
    try:
        token = httpx.post(
            f"{base}/api/v1/auth/token", data={"username": bank.one.manager.username, "password": PASSWORD}
        ).json()["access_token"]
        phone = Phone(base, token, bank.one.visit.id)
        phone.start()
        while len(phone.acknowledged) < 3:
            time.sleep(0.05)
        began = time.monotonic()
        manifest = backups.backup(settings, tmp_path / "backup", now=NOW)
        while len(phone.acknowledged) < len([a for a in phone.acknowledged if a[0] < began]) + 3:
            time.sleep(0.05)  # the phone went on while the backup ran and after
        phone.stop.set()
        phone.join(timeout=30)
    finally:
        server.kill()  # type: ignore[attr-defined]
        server.wait()  # type: ignore[attr-defined]
    assert not phone.failures, phone.failures[:3]
    assert manifest.photo_files > 0 and (tmp_path / "backup" / "manifest.json").exists()
    before = [a for a in phone.acknowledged if a[0] < began]

    get_settings.cache_clear()  # the command reads the environment below
    result = CliRunner().invoke(
        main,
        ["restore", str(tmp_path / "backup")],
        env=instance_env(empty_instance),
    )
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    engine = sa.create_engine(empty_instance.database_url)
    try:
        with engine.connect() as conn:
            kept = set(conn.execute(sa.text("SELECT CAST(id AS VARCHAR(36)) FROM submission")).scalars())
            rows = conn.execute(sa.text("SELECT sha256 FROM photo")).scalars().all()
    finally:
        engine.dispose()
    assert {str(uuid.UUID(s)) for s in kept} >= {submission_id for _, submission_id, _ in before}
    assert rows, "the restored instance holds no photos"
    restored_photos = object_store(empty_instance)
    for sha in rows:  # every photo the database names is kept, with its bytes
        original = restored_photos.read_bytes(PhotoStore.original_key(sha))
        assert hashlib.sha256(original).hexdigest() == sha

    # The restored instance serves what the phone was told was saved.
    port = free_port()
    restored = _serve(empty_instance, port)
    try:
        auth = {
            "Authorization": "Bearer "
            + httpx.post(
                f"http://127.0.0.1:{port}/api/v1/auth/token",
                data={"username": bank.one.manager.username, "password": PASSWORD},
            ).json()["access_token"]
        }
        _, submission_id, hashes = before[0]
        body = httpx.get(f"http://127.0.0.1:{port}/api/v1/submissions/{submission_id}", headers=auth).json()
        assert body["state"] == "complete"
        photo_id = body["body"]["photos"][0]["id"]
        original = httpx.get(f"http://127.0.0.1:{port}/api/v1/photos/{photo_id}/original", headers=auth)
        assert original.status_code == 200 and hashlib.sha256(original.content).hexdigest() in hashes
    finally:
        restored.kill()  # type: ignore[attr-defined]
        restored.wait()  # type: ignore[attr-defined]

    # Restoring again over what is now there is refused, and so is a backup that never finished.
    with pytest.raises(backups.BackupRefused):
        backups.restore(empty_instance, tmp_path / "backup")
    (tmp_path / "half").mkdir()
    with pytest.raises(backups.BackupRefused):
        backups.restore(empty_instance, tmp_path / "half")
    with pytest.raises(backups.BackupRefused):
        backups.backup(settings, tmp_path / "backup", now=NOW)  # not into a folder that holds something


def test_an_in_memory_database_cannot_be_backed_up(tmp_path: Path) -> None:
    settings = Settings(
        environment="test", database_url="sqlite://", photo_dir=tmp_path / "p", state_dir=tmp_path
    )
    with pytest.raises(backups.BackupRefused):
        backups.backup(settings, tmp_path / "backup", now=NOW)
