"""tus-js-client — the tus project's JavaScript client, which the field app is to adopt — against a real
server: a plain upload, a resume after the last answer was lost (it asks HEAD, hears every byte arrived,
stops), and creating an upload for a photo the server already holds (it ends cleanly, no 405)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx2 as httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.photos.models import Photo
from tests.factories import PASSWORD, Bank, make_bank
from tests.photos.images import jpeg, sha256
from tests.photos.test_resume_live import live_server  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = Path(__file__).with_name("tus_js_client.mjs")


def _node_ready() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (ROOT / "node_modules" / "tus-js-client").is_dir():
        return "node_modules/tus-js-client is missing (make installs it with npm ci)"
    return None


def _upload(
    base: str, token: str, path: Path, metadata: dict[str, str], url: str | None = None, *, stack: str
) -> dict[str, object]:
    args = ["node", str(SCRIPT), f"{base}/api/v1/uploads/", token, str(path), json.dumps(metadata)]
    env = {**os.environ, "FIELDVISIT_FETCH_STACK": "1" if stack == "fetch" else "0"}
    done = subprocess.run(
        [*args, *([url] if url else [])], capture_output=True, text=True, timeout=60, cwd=ROOT, env=env
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _metadata(bank: Bank, data: bytes, photo_id: str) -> dict[str, str]:
    return {
        "photo_id": photo_id, "visit_id": str(bank.one.visit.id), "item_key": "photo_overview",
        "filetype": "image/jpeg", "sha256": sha256(data),
    }  # fmt: skip


@pytest.mark.parametrize("stack", ["node", "fetch"])
def test_tus_js_client_ends_cleanly_in_every_case(
    live_server: str,  # noqa: F811
    session: Session,
    tmp_path: Path,
    stack: str,
) -> None:
    """`fetch`: the field app's own build over its fetch transport, as the service worker sends photos."""
    missing = _node_ready()
    if stack == "fetch" and not (ROOT / "pwa" / "vendor" / "tus.js").exists():
        missing = "pwa/vendor/tus.js is missing (make assets builds it)"
    if missing:
        pytest.fail(missing)
    bank = make_bank(session)
    token = httpx.post(
        f"{live_server}/api/v1/auth/token", data={"username": bank.one.manager.username, "password": PASSWORD}
    ).json()["access_token"]
    data = jpeg(1600, 1200, seed=41)
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    photo_id = str(uuid.uuid4())

    first = _upload(live_server, token, path, _metadata(bank, data, photo_id), stack=stack)
    assert first["ok"], first
    session.rollback()
    assert session.scalar(select(Photo.sha256).where(Photo.id == uuid.UUID(photo_id))) == sha256(data)

    # The last answer was lost: the client resumes with the upload URL it kept.
    resumed = _upload(
        live_server, token, path, _metadata(bank, data, photo_id), url=str(first["url"]), stack=stack
    )
    assert resumed["ok"], resumed

    # A fresh creation for the photo the server already holds.
    again = _upload(live_server, token, path, _metadata(bank, data, photo_id), stack=stack)
    assert again["ok"], again
    session.rollback()
    assert session.scalar(select(Photo.sha256).where(Photo.id == uuid.UUID(photo_id))) == sha256(data)
