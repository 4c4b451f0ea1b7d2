"""Benchmark: exporting visits with their answers as CSV, in one run, three ways on the same database:
through the HTTP API in-process (GET /api/v1/exports/visits as an admin: on PostgreSQL the database writes the
CSV with COPY, copy_csv.py), the two ways of making the bytes called directly (COPY, and the row-by-row path
SQLite uses), and — for scale — paging the JSON visit list (500 a page, no answers).

Seeds N visits (visits_list.py's seed) and gives each a complete submission with answers, once. Prints rows
per second, the CSV's size, and the export's peak memory growth (it must stay flat whatever N); checks that
both ways give the same bytes. Never a test.

    python bench/export_csv.py --database-url postgresql://postgres@127.0.0.1:5432/fieldvisit_export [--visits 50000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fastapi.testclient import TestClient
from visits_list import PASSWORD, seed

from api.config import Settings
from api.db import make_engine, utcnow
from api.main import create_app
from api.migrate import upgrade
from api.sync.models import Submission
from api.visits.models import Visit


def answers(n: int) -> dict[str, object]:
    return {
        "answers": {
            "collateral_present": {"value": True}, "condition": {"value": "good"}, "seizure_notice": {"value": False},
            "third_party_occupation": {"value": False}, "site_operating": {"value": True},
            "observed_quantity": {"value": 1000 + n % 97}, "remarks": {"value": f"第 {n} 次检查，现场正常"},
        },
        "notes": "bench",
        "photos": [],
    }  # fmt: skip


def give_submissions(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(Submission)).scalar_one():
            return
        visits = conn.execute(
            sa.select(Visit.id, Visit.branch_id, Visit.manager_id, Visit.template_version_id)
        ).all()
        rows = []
        for n, (visit_id, branch_id, manager_id, version_id) in enumerate(visits):
            body = answers(n)
            rows.append(
                {
                    "id": uuid.uuid4(), "visit_id": visit_id, "branch_id": branch_id, "submitted_by_id": manager_id,
                    "template_version_id": version_id, "body_sha256": hashlib.sha256(json.dumps(body).encode()).hexdigest(),
                    "body": body, "state": "complete", "conflict": False, "conflict_reasons": [],
                    "visit_status_after": "submitted", "received_at": utcnow(), "completed_at": utcnow(), "updated_at": utcnow(),
                }
            )  # fmt: skip
            if len(rows) == 5000:
                conn.execute(sa.insert(Submission), rows)
                rows = []
        if rows:
            conn.execute(sa.insert(Submission), rows)


def peak_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--visits", type=int, default=50_000)
    args = parser.parse_args()
    upgrade(args.database_url)
    engine = make_engine(args.database_url)
    seed(engine, args.visits)
    give_submissions(engine)
    engine.dispose()
    settings = Settings(
        environment="test", database_url=args.database_url, background_tick_seconds=0, audit_seal_seconds=0
    )
    app = create_app(settings)
    with TestClient(app) as client:
        token = client.post("/api/v1/auth/token", data={"username": "admin", "password": PASSWORD}).json()
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        Path("/proc/self/clear_refs").write_text("5")
        before = peak_kb()
        started = time.perf_counter()
        size = rows = 0
        with client.stream("GET", "/api/v1/exports/visits", headers=auth) as answer:
            for line in answer.iter_lines():
                rows += 1
                size += len(line) + 1
        csv_s = time.perf_counter() - started
        growth = peak_kb() - before
        rows -= 1  # the header
        started = time.perf_counter()
        paged, cursor = 0, None
        while True:
            page = client.get(
                "/api/v1/visits",
                params={"limit": 500, **({"cursor": cursor} if cursor else {})},
                headers=auth,
            ).json()
            paged += len(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                break
        json_s = time.perf_counter() - started
    print(
        f"{rows:,} visits with answers; database {sa.engine.make_url(args.database_url).get_backend_name()}"
    )
    print(
        f"CSV export:        {rows / csv_s:9,.0f} rows/s  ({csv_s:.1f} s, {size / 1e6:.1f} MB, peak memory +{growth / 1024:.1f} MB)"
    )
    print(f"JSON list, paged:  {paged / json_s:9,.0f} rows/s  ({json_s:.1f} s, no answers)")
    if sa.engine.make_url(args.database_url).get_backend_name() == "postgresql":
        direct(app, settings, rows)


def direct(app: object, settings: Settings, rows: int) -> None:
    """The two ways of making the CSV's bytes, called without HTTP, three times each: median wall time and
    this process's CPU (the database's is on top for COPY)."""
    from sqlmodel import select

    from api.auth.models import User
    from api.exports import copy_csv, formats, service
    from api.visits.service import VisitFilter

    make_session = app.state.read_sessionmaker  # type: ignore[attr-defined]
    where = VisitFilter()
    with make_session() as session:
        admin = session.scalars(select(User).where(User.username == "admin")).one()
        header = service.VISIT_COLUMNS + service.answer_columns(
            service.sheets(session, user=admin, where=where, settings=settings)
        )

    def by_copy() -> bytes:
        return b"".join(
            copy_csv.stream(
                make_session, user=admin, where=where, settings=settings, base_url="", header=header
            )
        )

    def by_rows() -> bytes:
        with make_session() as session:
            made = service.rows(session, user=admin, where=where, settings=settings, base_url="")
            return b"".join(formats.csv_stream(header, made))

    results = {}
    for name, way in (("COPY (PostgreSQL)", by_copy), ("row by row", by_rows)):
        walls, cpus = [], []
        for _ in range(3):
            started, cpu = time.perf_counter(), time.process_time()
            body = way()
            walls.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu)
        results[name] = body
        wall = statistics.median(walls)
        print(
            f"{name:18s} {rows / wall:9,.0f} rows/s  (median {wall:.2f} s, Python CPU {statistics.median(cpus):.2f} s)"
        )
    same = results["COPY (PostgreSQL)"] == results["row by row"]
    print(f"the same bytes both ways: {same}")


if __name__ == "__main__":
    main()
