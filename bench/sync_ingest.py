"""Benchmark: whole inspections per second through the HTTP API, and when their photos are processed.

One inspection = PUT one ~300 KB JPEG + PUT one submission that refers to it, as the phone sends them.
The server runs as `fieldvisit serve --workers 2` (one SO_REUSEPORT process per core) on PostgreSQL;
the load client (httpx, concurrency 8) shares the same 2 cores, so its CPU is part of what is measured.
Photo derivatives are made after each acknowledgement; the run also waits until the last photo has
them, so the figure counts all the work.

    python bench/sync_ingest.py [--database-url postgresql://postgres@127.0.0.1:5432/fieldvisit_ingest]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.db import make_engine, make_sessionmaker  # noqa: E402
from api.migrate import upgrade  # noqa: E402

TEMPLATE = {
    "sections": [
        {
            "key": "site",
            "title_zh": "现场",
            "title_en": "Site",
            "items": [
                {
                    "key": "check_in",
                    "type": "location",
                    "label_zh": "签到",
                    "label_en": "Check-in",
                    "rule": {"key": "site_distance", "params": {}},
                },
                {
                    "key": "collateral_present",
                    "type": "boolean",
                    "label_zh": "押品在场",
                    "label_en": "Present",
                },
                {
                    "key": "photo",
                    "type": "photo",
                    "label_zh": "照片",
                    "label_en": "Photo",
                    "min_photos": 1,
                    "max_photos": 1,
                },
            ],
        }
    ]
}


def fresh_database(url: str) -> None:
    base = sa.engine.make_url(url)
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{base.database}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{base.database}"'))
    admin.dispose()


def seed(url: str, visits: int) -> tuple[str, list[str]]:
    from tests.factories import (
        make_borrower,
        make_branch,
        make_collateral,
        make_facility,
        make_published_template,
        make_user,
        make_visit,
    )

    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        branch = make_branch(session)
        manager = make_user(session, branch=branch, username="bench_manager")
        version = make_published_template(session, definition=TEMPLATE)
        facility = make_facility(session, borrower=make_borrower(session, branch=branch), manager=manager)
        collateral = make_collateral(session, facility=facility)
        ids = [str(make_visit(session, collateral=collateral, version=version).id) for _ in range(visits)]
        session.commit()
    engine.dispose()
    return "bench_manager", ids


_GRAIN: list[Any] = []


def photo_for(n: int) -> bytes:
    """A different ~300 KB, 1600 x 1200 photo for every inspection, as in the field: the same picture
    over and over would be (rightly) flagged as reuse, which is not the everyday path being measured."""
    from PIL import Image

    from tests.photos.images import exif_block, picture

    if not _GRAIN:
        _GRAIN.append(Image.effect_noise((1600, 1200), 30).convert("RGB"))
    image = Image.blend(picture(1600, 1200, seed=1000 + n), _GRAIN[0], 0.2)
    buffer = io.BytesIO()
    # Taken now (Shanghai time), on site: the everyday inspection, with no findings.
    taken = time.strftime("%Y:%m:%d %H:%M:%S", time.gmtime(time.time() + 8 * 3600))
    exif = exif_block(gps=(31.2304, 121.4737), taken=taken, offset="+08:00")
    image.save(buffer, "JPEG", quality=80, exif=exif.tobytes())
    return buffer.getvalue()


async def inspect_once(client: Any, headers: dict[str, str], visit_id: str, photo: bytes) -> float:
    start = time.perf_counter()
    photo_id = str(uuid.uuid4())
    digest = hashlib.sha256(photo).hexdigest()
    answer = await client.put(
        f"/api/v1/photos/{photo_id}",
        params={"visit_id": visit_id, "item_key": "photo", "sha256": digest},
        content=photo,
        headers={**headers, "Content-Type": "image/jpeg"},
    )
    assert answer.status_code in (200, 201), answer.text
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    body = {
        "check_in": {"lat": 31.2305, "lon": 121.4738, "accuracy_m": 10, "fixed_at": now},
        "answers": {"check_in": {}, "collateral_present": {"value": True}, "photo": {"photos": [photo_id]}},
        "notes": "bench",
        "photos": [{"id": photo_id, "sha256": digest, "size": len(photo)}],
    }
    answer = await client.put(
        f"/api/v1/visits/{visit_id}/submissions/{uuid.uuid4()}", json=body, headers=headers
    )
    assert answer.status_code in (200, 201), answer.text
    assert answer.json()["state"] == "complete"
    return (time.perf_counter() - start) * 1000


async def load(
    base: str, username: str, visits: list[str], photos: list[bytes], concurrency: int, warmup: int
) -> tuple[float, list[float]]:
    import httpx2 as httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        token = (
            await client.post(
                "/api/v1/auth/token", data={"username": username, "password": "correct horse battery"}
            )
        ).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        for n, visit_id in enumerate(visits):
            queue.put_nowait((n, visit_id))
        latencies: list[float] = []

        async def worker() -> None:
            while not queue.empty():
                n, visit_id = queue.get_nowait()
                took = await inspect_once(client, headers, visit_id, photos[n])
                if n >= warmup:
                    latencies.append(took)

        warm = [visits.pop(0) for _ in range(warmup)]
        for n, visit_id in enumerate(warm):
            await inspect_once(client, headers, visit_id, photos[n])
        while not queue.empty():
            queue.get_nowait()
        for n, visit_id in enumerate(visits):
            queue.put_nowait((warmup + n, visit_id))
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies


def server_cpu_seconds(root_pid: int) -> float:
    """User + system CPU of the server's process tree (the supervisor and its workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [root_pid]
    children = Path(f"/proc/{root_pid}/task/{root_pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/fieldvisit_ingest"
    )
    parser.add_argument("--inspections", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    fresh_database(args.database_url)
    upgrade(args.database_url)
    username, visits = seed(args.database_url, args.inspections + args.warmup)
    photos = [photo_for(n) for n in range(args.inspections + args.warmup)]
    photo_dir = Path(tempfile.mkdtemp(prefix="fieldvisit-bench-"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "FIELDVISIT_DATABASE_URL": args.database_url,
        "FIELDVISIT_PHOTO_DIR": str(photo_dir),
        "FIELDVISIT_BACKGROUND_TICK_SECONDS": "2",
    }
    fv = str(Path(sys.executable).parent / "fieldvisit")
    server = subprocess.Popen(
        [fv, "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import httpx2 as httpx

        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(base + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        cpu_before = server_cpu_seconds(server.pid)
        client_before = time.process_time()
        elapsed, latencies = asyncio.run(load(base, username, visits, photos, args.concurrency, args.warmup))
        load_ended = time.perf_counter()
        client_cpu = time.process_time() - client_before
        engine = make_engine(args.database_url)
        total = args.inspections + args.warmup
        deadline = time.perf_counter() + 300
        with engine.connect() as conn:
            while True:
                done = conn.execute(
                    sa.text("SELECT count(*) FROM photo WHERE state = 'processed'")
                ).scalar_one()
                if done >= total or time.perf_counter() > deadline:
                    break
                conn.rollback()
                time.sleep(0.05)
        processed_after = time.perf_counter()
        engine.dispose()
        rate = args.inspections / elapsed
        print(
            f"photos ~{statistics.median(len(p) for p in photos) / 1000:.0f} KB; {args.inspections} inspections after {args.warmup} warm-up; "
            f"concurrency {args.concurrency}; {args.workers} server processes; PostgreSQL"
        )
        print(
            f"acknowledged: {rate:.0f} inspections/s; latency median {statistics.median(latencies):.1f} ms, "
            f"p95 {sorted(latencies)[int(len(latencies) * 0.95) - 1]:.1f} ms"
        )
        server_cpu = server_cpu_seconds(server.pid) - cpu_before
        total_done = args.inspections + args.warmup
        print(
            f"CPU per inspection: server {server_cpu / total_done * 1000:.1f} ms (photo processing included), "
            f"load client {client_cpu / total_done * 1000:.1f} ms"
        )
        print(
            f"every photo's derivatives existed {processed_after - load_ended:.1f} s after the load ended "
            f"({done}/{total} processed)"
        )
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
