"""Benchmark: photo-reuse lookup against N stored perceptual hashes, band index vs linear scan.

Seeds N photos (default 1,000,000) with random 64-bit hashes into the configured database once, then
times, for query photos (half near-copies of stored ones, half unrelated), the lookup the rule makes —
all eight turned/mirrored variants through the four-band index (rules.engine.similar_photos) — against
a linear scan computing every Hamming distance over the same hashes held in memory (the scan is given
its data for free). Prints medians, p95s and the ratio; the answers are checked to agree.

    python bench/photo_reuse.py [-n 1000000] [--database-url sqlite:///./var/bench/reuse.db]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.db import make_engine, make_sessionmaker
from api.migrate import upgrade
from api.photos.inspection import hamming
from api.photos.models import Photo
from api.rules.engine import similar_photos


def signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def seed(engine: sa.Engine, n: int) -> None:
    from tests.factories import hashed_photo_row, make_bank

    with make_sessionmaker(engine)() as session:
        have = session.scalar(sa.select(sa.func.count()).select_from(Photo)) or 0
        if have >= n:
            print(f"database already holds {have:,} photos")
            return
        bank = make_bank(session)
        started = time.perf_counter()
        rng = random.Random(1)
        batch = []
        for i in range(n - have):
            value = signed(rng.getrandbits(64))
            batch.append(
                hashed_photo_row(
                    world=bank.two,
                    visit_id=bank.two.visit.id,
                    phash=value,
                    sha256=f"{rng.getrandbits(256):064x}",
                )
            )
            if len(batch) == 20_000 or i == n - have - 1:
                session.execute(sa.insert(Photo), batch)
                batch = []
        session.commit()
        print(f"seeded {n - have:,} photo hashes in {time.perf_counter() - started:.0f} s")
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("VACUUM ANALYZE photo"))
        else:
            conn.execute(sa.text("ANALYZE"))
            conn.commit()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="sqlite:///./var/bench/reuse.db")
    parser.add_argument("-n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=40)
    args = parser.parse_args()
    upgrade(args.database_url)
    engine = make_engine(args.database_url)
    seed(engine, args.n)
    with make_sessionmaker(engine)() as session:
        stored = [int(v) for v in session.scalars(sa.select(Photo.phash).where(Photo.phash.is_not(None)))]
        rng = random.Random(7)
        queries = []
        for q in range(args.queries):
            if q % 2 == 0:  # a near-copy of a stored photo: 0–5 bits flipped
                value = stored[rng.randrange(len(stored))] & 0xFFFFFFFFFFFFFFFF
                for bit in rng.sample(range(64), rng.randrange(6)):
                    value ^= 1 << bit
                queries.append(signed(value))
            else:
                queries.append(signed(rng.getrandbits(64)))
        # The rule looks up eight variants per photo (turned, mirrored); unrelated random hashes stand in.
        lookups = [[query] + [signed(rng.getrandbits(64)) for _ in range(7)] for query in queries]
        other_visit = uuid.uuid4()
        index_ms, scan_ms = [], []
        for hashes in lookups:
            similar_photos(session, hashes=hashes, max_distance=6, exclude_visit=other_visit)  # warm
        # All index lookups first, then all scans: the scan's million-element work must not leave its
        # garbage collection inside the index timings.
        found_sets = []
        for hashes in lookups:
            t0 = time.perf_counter()
            found = similar_photos(
                session, hashes=hashes, max_distance=6, exclude_visit=other_visit, limit=10_000
            )
            index_ms.append((time.perf_counter() - t0) * 1000)
            found_sets.append(sorted(int(p.phash or 0) for p, _ in found))
        for hashes, found_hashes in zip(lookups, found_sets, strict=True):
            t0 = time.perf_counter()
            scanned = [v for v in stored if min(hamming(v, h) for h in hashes) <= 6]
            scan_ms.append((time.perf_counter() - t0) * 1000)
            assert found_hashes == sorted(scanned), "index and scan disagree"
    engine.dispose()
    median_index, median_scan = statistics.median(index_ms), statistics.median(scan_ms)
    p95 = lambda xs: sorted(xs)[int(len(xs) * 0.95) - 1]  # noqa: E731
    print(
        f"{len(stored):,} stored hashes on {engine.dialect.name}; {len(lookups)} lookups of 8 variants each; answers agree"
    )
    print(f"band index : median {median_index:8.2f} ms   p95 {p95(index_ms):8.2f} ms   (target < 10 ms)")
    print(f"linear scan: median {median_scan:8.2f} ms   p95 {p95(scan_ms):8.2f} ms")
    print(f"scan / index: {median_scan / median_index:.0f}×   (target ≥ 50×)")


if __name__ == "__main__":
    main()
