"""Benchmark: a 50,000-row CSV import through the HTTP API, and sign-ins answered while it runs.

A real `fieldvisit serve` (one process) on SQLite (the embedded default) or PostgreSQL; an admin posts a
file of 50,000 borrowers; meanwhile, and for `--after` seconds after the answer (the audit sealing that
follows), another client signs in every 0.25 s. The same sign-ins are first
timed with the server idle, so the run compares sign-in latency idle vs during the import, and prints the
import's wall time, the sign-in latencies and every error. Targets (issue "Hardening"): the import under
20 s on SQLite and 10 s on PostgreSQL; sign-ins during it under 1 s with no error.

    python bench/import_load.py                                   # SQLite under var/bench/
    python bench/import_load.py --database-url postgresql://postgres@127.0.0.1:5432/fieldvisit_import
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2 as httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.auth import service as auth_service  # noqa: E402
from api.auth.models import Role  # noqa: E402
from api.db import make_engine, make_sessionmaker  # noqa: E402
from api.migrate import upgrade  # noqa: E402
from api.portfolio.credit_code import ALPHABET, complete  # noqa: E402
from tests.live import free_port, start_server  # noqa: E402

PASSWORD = "bench-password-1"


def credit_codes(count: int) -> list[str]:
    codes = []
    for n in range(count):
        body = "".join(ALPHABET[(n // 31**i) % 31] for i in range(6))
        codes.append(complete("91310115MA" + body + "1"))
    return codes


def csv_file(branch: str, count: int) -> bytes:
    lines = ["branch_code,name,credit_code,address"]
    lines += [
        f"{branch},测试企业{n:05d}有限公司,{code},上海市浦东新区{n}号"
        for n, code in enumerate(credit_codes(count))
    ]
    return ("\n".join(lines) + "\n").encode()


def prepare_database(url: str) -> None:
    if url.startswith("postgresql"):
        admin = sa.create_engine(url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/postgres",
                                 isolation_level="AUTOCOMMIT")  # fmt: skip
        name = url.rsplit("/", 1)[1]
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    upgrade(url)
    engine = make_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with make_sessionmaker(engine)() as session:
        branch = auth_service.create_branch(session, code="BENCH", name="基准分行")
        for username, role in (("bench-admin", Role.admin), ("bench-manager", Role.manager)):
            auth_service.create_user(
                session, username=username, password=PASSWORD, role=role, branch_id=branch.id
            )
        session.commit()
    engine.dispose()


def sign_in(base: str) -> float:
    started = time.perf_counter()
    answer = httpx.post(f"{base}/api/v1/auth/token", data={"username": "bench-manager", "password": PASSWORD},
                        timeout=60)  # fmt: skip
    elapsed = time.perf_counter() - started
    if answer.status_code != 200:
        raise RuntimeError(f"sign-in answered {answer.status_code}: {answer.text[:200]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument(
        "--after",
        type=float,
        default=3.0,
        help="keep signing in this many seconds after the answer (the audit sealing that follows)",
    )
    parser.add_argument("--trace", action="store_true", help="print every sign-in and the server's log")
    args = parser.parse_args()
    folder = ROOT / "var" / "bench" / "import"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    url = args.database_url or f"sqlite:///{folder / 'fieldvisit.db'}"
    prepare_database(url)
    port = free_port()
    env = {**os.environ, "FIELDVISIT_DATABASE_URL": url, "FIELDVISIT_PHOTO_DIR": str(folder / "photos"),
           "FIELDVISIT_STATE_DIR": str(folder), "FIELDVISIT_BACKGROUND_TICK_SECONDS": "0"}  # fmt: skip
    server = start_server(env, port, stderr=None if args.trace else subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        idle = [sign_in(base) for _ in range(8)]
        token = httpx.post(
            f"{base}/api/v1/auth/token", data={"username": "bench-admin", "password": PASSWORD}
        ).json()
        body = csv_file("BENCH", args.rows)
        during: list[float] = []
        after: list[float] = []
        errors: list[str] = []
        answered = threading.Event()
        done = threading.Event()

        def keep_signing_in() -> None:
            while not done.is_set():
                began = time.perf_counter() - started
                try:
                    latency = sign_in(base)
                    (after if answered.is_set() else during).append(latency)
                    if args.trace:
                        print(f"{began:6.2f} s  sign-in {latency * 1000:.0f} ms", flush=True)
                except Exception as exc:  # every failure is a finding
                    errors.append(str(exc))
                time.sleep(0.25)

        signer = threading.Thread(target=keep_signing_in)
        started = time.perf_counter()
        signer.start()
        answer = httpx.post(f"{base}/api/v1/imports/borrowers", content=body, timeout=600,
                            headers={"Authorization": f"Bearer {token['access_token']}", "Content-Type": "text/csv"})  # fmt: skip
        took = time.perf_counter() - started
        answered.set()
        time.sleep(args.after)
        done.set()
        signer.join()
    finally:
        server.terminate()
        server.wait()
    database = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"{database}: import of {args.rows:,} rows answered {answer.status_code} in {took:.1f} s "
          f"({args.rows / took:,.0f} rows/s); imported {answer.json().get('imported')}")  # fmt: skip
    print(
        f"sign-ins idle:   median {statistics.median(idle) * 1000:.0f} ms, max {max(idle) * 1000:.0f} ms (n={len(idle)})"
    )
    if during:
        print(f"sign-ins during: median {statistics.median(during) * 1000:.0f} ms, max {max(during) * 1000:.0f} ms "
              f"(n={len(during)}); during/idle median {statistics.median(during) / statistics.median(idle):.1f}x")  # fmt: skip
    if after:
        print(f"sign-ins in the {args.after:g} s after (sealing): median {statistics.median(after) * 1000:.0f} ms, "
              f"max {max(after) * 1000:.0f} ms (n={len(after)})")  # fmt: skip
    print(
        f"sign-in errors during the import and after: {len(errors)}"
        + (f" — first: {errors[0]}" if errors else "")
    )


if __name__ == "__main__":
    main()
