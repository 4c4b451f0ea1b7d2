"""Benchmark: the first page and a page deep in GET /api/v1/visits, keyset cursor vs OFFSET.

Seeds N visits (default 200,000) into the configured database once, then times, through the HTTP API
in-process, the first page and the page after 1,000 pages (limit 50), for an admin (whole bank) and a
manager (own visits). The same deep page fetched with OFFSET is timed in the same run for contrast.
Prints medians and p95s and the deep/first ratio. Never a test: timings depend on the machine.

    python bench/visits_list.py                                   # SQLite under var/bench/
    python bench/visits_list.py --database-url postgresql://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient

from api.auth.models import Branch, Role, User
from api.auth.security import hash_password
from api.checklists.models import ChecklistTemplate, TemplateVersion
from api.config import Settings
from api.db import make_engine, utcnow
from api.demo import COLLATERAL_TEMPLATE
from api.kit.cursor import encode_cursor
from api.main import create_app
from api.migrate import upgrade
from api.portfolio.credit_code import complete
from api.portfolio.models import Borrower, Collateral, Facility
from api.visits.models import Visit

PASSWORD = "bench-password-1"
PAGE = 50
DEEP_PAGES = 1000


def seed(engine: sa.Engine, n: int) -> None:
    with engine.begin() as conn:
        have = conn.execute(sa.select(sa.func.count()).select_from(Visit)).scalar_one()
        if have >= n:
            print(f"database already holds {have:,} visits")
            return
        if have:
            raise SystemExit("the bench database holds a different seed; drop it first")
        started = time.perf_counter()
        pw = hash_password(PASSWORD)
        branch_ids = [uuid.uuid4(), uuid.uuid4()]
        conn.execute(
            sa.insert(Branch),
            [
                {"id": b, "code": f"BR{i}", "name": f"分行{i}", "created_at": utcnow()}
                for i, b in enumerate(branch_ids)
            ],
        )
        managers = [
            {
                "id": uuid.uuid4(),
                "username": f"m{i}",
                "display_name": f"经理{i}",
                "password_hash": pw,
                "role": Role.manager,
                "branch_id": branch_ids[i % 2],
                "is_active": True,
                "created_at": utcnow(),
            }
            for i in range(20)
        ]
        admin = {
            "id": uuid.uuid4(),
            "username": "admin",
            "display_name": "admin",
            "password_hash": pw,
            "role": Role.admin,
            "branch_id": branch_ids[0],
            "is_active": True,
            "created_at": utcnow(),
        }
        conn.execute(sa.insert(User), [*managers, admin])
        template_id, version_id = uuid.uuid4(), uuid.uuid4()
        conn.execute(
            sa.insert(ChecklistTemplate),
            [
                {
                    "id": template_id,
                    "code": "c",
                    "subject_type": "collateral",
                    "name_zh": "押品",
                    "name_en": "c",
                    "created_at": utcnow(),
                }
            ],
        )
        conn.execute(
            sa.insert(TemplateVersion),
            [
                {
                    "id": version_id,
                    "template_id": template_id,
                    "version": 1,
                    "status": "published",
                    "definition": COLLATERAL_TEMPLATE,
                    "created_at": utcnow(),
                    "published_at": utcnow(),
                }
            ],
        )
        subjects = []
        for i in range(200):
            manager = managers[i % 20]
            borrower_id, facility_id, collateral_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            code17 = f"913101{i:011d}"
            conn.execute(
                sa.insert(Borrower),
                [
                    {
                        "id": borrower_id,
                        "branch_id": manager["branch_id"],
                        "name": f"企业{i}",
                        "credit_code": complete(code17),
                        "address": "",
                        "contact_name": "",
                        "contact_phone": "",
                        "created_at": utcnow(),
                        "updated_at": utcnow(),
                    }
                ],
            )
            conn.execute(
                sa.insert(Facility),
                [
                    {
                        "id": facility_id,
                        "reference": f"LN{i}",
                        "borrower_id": borrower_id,
                        "branch_id": manager["branch_id"],
                        "kind": "corporate_loan",
                        "amount": decimal.Decimal(1000000),
                        "currency": "CNY",
                        "disbursed_on": dt.date(2025, 1, 1),
                        "matures_on": dt.date(2030, 1, 1),
                        "risk_grade": "normal",
                        "manager_id": manager["id"],
                        "created_at": utcnow(),
                        "updated_at": utcnow(),
                    }
                ],
            )
            conn.execute(
                sa.insert(Collateral),
                [
                    {
                        "id": collateral_id,
                        "reference": f"C{i}",
                        "facility_id": facility_id,
                        "kind": "real_estate",
                        "description": "厂房",
                        "site_lat": 31.2,
                        "site_lon": 121.4,
                        "site_datum": "WGS84",
                        "address": "",
                        "declared_value": decimal.Decimal(1),
                        "currency": "CNY",
                        "unit": "",
                        "condition": "",
                        "identifiers": {},
                        "created_at": utcnow(),
                        "updated_at": utcnow(),
                    }
                ],
            )
            subjects.append((manager, borrower_id, facility_id, collateral_id))
        rng = random.Random(7)
        start = dt.date(2024, 1, 1)
        batch = []
        for i in range(n):
            manager, borrower_id, facility_id, collateral_id = subjects[rng.randrange(200)]
            now = utcnow()
            batch.append(
                {
                    "id": uuid.uuid4(),
                    "branch_id": manager["branch_id"],
                    "borrower_id": borrower_id,
                    "facility_id": facility_id,
                    "subject_type": "collateral",
                    "subject_id": collateral_id,
                    "template_version_id": version_id,
                    "manager_id": manager["id"],
                    "due_on": start + dt.timedelta(days=rng.randrange(1100)),
                    "status": "scheduled",
                    "origin": "scheduled",
                    "created_at": now,
                    "updated_at": now,
                }
            )
            if len(batch) == 10_000 or i == n - 1:
                conn.execute(sa.insert(Visit), batch)
                batch = []
        print(f"seeded {n:,} visits in {time.perf_counter() - started:.1f} s")
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))


def timed(fn: object, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def p95(samples: list[float]) -> float:
    return sorted(samples)[max(0, int(len(samples) * 0.95) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="sqlite:///./var/bench/visits.db")
    parser.add_argument("-n", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    settings = Settings(database_url=args.database_url, photo_dir=Path("./var/bench/photos"))
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    seed(engine, args.n)

    app = create_app(settings)
    client = TestClient(app)
    print(f"database: {engine.dialect.name}; page size {PAGE}; deep page = after {DEEP_PAGES:,} pages\n")
    print(
        f"{'who/pages':<11} {'way':<8} {'first median':>13} {'first p95':>10} {'deep median':>12} {'deep p95':>9} {'deep/first':>11}"
    )
    for username in ("admin", "m0"):
        token = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        with engine.connect() as conn:
            query = sa.select(Visit.due_on, Visit.id).order_by(Visit.due_on, Visit.id)
            if username != "admin":
                manager_id = conn.execute(sa.select(User.id).where(User.username == username)).scalar_one()
                query = query.where(Visit.manager_id == manager_id)
            total = conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
            # A manager holds ~1/20 of the visits: go as deep as their list allows.
            pages = min(DEEP_PAGES, total // PAGE - 1)
            due_on, visit_id = conn.execute(query.offset(pages * PAGE - 1).limit(1)).one()
        cursor = encode_cursor("visits", [due_on.isoformat(), str(visit_id)])

        def first(headers: dict[str, str] = headers) -> None:
            assert client.get("/api/v1/visits", params={"limit": PAGE}, headers=headers).status_code == 200

        def deep(headers: dict[str, str] = headers, cursor: str = cursor) -> None:
            answer = client.get("/api/v1/visits", params={"limit": PAGE, "cursor": cursor}, headers=headers)
            assert answer.status_code == 200 and len(answer.json()["items"]) == PAGE

        timed(first, 3)
        timed(deep, 3)
        first_ms, deep_ms = timed(first, args.repeat), timed(deep, args.repeat)
        row(f"{username}/{pages}", "keyset", first_ms, deep_ms)

        # The same pages with OFFSET, straight in SQL, for contrast (what the API deliberately avoids).
        with engine.connect() as conn:
            base = sa.select(Visit).order_by(Visit.due_on, Visit.id).limit(PAGE)
            if username != "admin":
                base = base.where(Visit.manager_id == manager_id)
            off_first = timed(lambda: conn.execute(base).all(), args.repeat)  # noqa: B023
            off_deep = timed(lambda: conn.execute(base.offset(pages * PAGE)).all(), args.repeat)  # noqa: B023
        row(f"{username}/{pages}", "offset*", off_first, off_deep)
    print(
        "\n* offset rows time the bare SQL query only (no HTTP, no serialisation): the deep/first ratio is the point."
    )
    app.state.engine.dispose()
    engine.dispose()


def row(who: str, way: str, first_ms: list[float], deep_ms: list[float]) -> None:
    f, d = statistics.median(first_ms), statistics.median(deep_ms)
    print(
        f"{who:<11} {way:<8} {f:>10.2f} ms {p95(first_ms):>7.2f} ms {d:>9.2f} ms {p95(deep_ms):>6.2f} ms {d / f:>10.2f}x"
    )


if __name__ == "__main__":
    main()
