"""Benchmark: the inspection report (贷后检查报告) of a visit with 20 photos, embedding the photos' 480 px
watermarked copies (what the product does) against their plain 320 px thumbnails and 1600 px previews, in
one run. The watermarked copies are made on the first round and kept, as in the product.

Loads the demo bank into a fresh SQLite database, submits one visit with 20 photos (1600 x 1200 JPEGs with
GPS and time), makes their derivatives, then renders the report N times each way. Prints the median and
the CPU time per report and the PDF's size. Never a test.

    python bench/report_pdf.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient
from sqlmodel import select

from api import demo
from api.config import Settings
from api.db import make_sessionmaker
from api.main import create_app
from api.migrate import upgrade
from api.photos import jobs as photo_jobs
from api.reports import service
from api.visits.models import Visit
from tests.photos.images import jpeg
from tests.sync.helpers import CapturedPhoto, now_in_shanghai_exif, put_photo, submission_body

PHOTOS = 20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="fieldvisit-report-"))
    settings = Settings(
        database_url=f"sqlite:///{folder}/bench.db", photo_dir=folder / "photos", state_dir=folder,
        background_tick_seconds=0, audit_seal_seconds=0, job_poll_seconds=0,
    )  # fmt: skip
    upgrade(settings.database_url)
    app = create_app(settings)
    make_session = make_sessionmaker(app.state.engine, settings=settings)
    with make_session() as session:
        demo.load(session, settings=settings)
        session.commit()
    client = TestClient(app)
    token = client.post(
        "/api/v1/auth/token", data={"username": "manager1", "password": settings.demo_password}
    )
    manager = {"Authorization": f"Bearer {token.json()['access_token']}"}
    package = client.get("/api/v1/me/work-package", headers=manager).json()
    visit = next(v for v in package["visits"] if v["visit"]["subject_type"] == "collateral")
    visit_id = visit["visit"]["id"]
    photos = [
        CapturedPhoto(
            str(uuid.uuid4()),
            "photo_identifier" if 10 <= n < 15 else "photo_overview",
            jpeg(1600, 1200, seed=n, gps=(31.2304, 121.4737), taken=now_in_shanghai_exif(), offset="+08:00"),
        )
        for n in range(PHOTOS)
    ]
    # The demo template takes 15 photos at most (10 + 5): the first submission has 15, its replacement the
    # other 5 and five of the first (the visit keeps all 20, and the report shows every photo of the visit).
    first = str(uuid.uuid4())
    answer = client.put(
        f"/api/v1/visits/{visit_id}/submissions/{first}", json=submission_body(photos[:15]), headers=manager
    )
    assert answer.status_code == 201, answer.text
    answer = client.put(
        f"/api/v1/visits/{visit_id}/submissions/{uuid.uuid4()}",
        json=submission_body(photos[10:], replaces=first),
        headers=manager,
    )
    assert answer.status_code == 201, answer.text
    for photo in photos:
        assert put_photo(client, manager, visit_id, photo).status_code in (200, 201)
    photo_jobs.process_pending(make_session, settings, limit=100)

    results = {}
    for kind in ("stamped", "thumbnail", "preview"):
        walls, cpus, records, size = [], [], [], 0
        for _ in range(args.rounds):
            started, cpu = time.perf_counter(), os.times()
            with make_session() as session:
                row = session.scalars(select(Visit).where(Visit.id == uuid.UUID(visit_id))).one()
                part = service.visit_report(session, visit=row, settings=settings, lang="zh", image=kind)
                records.append(time.perf_counter() - started)
                document = service.pdf(service.html([part], lang="zh", generated_at="bench"))
            after = os.times()
            walls.append(time.perf_counter() - started)
            cpus.append(after.user + after.system - cpu.user - cpu.system)
            size = len(document)
        assert len(part["photos"]) == PHOTOS and all(p["image"] for p in part["photos"])
        results[kind] = (statistics.median(walls), statistics.median(cpus), size)
        print(
            f"{kind:9s}: median {results[kind][0] * 1000:.0f} ms (of which the record and its layout data "
            f"{statistics.median(records) * 1000:.0f} ms), CPU {results[kind][1] * 1000:.0f} ms per report, "
            f"{size / 1024:.0f} KiB, {PHOTOS} photos"
        )
    for other in ("thumbnail", "preview"):
        print(f"{other} / stamped: {results[other][0] / results['stamped'][0]:.2f}x the time")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
