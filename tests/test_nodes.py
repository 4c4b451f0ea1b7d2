"""Several nodes on one PostgreSQL: two `fieldvisit serve` nodes that only ingest and two `fieldvisit worker`s
making the derivatives, eight phones spread over both nodes; one node SIGKILLed in the middle of an upload and
the phones going on with the other node — tus uploads resumed there from the offset the dead node committed,
submissions sent again under their ids — and one worker dying while it holds a photo, just before committing
its derivatives; a consumer follows the change feed throughout.

Then: every acknowledged inspection is there once, every photo's bytes hash to what the phone said, every
photo has its derivatives within a minute (the dead worker's photo made by the other), and the feed the
consumer read has every change once, in order, without a gap."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import func
from sqlalchemy.orm import Session
from sqlmodel import col, select

from api.auth.models import Role
from api.config import Settings
from api.photos.models import Photo, PhotoState
from api.sync.models import ChangeLog, Submission
from tests.factories import (
    PASSWORD,
    make_borrower,
    make_branch,
    make_collateral,
    make_facility,
    make_published_template,
    make_user,
    make_visit,
)
from tests.live import free_port, server_env, start_server
from tests.photos.images import jpeg
from tests.sync.helpers import CapturedPhoto, now_in_shanghai_exif, submission_body

pytestmark = pytest.mark.real_clock

PHONES = 8
VISITS_PER_PHONE = 3
CHUNK = 16 * 1024  # a ~50 KB photo goes in four PATCHes, so a node dies in the middle of some
TUS = {"Tus-Resumable": "1.0.0"}


@dataclass
class Cluster:
    nodes: list[str]
    kill_now: threading.Event = field(default_factory=threading.Event)
    killed: threading.Event = field(default_factory=threading.Event)


@dataclass
class Phone:
    cluster: Cluster
    index: int
    node: int  # which node this phone talks to, until that one stops answering
    username: str
    visits: list[uuid.UUID]
    triggers_the_kill: bool = False
    auth: dict[str, str] = field(default_factory=dict)
    acknowledged: list[tuple[uuid.UUID, list[CapturedPhoto]]] = field(default_factory=list)
    resumed_mid_upload: int = 0
    moved: int = 0

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request to this phone's node; a node that stops answering moves the phone to the other one
        (the TransportError is raised for the caller to redo its step there)."""
        try:
            return httpx.request(method, self.cluster.nodes[self.node] + path, timeout=30, **kwargs)
        except httpx.TransportError:
            self.node = 1 - self.node
            self.moved += 1
            raise

    def run(self) -> None:
        while True:
            try:
                answer = self._send(
                    "POST", "/api/v1/auth/token", data={"username": self.username, "password": PASSWORD}
                )
                break
            except httpx.TransportError:
                continue
        self.auth = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        for number, visit_id in enumerate(self.visits):
            taken = now_in_shanghai_exif()
            photos = [
                CapturedPhoto(
                    str(uuid.uuid4()),
                    key,
                    jpeg(
                        1024,
                        768,
                        seed=1000 * self.index + 10 * number + n,
                        gps=(31.2304, 121.4737),
                        taken=taken,
                        offset="+08:00",
                    ),
                )
                for n, key in enumerate(["photo_overview", "photo_overview", "photo_identifier"])
            ]
            for n, photo in enumerate(photos):
                self._upload(visit_id, photo, pause_midway=self.triggers_the_kill and number == 1 and n == 0)
            submission_id = uuid.uuid4()
            body = submission_body(photos)
            while True:
                try:
                    answer = self._send(
                        "PUT",
                        f"/api/v1/visits/{visit_id}/submissions/{submission_id}",
                        json=body,
                        headers=self.auth,
                    )
                    break
                except httpx.TransportError:
                    continue  # sent again, under the same id, to the node still alive
            assert answer.status_code in (200, 201), answer.text
            assert answer.json()["state"] == "complete", answer.text
            self.acknowledged.append((submission_id, photos))

    def _upload(self, visit_id: uuid.UUID, photo: CapturedPhoto, *, pause_midway: bool) -> None:
        data = photo.data
        metadata = {
            "photo_id": photo.id,
            "visit_id": str(visit_id),
            "item_key": photo.item_key,
            "content_type": "image/jpeg",
            "sha256": photo.sha256,
        }
        creation = {
            **self.auth,
            **TUS,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": ",".join(
                f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in metadata.items()
            ),
        }
        location: str | None = None
        while True:
            try:
                if location is None:
                    # Asked again after a lost answer, the creation hands back the upload the phone has.
                    created = self._send("POST", "/api/v1/uploads/", headers=creation)
                    assert created.status_code == 201, created.text
                    location, offset = created.headers["Location"], int(created.headers["Upload-Offset"])
                else:
                    head = self._send("HEAD", location, headers={**self.auth, **TUS})
                    assert head.status_code == 200, head.status_code
                    offset = int(head.headers["Upload-Offset"])
                    if 0 < offset < len(data):
                        self.resumed_mid_upload += 1
                while offset < len(data):
                    if pause_midway and offset > 0:
                        pause_midway = False
                        self.cluster.kill_now.set()  # this upload is half-way through on its node
                        assert self.cluster.killed.wait(30)
                    answer = self._send(
                        "PATCH",
                        location,
                        content=data[offset : offset + CHUNK],
                        headers={
                            **self.auth,
                            **TUS,
                            "Upload-Offset": str(offset),
                            "Content-Type": "application/offset+octet-stream",
                        },
                    )
                    assert answer.status_code == 204, answer.text
                    offset = int(answer.headers["Upload-Offset"])
                return
            except httpx.TransportError:
                continue


class FeedReader(threading.Thread):
    """A consumer following the change feed the whole time, on whichever node answers."""

    def __init__(self, cluster: Cluster, auth: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.cluster, self.auth = cluster, auth
        self.node = 0
        self.after = 0
        self.seen: list[dict[str, Any]] = []
        self.stop = threading.Event()

    def read_once(self) -> int:
        try:
            page = httpx.get(
                f"{self.cluster.nodes[self.node]}/api/v1/changes",
                params={"after": self.after, "limit": 50},
                headers=self.auth,
                timeout=30,
            )
        except httpx.TransportError:
            self.node = 1 - self.node
            return -1
        assert page.status_code == 200, page.text
        body = page.json()
        self.seen.extend(body["items"])
        self.after = body["next_after"]
        return len(body["items"])

    def run(self) -> None:
        while not self.stop.is_set():
            self.read_once()
            time.sleep(0.2)


@contextmanager
def _processes(
    settings: Settings, log_dir: Path, *, own_folders: bool
) -> Iterator[tuple[list[subprocess.Popen[bytes]], list[str]]]:
    """Two API nodes with no background work of their own, then two workers doing it; their output in
    `log_dir` for a failure's post-mortem. With `own_folders` (photos in a bucket) each process has a scratch
    folder of its own and shares nothing but the database and the bucket."""
    processes: list[subprocess.Popen[bytes]] = []

    def own(name: str) -> dict[str, str]:
        return {"FIELDVISIT_PHOTO_DIR": str(log_dir / name)} if own_folders else {}

    with ExitStack() as logs:
        try:
            ports = [free_port(), free_port()]
            for port in ports:
                node_env = server_env(settings, FIELDVISIT_BACKGROUND_IN_SERVE="false", **own(f"node-{port}"))
                log = logs.enter_context(open(log_dir / f"node-{port}.log", "wb"))
                processes.append(start_server(node_env, port, stderr=log))
            worker_env = server_env(
                settings,
                FIELDVISIT_JOB_POLL_SECONDS="0.5",
                FIELDVISIT_BACKGROUND_TICK_SECONDS="2",
                FIELDVISIT_AUDIT_SEAL_SECONDS="1",
                FIELDVISIT_LOG_FORMAT="text",
            )
            for n in range(2):
                log = logs.enter_context(open(log_dir / f"worker-{n}.log", "wb"))
                # The first worker dies holding the first photo it takes, its derivatives made, not committed.
                crash = {"FIELDVISIT_CRASH_AT": "photo_derivatives_before_commit"} if n == 0 else {}
                command = [sys.executable, "-m", "api.cli", "worker"]
                env = {**worker_env, **crash, **own(f"worker-{n}")}
                processes.append(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log))
            yield processes, [f"http://127.0.0.1:{port}" for port in ports]
        finally:
            for process in processes:
                process.kill()
                process.wait(timeout=30)


def _wait(predicate: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@pytest.mark.parametrize("storage", ["shared folder", "s3"])
def test_two_nodes_and_two_workers_lose_nothing_when_one_of_each_is_killed_mid_upload(
    session: Session,
    settings: Settings,
    db_kind: str,
    tmp_path: Path,
    storage: str,
    request: pytest.FixtureRequest,
) -> None:
    """Run with the photos in a folder all nodes share (a volume, NFS), and in a bucket, where the nodes share
    nothing but the database and the bucket: a partial upload is resumed on the other node from its parts."""
    if db_kind != "postgresql":
        pytest.skip("several nodes share a PostgreSQL server (SQLite is one machine's file)")
    if storage == "s3":
        settings = request.getfixturevalue("s3_settings")
    branch = make_branch(session)
    reviewer = make_user(session, branch=branch, role=Role.reviewer)
    version = make_published_template(session)
    managers = [make_user(session, branch=branch) for _ in range(PHONES)]
    visits: dict[str, list[uuid.UUID]] = {}
    for manager in managers:
        facility = make_facility(session, borrower=make_borrower(session, branch=branch), manager=manager)
        collateral = make_collateral(session, facility=facility)
        visits[manager.username] = [
            make_visit(session, collateral=collateral, version=version).id for _ in range(VISITS_PER_PHONE)
        ]
    session.commit()

    with _processes(settings, tmp_path, own_folders=storage == "s3") as (processes, bases):
        node_a, _node_b, worker_1, worker_2 = processes
        cluster = Cluster(bases)
        phones = [
            Phone(cluster, n, n % 2, m.username, visits[m.username], triggers_the_kill=n == 0)
            for n, m in enumerate(managers)
        ]
        token = httpx.post(
            f"{bases[1]}/api/v1/auth/token", data={"username": reviewer.username, "password": PASSWORD}
        ).json()["access_token"]
        feed = FeedReader(cluster, {"Authorization": f"Bearer {token}"})
        feed.start()
        errors: list[BaseException] = []

        def run(phone: Phone) -> None:
            try:
                phone.run()
            except BaseException as exc:
                errors.append(exc)
                cluster.killed.set()  # never leave the phone that waits for the kill hanging

        threads = [threading.Thread(target=run, args=(phone,), daemon=True) for phone in phones]
        for thread in threads:
            thread.start()
        assert cluster.kill_now.wait(60), "no upload reached the middle on the first node"
        os.kill(node_a.pid, signal.SIGKILL)
        node_a.wait(timeout=10)
        cluster.killed.set()
        for thread in threads:
            thread.join(timeout=180)
        assert not errors, errors
        assert all(not thread.is_alive() for thread in threads)
        assert worker_2.poll() is None, "the surviving worker died"
        assert worker_1.wait(timeout=30) == 137, "the first worker never took a photo"

        acknowledged = {sid: photos for phone in phones for sid, photos in phone.acknowledged}
        assert len(acknowledged) == PHONES * VISITS_PER_PHONE
        assert sum(phone.resumed_mid_upload for phone in phones) >= 1
        assert sum(phone.moved for phone in phones) >= 1

        # Every derivative made within a minute of the last acknowledgement, by the worker left.
        photo_ids = [uuid.UUID(p.id) for photos in acknowledged.values() for p in photos]

        def all_processed() -> bool:
            session.rollback()
            return session.scalar(
                select(func.count())
                .select_from(Photo)
                .where(col(Photo.id).in_(photo_ids), col(Photo.state) == PhotoState.processed)
            ) == len(photo_ids)

        _wait(all_processed, 60, "photos still without derivatives a minute after the last acknowledgement")

        # Every acknowledged inspection there once, complete; every photo's bytes as the phone sent them.
        session.rollback()
        stored = session.scalars(select(Submission).where(col(Submission.id).in_(list(acknowledged)))).all()
        assert len(stored) == len(acknowledged)
        assert all(s.state == "complete" for s in stored)
        per_visit = session.execute(
            select(Submission.visit_id, func.count()).group_by(col(Submission.visit_id))
        ).all()
        assert sorted(n for _visit, n in per_visit) == [1] * len(acknowledged)
        survivor = bases[1]
        reviewer_auth = feed.auth
        for photos in acknowledged.values():
            for photo in photos:
                row = session.get_one(Photo, uuid.UUID(photo.id))
                assert row.sha256 == photo.sha256 and row.thumbnail_sha256 is not None
                original = httpx.get(f"{survivor}/api/v1/photos/{photo.id}/original", headers=reviewer_auth)
                assert hashlib.sha256(original.content).hexdigest() == photo.sha256
                thumbnail = httpx.get(f"{survivor}/api/v1/photos/{photo.id}/thumbnail", headers=reviewer_auth)
                assert thumbnail.status_code == 200 and thumbnail.content[:2] == b"\xff\xd8"

        # The feed: caught up, every change once and in order, nothing the database holds missing.
        feed.stop.set()
        feed.join(timeout=30)
        while feed.read_once() > 0:
            pass
    session.rollback()
    numbered = list(session.scalars(select(ChangeLog.seq).order_by(col(ChangeLog.seq))))
    assert numbered == list(range(1, len(numbered) + 1)), "positions with a gap"
    positions = [item["seq"] for item in feed.seen]
    assert positions == sorted(set(positions)), "a change read twice or out of order"
    assert positions == numbered, "the consumer missed changes"
    seen = {(item["entity_type"], item["entity_id"]) for item in feed.seen}
    for submission_id, photos in acknowledged.items():
        assert ("submission", str(submission_id)) in seen
        assert all(("photo", p.id) in seen for p in photos)
