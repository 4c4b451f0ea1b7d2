"""Test set-up: every test runs against real databases — SQLite always, PostgreSQL when
FIELDVISIT_TEST_POSTGRES_URL is set — each migrated to head through Alembic, in a database of this
run's own, emptied after each test."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from api.config import Settings
from api.db import READ_ONLY_OPTION
from api.main import create_app
from api.migrate import upgrade
from api.models import metadata
from tests.s3 import BUCKET, seaweedfs

POSTGRES_URL = os.environ.get("FIELDVISIT_TEST_POSTGRES_URL", "")
# The gate (`make test`, CI) draws the same property-test examples every run, so a landing never hangs on a
# lucky draw; `HYPOTHESIS_PROFILE=explore make test` draws fresh ones to look for new failures, and each one
# found is pinned with @example.
hypothesis_settings.register_profile("gate", derandomize=True, database=None)
hypothesis_settings.register_profile("explore")
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "gate"))
# The one clock of the tests: the product's own, frozen at this instant (then ticking) for every test that
# does not ask for the real one. The default is an evening in UTC that is already tomorrow in the bank's
# zone, where a test that mixes the machine's date with the bank's calendar fails; `make test` runs the
# calendar-sensitive tests again at an instant where both dates agree (FIELDVISIT_TEST_NOW).
TEST_NOW = dt.datetime.fromisoformat(os.environ.get("FIELDVISIT_TEST_NOW", "2026-11-29T23:30:00+00:00"))
if TEST_NOW.tzinfo is None:
    raise SystemExit("FIELDVISIT_TEST_NOW needs an offset, e.g. 2026-11-29T23:30:00+00:00")


@pytest.fixture(autouse=True)
def product_clock(request: pytest.FixtureRequest) -> Iterator[dt.datetime]:
    """Freeze the clock at TEST_NOW; tests marked real_clock (a browser with its own clock) keep the
    machine's."""
    if request.node.get_closest_marker("real_clock"):
        yield dt.datetime.now(dt.UTC)
        return
    with time_machine.travel(TEST_NOW, tick=True):
        yield TEST_NOW


SKIP_LINE = "PostgreSQL half was skipped: set FIELDVISIT_TEST_POSTGRES_URL to run it."


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if POSTGRES_URL:
        return
    kept, dropped = [], []
    for item in items:
        params = getattr(item, "callspec", None)
        (dropped if params and params.params.get("db_kind") == "postgresql" else kept).append(item)
    items[:] = kept
    config.hook.pytest_deselected(items=dropped)
    config.stash[_skipped_pg] = len(dropped)


_skipped_pg = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    skipped = config.stash.get(_skipped_pg, 0)
    if skipped:
        terminalreporter.write_line(f"{SKIP_LINE} ({skipped} tests)", yellow=True)


def _postgres_database() -> Iterator[str]:
    base = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg")
    name = f"fieldvisit_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.exit(
            f"FIELDVISIT_TEST_POSTGRES_URL is set but PostgreSQL cannot be reached: {exc}", returncode=3
        )
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def database_url(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if db_kind == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'fieldvisit.db'}"
        upgrade(url)
        yield url
    else:
        for url in _postgres_database():
            upgrade(url)
            yield url


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        environment="test",
        database_url=database_url,
        photo_dir=Path(tmp_path_factory.mktemp("photos")),
        state_dir=Path(tmp_path_factory.mktemp("state")),
        background_tick_seconds=0,
        audit_seal_seconds=0,
        job_poll_seconds=0,
        webhook_allow_networks=["127.0.0.1/32"],  # the tests' receivers listen on loopback
    )


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SeaweedFS S3 server for the whole run, started by the first test that asks for one."""
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as endpoint:
        yield endpoint


@pytest.fixture
def s3_settings(settings: Settings, s3_endpoint: str, tmp_path: Path) -> Settings:
    """The test's settings with the photos in the test bucket, under a key prefix of this test's own, and a
    scratch folder of its own: a node that keeps nothing but scratch files."""
    return settings.model_copy(
        update={
            "s3_bucket": BUCKET,
            "s3_endpoint_url": s3_endpoint,
            "s3_access_key_id": "test",
            "s3_secret_access_key": "test",
            "s3_prefix": f"t-{uuid.uuid4().hex[:12]}/",
            "photo_dir": tmp_path / "node-scratch",
        }
    )


@pytest.fixture(scope="session")
def app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings)
    yield application
    application.state.engine.dispose()


def _empty_all_tables(app: FastAPI) -> None:
    tables = list(reversed(metadata.sorted_tables))
    with app.state.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables) + " CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())


@pytest.fixture
def session(app: FastAPI) -> Iterator[Session]:
    """A session for arranging and checking data; committed data is removed after the test."""
    # Deferred transactions: a test that reads must not hold SQLite's write lock while it calls the API.
    db: Session = app.state.sessionmaker(bind=app.state.engine.execution_options(**{READ_ONLY_OPTION: True}))
    try:
        yield db
    finally:
        db.close()
        _empty_all_tables(app)


@pytest.fixture
def client(app: FastAPI, session: Session) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client
