"""Schemathesis against a live server, as `make fuzz` and .ci/run do: the demo bank on SQLite and, when
FIELDVISIT_TEST_POSTGRES_URL is set, on a fresh PostgreSQL database; every check; bounded examples.
Exits non-zero when schemathesis reports any failure. Not a pytest module: it drives real processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import httpx2 as httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.live import free_port, start_server

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent


def run_against(database_url: str, label: str) -> int:
    folder = Path(tempfile.mkdtemp(prefix="fieldvisit-fuzz-"))
    env = {
        **os.environ,
        "FIELDVISIT_DATABASE_URL": database_url,
        "FIELDVISIT_PHOTO_DIR": str(folder / "photos"),
        "FIELDVISIT_STATE_DIR": str(folder),
        "FIELDVISIT_BACKGROUND_TICK_SECONDS": "0",
    }
    fieldvisit = str(BIN / "fieldvisit")
    subprocess.run([fieldvisit, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([fieldvisit, "demo"], env=env, check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    server = start_server(env, port, stderr=open(folder / "server.log", "wb"))  # noqa: SIM115
    base = f"http://127.0.0.1:{port}"
    try:
        token = httpx.post(f"{base}/api/v1/auth/token",
                           data={"username": "admin", "password": env.get("FIELDVISIT_DEMO_PASSWORD", "fieldvisit-demo")})  # fmt: skip
        token.raise_for_status()
        print(f"schemathesis on {label}", flush=True)
        result = subprocess.run(
            [str(BIN / "st"), "run", f"{base}/openapi.json", "--checks", "all", "--workers", "1",
             "--phases", "examples,coverage,fuzzing,stateful", "--seed", os.environ.get("FIELDVISIT_FUZZ_SEED", "20261130")],
            env={**env, "FIELDVISIT_FUZZ_TOKEN": token.json()["access_token"]},
            cwd=ROOT,
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait()
    if result.returncode != 0:
        print(
            f"schemathesis found failures on {label}; the server's log: {folder / 'server.log'}", flush=True
        )
        return result.returncode
    shutil.rmtree(folder, ignore_errors=True)
    return 0


def main() -> int:
    status = run_against(f"sqlite:///{Path(tempfile.mkdtemp()) / 'fuzz.db'}", "SQLite")
    postgres = os.environ.get("FIELDVISIT_TEST_POSTGRES_URL")
    if postgres:
        base = make_url(postgres).set(drivername="postgresql+psycopg")
        name = f"fieldvisit_fuzz_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            url = base.set(database=name).render_as_string(hide_password=False)
            status = run_against(url, "PostgreSQL") or status
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    else:
        print("schemathesis: PostgreSQL half was skipped (set FIELDVISIT_TEST_POSTGRES_URL)", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
