"""Benchmark: whole inspections through the HTTP API — CPU per inspection (server and PostgreSQL summed),
throughput, latency, and when the last photo's derivatives exist — for two ways of sending the photo in one
run.

One inspection = one ~300 KB JPEG (a different photo and a fresh visit each time) + the submission that
refers to it. The photo goes as the field app sends it — tus, the creation carrying the first chunk
(`tus-app`: one request for a photo under the app's 1 MB chunk) — and, for comparison, as the app sent it
before (`tus-chunked`: POST, then 256 KB PATCHes) or in one `PUT` (`put`). The server runs as
`fieldvisit serve --workers 2` on PostgreSQL; the load client (httpx) shares the 2 cores. CPU is utime+stime
of the server's process tree and of every PostgreSQL process, read from /proc before and after each run
(derivatives included: the run waits for the last one). With `--background workers` the server only ingests
and `fieldvisit worker` processes make the derivatives; their CPU is counted with the server's. With
`--storage folder,s3` each way runs with the photos in a local folder and in an S3 bucket (SeaweedFS started
on loopback, as the tests do; its CPU is counted as the storage's). It also prints what PostgreSQL counted
for the bench's database per inspection — transactions, table lookups (index and sequential scans) and rows
written — which, unlike CPU time, the shared machine's noise does not move.

    python bench/sync_ingest.py [--ways tus-app,tus-chunked] [--inspections 1000] [--concurrency 8]
        [--background serve|workers] [--job-workers 1] [--storage folder|s3|folder,s3]
        [--database-url postgresql://postgres@127.0.0.1:5432/fieldvisit_ingest]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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

APP_CHUNK = 1024 * 1024  # pwa/js/core/sync.js
OLD_CHUNK = 256 * 1024

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


def _tus_metadata(values: dict[str, str]) -> str:
    import base64

    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


async def send_photo(
    client: Any, headers: dict[str, str], way: str, visit_id: str, photo_id: str, photo: bytes
) -> None:
    digest = hashlib.sha256(photo).hexdigest()
    if way == "put":
        answer = await client.put(
            f"/api/v1/photos/{photo_id}",
            params={"visit_id": visit_id, "item_key": "photo", "sha256": digest},
            content=photo,
            headers={**headers, "Content-Type": "image/jpeg"},
        )
        assert answer.status_code in (200, 201), answer.text
        return
    tus = {
        **headers,
        "Tus-Resumable": "1.0.0",
        "Upload-Length": str(len(photo)),
        "Upload-Metadata": _tus_metadata(
            {
                "photo_id": photo_id,
                "visit_id": visit_id,
                "item_key": "photo",
                "content_type": "image/jpeg",
                "sha256": digest,
            }
        ),
    }
    chunk = APP_CHUNK if way == "tus-app" else OLD_CHUNK
    first = photo[:chunk] if way == "tus-app" else b""
    data = {"Content-Type": "application/offset+octet-stream"} if first else {}
    created = await client.post("/api/v1/uploads/", content=first, headers={**tus, **data})
    assert created.status_code == 201, created.text
    offset = int(created.headers["Upload-Offset"])
    while offset < len(photo):
        answer = await client.patch(
            created.headers["Location"],
            content=photo[offset : offset + chunk],
            headers={
                **headers,
                "Tus-Resumable": "1.0.0",
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
            },
        )
        assert answer.status_code == 204, answer.text
        offset = int(answer.headers["Upload-Offset"])


async def inspect_once(client: Any, headers: dict[str, str], way: str, visit_id: str, photo: bytes) -> float:
    start = time.perf_counter()
    photo_id = str(uuid.uuid4())
    await send_photo(client, headers, way, visit_id, photo_id, photo)
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    body = {
        "check_in": {"lat": 31.2305, "lon": 121.4738, "accuracy_m": 10, "fixed_at": now},
        "answers": {"check_in": {}, "collateral_present": {"value": True}, "photo": {"photos": [photo_id]}},
        "notes": "bench",
        "photos": [{"id": photo_id, "sha256": hashlib.sha256(photo).hexdigest(), "size": len(photo)}],
    }
    answer = await client.put(
        f"/api/v1/visits/{visit_id}/submissions/{uuid.uuid4()}", json=body, headers=headers
    )
    assert answer.status_code in (200, 201), answer.text
    assert answer.json()["state"] == "complete"
    return (time.perf_counter() - start) * 1000


async def load(
    base: str, username: str, way: str, visits: list[str], photos: list[bytes], concurrency: int, warmup: int
) -> tuple[float, list[float], tuple[float, float, float]]:
    """Warm up, then send the rest with `concurrency` phones. Returns the elapsed seconds, the latencies, and
    the CPU (server, PostgreSQL, S3 server) read just after the warm-up."""
    import httpx2 as httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        token = (
            await client.post(
                "/api/v1/auth/token", data={"username": username, "password": "correct horse battery"}
            )
        ).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        for n in range(warmup):
            await inspect_once(client, headers, way, visits[n], photos[n])
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(warmup, len(visits)):
            queue.put_nowait(n)
        latencies: list[float] = []

        async def phone() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                latencies.append(await inspect_once(client, headers, way, visits[n], photos[n]))

        cpu = (ours_cpu_seconds(), postgres_cpu_seconds(), storage_cpu_seconds())
        started = time.perf_counter()
        await asyncio.gather(*(phone() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies, cpu


# The server's supervisor and any `fieldvisit worker`s: their CPU (and their children's) is ours.
OUR_PIDS: list[int] = []


def ours_cpu_seconds() -> float:
    return sum(server_cpu_seconds(pid) for pid in OUR_PIDS)


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def server_cpu_seconds(root_pid: int) -> float:
    """User + system CPU of the server's process tree (the supervisor and its workers, live or reaped)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [root_pid]
    children = Path(f"/proc/{root_pid}/task/{root_pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for pid in pids:
        fields = _stat(pid)
        if fields:
            total += (
                int(fields[11])
                + int(fields[12])
                + (int(fields[13]) + int(fields[14]) if pid == root_pid else 0)
            ) / tick
    return total


def postgres_cpu_seconds() -> float:
    """User + system CPU of every PostgreSQL process, plus what its postmaster has reaped (backends of
    connections that closed during the run)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm != "postgres":
            continue
        fields = _stat(int(entry.name))
        if not fields:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
        parent = _stat(int(fields[1]))
        if parent is None or Path(f"/proc/{fields[1]}/comm").read_text().strip() != "postgres":
            total += (int(fields[13]) + int(fields[14])) / tick  # the postmaster: its reaped children
    return total


def storage_cpu_seconds() -> float:
    """User + system CPU of the S3 server (SeaweedFS's one `weed` process), 0 without one."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() != "weed":
                    continue
            except OSError:
                continue
            fields = _stat(int(entry.name))
            if fields:
                total += (int(fields[11]) + int(fields[12])) / tick
    return total


# Counted by PostgreSQL for the bench's database: what the server asked of it, which machine noise does not move
# (the CPU figures do, by ±20 % between runs of the same code on these shared machines). A backend reports its
# counts when its transaction ends, at most once a second, and when it exits: the second snapshot is taken once
# the server has stopped, so both cover whole transactions. Read from the bench's database itself (the per-table
# lookups are visible only there); the reading adds one transaction and no lookup.
_DATABASE_COUNTS = sa.text(
    "SELECT xact_commit + xact_rollback, tup_inserted + tup_updated + tup_deleted,"
    " (SELECT coalesce(sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)), 0) FROM pg_stat_user_tables)"
    " FROM pg_stat_database WHERE datname = current_database()"
)


def database_counts(url: str) -> tuple[int, int, int]:
    """Transactions, rows written (inserted, updated, deleted), and table lookups (index and sequential scans)
    in the bench's database so far."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        transactions, written, lookups = conn.execute(_DATABASE_COUNTS).one()
    engine.dispose()
    return int(transactions), int(written), int(lookups)


def run_way(args: argparse.Namespace, way: str, endpoint: str | None = None) -> dict[str, float]:
    fresh_database(args.database_url)
    upgrade(args.database_url)
    total = args.inspections + args.warmup
    username, visits = seed(args.database_url, total)
    time.sleep(1.5)  # the seeding connections' counts reported
    counts_before = database_counts(args.database_url)
    photos = [photo_for(n) for n in range(total)]
    photo_dir = Path(tempfile.mkdtemp(prefix="fieldvisit-bench-"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "FIELDVISIT_DATABASE_URL": args.database_url,
        "FIELDVISIT_PHOTO_DIR": str(photo_dir),
        # The production defaults: the job poll (2 s) takes up photos, the tick runs every 5 minutes.
        "FIELDVISIT_LOG_FORMAT": "text",
        # `workers`: the nodes only ingest and answer; `fieldvisit worker`s make the derivatives.
        "FIELDVISIT_BACKGROUND_IN_SERVE": "true" if args.background == "serve" else "false",
    }
    if endpoint is not None:
        from tests.s3 import BUCKET

        env |= {
            "FIELDVISIT_S3_BUCKET": BUCKET,
            "FIELDVISIT_S3_ENDPOINT_URL": endpoint,
            "FIELDVISIT_S3_ACCESS_KEY_ID": "test",
            "FIELDVISIT_S3_SECRET_ACCESS_KEY": "test",
            "FIELDVISIT_S3_PREFIX": f"bench-{uuid.uuid4().hex[:8]}/",
        }
    fv = str(Path(sys.executable).parent / "fieldvisit")

    def start(*command: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([fv, *command], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    server = start("serve", "--port", str(port), "--workers", str(args.workers))
    helpers = [start("worker") for _ in range(args.job_workers if args.background == "workers" else 0)]
    OUR_PIDS[:] = [server.pid, *(helper.pid for helper in helpers)]
    try:
        import httpx2 as httpx

        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(base + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        elapsed, latencies, (server_before, pg_before, storage_before) = asyncio.run(
            load(base, username, way, visits, photos, args.concurrency, args.warmup)
        )
        load_ended = time.perf_counter()
        engine = make_engine(args.database_url)
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
        last_derivative = time.perf_counter() - load_ended
        engine.dispose()
        server_cpu = ours_cpu_seconds() - server_before
        pg_cpu = postgres_cpu_seconds() - pg_before
        storage_cpu = storage_cpu_seconds() - storage_before
    finally:
        for process in (server, *helpers):
            process.terminate()
            process.wait(timeout=20)
    time.sleep(1.5)  # the server's backends have exited and reported their counts
    # Over the server's whole life — warm-up, the load, the derivatives, and this bench's polling for them (a
    # statement every 50 ms once the load is over) — per inspection sent.
    counted = [
        after - before
        for after, before in zip(database_counts(args.database_url), counts_before, strict=True)
    ]
    n = args.inspections
    return {
        "rate": n / elapsed,
        "median": statistics.median(latencies),
        "p95": sorted(latencies)[int(len(latencies) * 0.95) - 1],
        "server_ms": server_cpu / n * 1000,
        "pg_ms": pg_cpu / n * 1000,
        "storage_ms": storage_cpu / n * 1000,
        "last_derivative_s": last_derivative,
        "processed": done,
        "transactions": counted[0] / total,
        "rows_written": counted[1] / total,
        "lookups": counted[2] / total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/fieldvisit_ingest"
    )
    parser.add_argument("--ways", default="tus-app,tus-chunked", help="any of tus-app, tus-chunked, put")
    parser.add_argument("--inspections", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument(
        "--background",
        choices=["serve", "workers"],
        default="serve",
        help="where the derivatives are made: in the server (the default) or in `fieldvisit worker`s",
    )
    parser.add_argument(
        "--job-workers", type=int, default=1, help="`fieldvisit worker`s with --background workers"
    )
    parser.add_argument("--storage", default="folder", help="folder, s3, or both: folder,s3")
    args = parser.parse_args()
    runs = [(way, storage) for storage in args.storage.split(",") for way in args.ways.split(",")]
    print(
        f"{args.inspections} inspections after {args.warmup} warm-up, one ~300 KB photo each, concurrency "
        f"{args.concurrency}, {args.workers} server processes"
        + (f" + {args.job_workers} job workers" if args.background == "workers" else "")
        + f", PostgreSQL; load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'way':19s} {'insp/s':>7s} {'median':>8s} {'p95':>8s} {'server':>8s} {'postgres':>9s} {'S3':>7s} "
        f"{'total':>7s}  last derivative"
    )
    results = {}
    with contextlib.ExitStack() as stack:
        endpoint = None
        if any(storage == "s3" for _, storage in runs):
            from tests.s3 import seaweedfs

            endpoint = stack.enter_context(seaweedfs(Path(tempfile.mkdtemp(prefix="fieldvisit-bench-s3-"))))
        for way, storage in runs:
            name = f"{way} ({storage})"
            r = results[name] = run_way(args, way, endpoint if storage == "s3" else None)
            r["total_ms"] = r["server_ms"] + r["pg_ms"] + r["storage_ms"]
            print(
                f"{name:19s} {r['rate']:7.0f} {r['median']:6.1f}ms {r['p95']:6.1f}ms {r['server_ms']:6.1f}ms "
                f"{r['pg_ms']:7.1f}ms {r['storage_ms']:5.1f}ms {r['total_ms']:5.1f}ms  "
                f"{r['last_derivative_s']:.1f} s after the load ({r['processed']:.0f} processed)"
            )
            print(
                f"{'':19s} per inspection, counted by PostgreSQL: {r['transactions']:.1f} transactions, "
                f"{r['lookups']:.1f} table lookups, {r['rows_written']:.1f} rows written"
            )
    if len(results) == 2:
        (first, a), (second, b) = results.items()
        print(
            f"{second} / {first}: CPU per inspection {b['total_ms'] / a['total_ms']:.2f}x, "
            f"throughput {b['rate'] / a['rate']:.2f}x"
        )


if __name__ == "__main__":
    main()
