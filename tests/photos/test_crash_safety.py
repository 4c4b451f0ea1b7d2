"""A real server killed at a chosen point while finishing a photo, a lost last answer, orphans swept,
bad device metadata refused before a byte is sent, and a taken port refused."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

import httpx2 as httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.cli import main
from api.config import Settings
from api.photos import service as photo_service
from api.photos.models import Photo, Upload
from api.ticks import sweep_photo_store
from tests.factories import PASSWORD, Bank, login, make_bank
from tests.live import free_port, server_env, start_server
from tests.photos.images import jpeg, sha256

pytestmark = pytest.mark.real_clock
TUS = {"Tus-Resumable": "1.0.0"}
# A file's time older than any sweep's grace, whatever the clock says now (2020-01-01T00:00Z).
LONG_AGO = 1_577_836_800.0


def _serve(settings: Settings, port: int, **env: str) -> subprocess.Popen[bytes]:
    return start_server(server_env(settings, **env), port)


def _manager_auth(base: str, bank: Bank) -> tuple[str, dict[str, str]]:
    token = httpx.post(
        f"{base}/api/v1/auth/token", data={"username": bank.one.manager.username, "password": PASSWORD}
    ).json()["access_token"]
    return str(token), {"Authorization": f"Bearer {token}", **TUS}


def _metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def test_a_crash_while_finishing_is_redone_by_the_next_request(session: Session, settings: Settings) -> None:
    bank = make_bank(session)
    data = jpeg(1600, 1200, seed=21)
    photo_id = "5e1d7a52-8d4e-4f7b-9a55-00000000c0de"
    port = free_port()
    server = _serve(settings, port, FIELDVISIT_CRASH_AT="photo_finished_before_commit")
    base = f"http://127.0.0.1:{port}"
    try:
        _token, auth = _manager_auth(base, bank)
        created = httpx.post(
            f"{base}/api/v1/uploads/",
            headers={
                **auth,
                "Upload-Length": str(len(data)),
                "Upload-Metadata": _metadata(
                    photo_id=photo_id,
                    visit_id=str(bank.one.visit.id),
                    item_key="photo_overview",
                    content_type="image/jpeg",
                    sha256=sha256(data),
                ),
            },
        )
        location = base + created.headers["Location"]
        with pytest.raises(httpx.TransportError):
            httpx.patch(
                location,
                content=data,
                headers={**auth, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
            )
        assert server.wait(timeout=10) == 137
    finally:
        server.kill()
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Photo)) == 0  # nothing was acknowledged

    server = _serve(settings, port)
    try:
        head = httpx.head(location, headers=auth)
        assert head.status_code == 200
        assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == str(len(data))
        assert head.headers["Fieldvisit-Photo-Id"] == photo_id
        again = httpx.patch(
            location,
            content=b"",
            headers={
                **auth,
                "Upload-Offset": str(len(data)),
                "Content-Type": "application/offset+octet-stream",
            },
        )
        assert again.status_code == 204 and again.headers["Upload-Offset"] == str(len(data))
        original = httpx.get(f"{base}/api/v1/photos/{photo_id}/original", headers=auth)
        assert sha256(original.content) == sha256(data)
    finally:
        server.kill()
        server.wait()
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Photo)) == 1
    # This upload's partial file went with the commit (the photo folder is shared by the whole session).
    upload_id = uuid.UUID(location.rsplit("/", 1)[1])
    assert not (settings.photo_dir / "uploads" / f"{upload_id.hex}.part").exists()


@pytest.mark.parametrize("accuracy", ["inf", "nan", "1e999", "-5", "-inf"])
def test_non_finite_or_negative_fix_accuracy_is_refused_and_nothing_kept(
    client: TestClient, session: Session, settings: Settings, accuracy: str
) -> None:
    bank = make_bank(session)
    headers = login(client, bank.one.manager)
    data = jpeg(seed=4)
    before = sorted((settings.photo_dir).rglob("*"))
    put = client.put(
        "/api/v1/photos/7d0e7f9c-52f4-4c55-9a6e-1a9a4b1f00a1",
        params={"visit_id": str(bank.one.visit.id), "item_key": "photo_overview", "sha256": sha256(data),
                "fix_lat": "31.2", "fix_lon": "121.4", "fix_accuracy": accuracy},
        content=data,
        headers={**headers, "Content-Type": "image/jpeg"},
    )  # fmt: skip
    assert 400 <= put.status_code < 500 and put.headers["content-type"] == "application/problem+json"
    created = client.post(
        "/api/v1/uploads/",
        headers={**headers, **TUS, "Upload-Length": str(len(data)),
                 "Upload-Metadata": _metadata(photo_id="7d0e7f9c-52f4-4c55-9a6e-1a9a4b1f00a2",
                                              visit_id=str(bank.one.visit.id), item_key="photo_overview",
                                              content_type="image/jpeg", sha256=sha256(data),
                                              fix_lat="31.2", fix_lon="121.4", fix_accuracy=accuracy)},
    )  # fmt: skip
    assert 400 <= created.status_code < 500
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Photo)) == 0
    assert session.scalar(select(func.count()).select_from(Upload)) == 0
    assert sorted((settings.photo_dir).rglob("*")) == before


def test_a_type_we_never_accept_is_refused_at_creation(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    data = jpeg(seed=5)
    created = client.post(
        "/api/v1/uploads/",
        headers={**login(client, bank.one.manager), **TUS, "Upload-Length": str(40 * 1024 * 1024),
                 "Upload-Metadata": _metadata(photo_id="7d0e7f9c-52f4-4c55-9a6e-1a9a4b1f00a3",
                                              visit_id=str(bank.one.visit.id), item_key="photo_overview",
                                              content_type="application/x-msdownload", sha256=sha256(data))},
    )  # fmt: skip
    assert created.status_code == 415 and created.json()["code"] == "unsupported_media_type"


def test_orphans_are_swept_and_owned_files_kept(session: Session, settings: Settings, app: object) -> None:
    bank = make_bank(session)
    store = photo_service.photo_store(settings)
    store.prepare()
    orphan = settings.photo_dir / store.original_key("ab" + "0" * 62)
    orphan.write_bytes(b"left by a crash")
    part = settings.photo_dir / "uploads" / "0123456789abcdef0123456789abcdef.part"
    part.write_bytes(b"half")
    fresh = settings.photo_dir / store.original_key("ab" + "1" * 62)
    fresh.write_bytes(b"a request is still working on me")
    old = LONG_AGO
    for path in (orphan, part):
        os.utime(path, (old, old))
    from api.db import make_sessionmaker

    swept = sweep_photo_store(make_sessionmaker(app.state.engine), settings)  # type: ignore[attr-defined]
    assert swept == 2 and not orphan.exists() and not part.exists() and fresh.exists()
    fresh.unlink()
    assert bank.one.visit.id


def test_a_second_serve_on_a_taken_port_is_refused() -> None:
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", "--port", str(port), "--workers", "2"])
    assert result.exit_code != 0 and "already in use" in result.output and "--join" in result.output


def test_a_server_killed_mid_patch_resumes_near_where_it_was(session: Session, settings: Settings) -> None:
    """8 MB of a 10 MB photo reach the disk, then the server dies (SIGKILL): HEAD answers the progress
    recorded on the way, not 0."""
    bank = make_bank(session)
    length = 10 * 1024 * 1024
    port = free_port()
    server = _serve(settings, port)
    base = f"http://127.0.0.1:{port}"
    try:
        token, auth = _manager_auth(base, bank)
        created = httpx.post(
            f"{base}/api/v1/uploads/",
            headers={**auth, "Upload-Length": str(length), "Upload-Metadata": _metadata(
                photo_id=str(uuid.uuid4()), visit_id=str(bank.one.visit.id), item_key="photo_overview",
                content_type="image/jpeg", sha256="0" * 64)},
        )  # fmt: skip
        location = created.headers["Location"]
        with socket.create_connection(("127.0.0.1", port)) as raw:
            raw.sendall(
                (
                    f"PATCH {location} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                    f"Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
                    f"Content-Length: {length}\r\n\r\n"
                ).encode()
            )
            raw.sendall(b"\xab" * (9 * 1024 * 1024))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                session.rollback()
                if (session.scalar(select(func.max(Upload.offset))) or 0) >= 8 * 1024 * 1024:
                    break
                time.sleep(0.1)
            server.kill()
            server.wait()
    finally:
        server.kill()
    server = _serve(settings, port)
    try:
        head = httpx.head(f"{base}{location}", headers=auth)
        assert head.status_code == 200
        assert int(head.headers["Upload-Offset"]) >= 8 * 1024 * 1024
    finally:
        server.kill()
        server.wait()


def test_a_long_running_process_sweeps_once_an_hour(
    session: Session, settings: Settings, app: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep lists every stored file: the tick inside `serve` or a worker does it once an hour, not every
    five minutes (nothing younger than an hour is swept anyway)."""
    from api import ticks
    from api.db import make_sessionmaker

    make_bank(session)
    make = make_sessionmaker(app.state.engine)  # type: ignore[attr-defined]
    store = photo_service.photo_store(settings)
    store.prepare()
    old = LONG_AGO

    def orphan(n: int) -> Path:
        path = settings.photo_dir / store.original_key(f"cd{n:062d}")
        path.write_bytes(b"left by a crash")
        os.utime(path, (old, old))
        return path

    monkeypatch.setattr(ticks, "_swept_at", {})
    first = orphan(1)
    assert ticks.tick(make, settings).files_swept == 1 and not first.exists()
    second = orphan(2)
    assert ticks.tick(make, settings).files_swept == 0 and second.exists()
    monkeypatch.setattr(ticks, "SWEEP_EVERY_SECONDS", 0.0)
    assert ticks.tick(make, settings).files_swept == 1 and not second.exists()
