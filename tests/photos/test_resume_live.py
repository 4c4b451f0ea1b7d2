"""A real server, a real socket cut halfway through a PATCH: the bytes that arrived are kept and the
upload resumes from there."""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx2 as httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.config import Settings
from api.photos.models import Photo, Upload
from tests.factories import PASSWORD, Bank, make_bank
from tests.photos.images import jpeg, sha256


@pytest.fixture
def live_server(app: FastAPI, session: Session) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the test server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _signed_in(http: httpx.Client, bank: Bank, photo_id: str, data: bytes) -> tuple[dict[str, str], str]:
    """The manager's tus headers, and the photo's `Upload-Metadata`."""
    token = http.post(
        "/api/v1/auth/token", data={"username": bank.one.manager.username, "password": PASSWORD}
    )
    auth = {"Authorization": f"Bearer {token.json()['access_token']}", "Tus-Resumable": "1.0.0"}
    meta = {
        "photo_id": photo_id, "visit_id": str(bank.one.visit.id), "item_key": "photo_overview",
        "content_type": "image/jpeg", "sha256": sha256(data),
    }  # fmt: skip
    return auth, ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items())


def _send_half_and_vanish(live_server: str, request_line: str, headers: dict[str, str], data: bytes) -> None:
    """Send the request's headers (announcing all of `data`) and half its body on a raw socket, then vanish
    like a phone in a lift."""
    host, port = live_server.removeprefix("http://").split(":")
    lines = [f"{request_line} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += ["Content-Type: application/offset+octet-stream", f"Content-Length: {len(data)}"]
    with socket.create_connection((host, int(port))) as raw:
        raw.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + data[: len(data) // 2])
        time.sleep(0.3)


def test_a_patch_cut_halfway_keeps_what_arrived_and_resumes(live_server: str, session: Session) -> None:
    bank = make_bank(session)
    data = jpeg(2400, 1800, seed=11)  # a few hundred KB
    photo_id = "0b6a6b1e-5a0c-4d7e-8f3e-000000000001"
    with httpx.Client(base_url=live_server, timeout=10) as http:
        auth, encoded = _signed_in(http, bank, photo_id, data)
        created = http.post(
            "/api/v1/uploads/", headers={**auth, "Upload-Length": str(len(data)), "Upload-Metadata": encoded}
        )
        location = created.headers["Location"]

        half = len(data) // 2
        _send_half_and_vanish(live_server, f"PATCH {location}", {**auth, "Upload-Offset": "0"}, data)
        offset = 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            offset = int(http.head(location, headers=auth).headers["Upload-Offset"])
            if offset:
                break
            time.sleep(0.05)
        assert 0 < offset <= half, offset

        rest = http.patch(
            location,
            content=data[offset:],
            headers={**auth, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
        )
        assert rest.status_code == 204, rest.text
        assert rest.headers["Fieldvisit-Photo-Id"] == photo_id
        original = http.get(f"/api/v1/photos/{photo_id}/original", headers=auth)
        assert hashlib.sha256(original.content).hexdigest() == sha256(data)


def test_a_slow_photo_upload_locks_nobody_out(live_server: str, session: Session) -> None:
    """While a phone is still sending a photo (PUT or a tus PATCH), other people can write: on SQLite a
    write transaction locks the whole database, so none may be open while bytes trickle in."""
    bank = make_bank(session)
    data = jpeg(1200, 900, seed=12)
    release = threading.Event()
    answers: list[int] = []

    def trickle() -> Iterator[bytes]:
        yield data[:1000]
        release.wait(timeout=60)
        yield data[1000:]

    with httpx.Client(base_url=live_server, timeout=90) as http:
        token = http.post(
            "/api/v1/auth/token", data={"username": bank.one.manager.username, "password": PASSWORD}
        ).json()["access_token"]

        def upload() -> None:
            answer = http.put(
                "/api/v1/photos/0b6a6b1e-5a0c-4d7e-8f3e-000000000002",
                params={
                    "visit_id": str(bank.one.visit.id),
                    "item_key": "photo_overview",
                    "sha256": sha256(data),
                },
                content=trickle(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"},
            )
            answers.append(answer.status_code)

        uploader = threading.Thread(target=upload)
        uploader.start()
        time.sleep(0.5)  # the first bytes are in; the phone is "slow"
        try:
            with httpx.Client(base_url=live_server, timeout=60) as other:
                signed_in = other.post(
                    "/api/v1/auth/token", data={"username": bank.one.reviewer.username, "password": PASSWORD}
                )
            assert signed_in.status_code == 200, signed_in.text
        finally:
            release.set()
            uploader.join()
    assert answers == [201]


def test_a_creation_cut_while_it_carries_the_whole_photo_leaves_nothing(
    live_server: str, session: Session, settings: Settings
) -> None:
    """The photo whole in its creation is received before anything is written: cut halfway, the server has
    no upload and no photo (the phone never heard of an upload, and creates it again with the photo it
    kept), and no scratch file."""
    bank = make_bank(session)
    data = jpeg(1600, 1200, seed=12)
    photo_id = "0b6a6b1e-5a0c-4d7e-8f3e-000000000002"
    scratch = settings.photo_dir / "tmp"
    before = set(scratch.iterdir()) if scratch.exists() else set()
    with httpx.Client(base_url=live_server, timeout=10) as http:
        auth, encoded = _signed_in(http, bank, photo_id, data)
        _send_half_and_vanish(
            live_server,
            "POST /api/v1/uploads/",
            {**auth, "Upload-Length": str(len(data)), "Upload-Metadata": encoded},
            data,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and set(scratch.iterdir()) - before:
            time.sleep(0.05)
        assert not set(scratch.iterdir()) - before
        session.rollback()
        assert session.scalar(select(func.count()).select_from(Upload)) == 0
        assert session.scalar(select(func.count()).select_from(Photo)) == 0

        again = http.post(
            "/api/v1/uploads/",
            content=data,
            headers={
                **auth,
                "Upload-Length": str(len(data)),
                "Upload-Metadata": encoded,
                "Content-Type": "application/offset+octet-stream",
            },
        )
        assert again.status_code == 201 and again.headers["Fieldvisit-Photo-Id"] == photo_id, again.text
        original = http.get(f"/api/v1/photos/{photo_id}/original", headers=auth)
        assert hashlib.sha256(original.content).hexdigest() == sha256(data)
