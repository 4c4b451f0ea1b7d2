"""A real `fieldvisit serve` in a process of its own, for the crash tests, the schemathesis run and the
benchmarks: started on a free port, awaited until it answers, killed by the caller."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from typing import IO

import httpx2 as httpx

from api.config import Settings


def instance_env(settings: Settings) -> dict[str, str]:
    """The variables that point a process at the settings' database, photos (folder or bucket) and state."""
    return {
        "FIELDVISIT_DATABASE_URL": settings.database_url,
        "FIELDVISIT_PHOTO_DIR": str(settings.photo_dir),
        "FIELDVISIT_STATE_DIR": str(settings.state_folder),
        "FIELDVISIT_S3_BUCKET": settings.s3_bucket,
        "FIELDVISIT_S3_ENDPOINT_URL": settings.s3_endpoint_url,
        "FIELDVISIT_S3_ACCESS_KEY_ID": settings.s3_access_key_id,
        "FIELDVISIT_S3_SECRET_ACCESS_KEY": settings.s3_secret_access_key,
        "FIELDVISIT_S3_PREFIX": settings.s3_prefix,
    }


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    """This process's environment pointed at the test's database, photos and state, with the background loops
    off (each test drives what it needs), plus `extra`."""
    return {
        **os.environ,
        **instance_env(settings),
        "FIELDVISIT_BACKGROUND_TICK_SECONDS": "0",
        "FIELDVISIT_AUDIT_SEAL_SECONDS": "0",
        "FIELDVISIT_JOB_POLL_SECONDS": "0",
        **extra,
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(
    env: dict[str, str], port: int, *, stderr: int | IO[bytes] = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """`fieldvisit serve` with `env`, once /api/health/live answers (AssertionError after 30 s)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/health/live", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the server did not start")
