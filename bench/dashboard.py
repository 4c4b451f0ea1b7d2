"""Benchmark: the risk dashboard over 100,000 visits (target: under a second), beside the visit list's first
page — the cheapest read a reviewer makes — in the same run.

Seeds the same bank as bench/visits_list.py (2 branches, 20 managers, 200 collateral, N visits due over three
years, so most are overdue), then times, through the HTTP API in-process: the whole bank's dashboard (admin), one
branch's, one branch's without the sites for the map, and the visit list's first page. Prints medians, p95s and
the dashboard/list ratio. Never a test: timings depend on the machine.

    python bench/dashboard.py                                          # SQLite under var/bench/
    python bench/dashboard.py --database-url postgresql://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient

from api.auth.models import Branch
from api.config import Settings
from api.db import make_engine
from api.main import create_app
from api.migrate import upgrade
from bench.visits_list import PASSWORD, p95, seed, timed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="sqlite:///./var/bench/dashboard.db")
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    settings = Settings(database_url=args.database_url, photo_dir=Path("./var/bench/photos"))
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    seed(engine, args.n)
    with engine.connect() as conn:
        visits = conn.execute(sa.text("SELECT count(*) FROM visit")).scalar_one()
        branch = conn.execute(sa.select(Branch.id).order_by(Branch.code).limit(1)).scalar_one()
    app = create_app(settings)
    client = TestClient(app)
    token = client.post("/api/v1/auth/token", data={"username": "admin", "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}

    def get(path: str, **params: str) -> None:
        answer = client.get(path, params=params, headers=headers)
        assert answer.status_code == 200, answer.text

    ways = {
        "dashboard, whole bank": lambda: get("/api/v1/dashboard"),
        "dashboard, one branch": lambda: get("/api/v1/dashboard", branch_id=str(branch)),
        "dashboard, no sites": lambda: get("/api/v1/dashboard", branch_id=str(branch), sites="false"),
        "visit list, first page": lambda: get("/api/v1/visits", limit="50"),
    }
    print(f"database: {engine.dialect.name}; {visits:,} visits\n")
    print(f"{'request':<24} {'median':>10} {'p95':>10} {'× list':>8}")
    results = {}
    for name, way in ways.items():
        timed(way, 2)
        results[name] = timed(way, args.repeat)
    base = statistics.median(results["visit list, first page"])
    for name, samples in results.items():
        median = statistics.median(samples)
        print(f"{name:<24} {median:>7.1f} ms {p95(samples):>7.1f} ms {median / base:>7.1f}x")
    app.state.engine.dispose()
    engine.dispose()


if __name__ == "__main__":
    main()
