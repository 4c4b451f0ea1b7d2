from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.cli import main
from api.config import get_settings
from api.db import make_engine, make_sessionmaker
from api.demo import _quarters_before
from api.kit.clock import today_in
from api.main import create_app
from api.portfolio.credit_code import complete
from api.visits.models import Visit

pytestmark = pytest.mark.calendar

COMMANDS = ["serve", "worker", "migrate", "demo", "create-user", "import", "schedule", "tick"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


@pytest.fixture
def fresh_sqlite(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    previous = dict(os.environ)
    os.environ["FIELDVISIT_DATABASE_URL"] = url
    get_settings.cache_clear()
    try:
        yield url
    finally:
        os.environ.clear()
        os.environ.update(previous)
        get_settings.cache_clear()


def test_migrate_demo_schedule_then_the_demo_manager_sees_visits(fresh_sqlite: str) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"]).exit_code == 0
    demo = runner.invoke(main, ["demo", "--if-empty"])
    assert demo.exit_code == 0, demo.output
    assert "manager1" in demo.output
    assert "already loaded" in runner.invoke(main, ["demo", "--if-empty"]).output
    again = runner.invoke(main, ["schedule"])
    assert again.exit_code == 0
    assert again.output.startswith("created 0;")

    engine = make_engine(fresh_sqlite)
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Visit)) == 6
    engine.dispose()

    app = create_app(get_settings())
    with TestClient(app) as client:
        token = client.post(
            "/api/v1/auth/token", data={"username": "manager1", "password": "fieldvisit-demo"}
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        visits = client.get("/api/v1/visits", headers=headers).json()["items"]
    app.state.engine.dispose()
    assert len(visits) == 4
    assert sum(v["overdue"] for v in visits) == 1
    assert any(v["due_on"] == visits[1]["due_on"] and not v["overdue"] for v in visits)


def test_create_user(fresh_sqlite: str) -> None:
    runner = CliRunner()
    runner.invoke(main, ["migrate"])
    runner.invoke(main, ["demo"])
    created = runner.invoke(
        main,
        ["create-user", "--username", "manager3", "--role", "manager", "--branch", "SZ01"],
        input="a-long-password\na-long-password\n",
    )
    assert created.exit_code == 0, created.output
    unknown_branch = runner.invoke(
        main,
        ["create-user", "--username", "m4", "--role", "manager", "--branch", "XX99"],
        input="a-long-password\na-long-password\n",
    )
    assert unknown_branch.exit_code != 0
    assert "XX99" in unknown_branch.output


def test_importing_figures_evaluates_the_borrowers_indicators(fresh_sqlite: str, tmp_path: Path) -> None:
    """The command line reads the file once and, like the API, evaluates the borrowers it touched: 上海华锦精密's
    last quarter restated with almost no revenue opens one signal (revenue down on the same quarter last year)."""
    runner = CliRunner()
    runner.invoke(main, ["migrate"])
    runner.invoke(main, ["demo"])
    today = today_in("Asia/Shanghai")
    [last] = _quarters_before(today, 1)
    file = tmp_path / "figures.csv"
    file.write_text(
        f"borrower_credit_code,period,revenue,reported_on\n{complete('91310115MA1H7K3P5')},{last},1,{today}\n",
        encoding="utf-8",
    )
    result = runner.invoke(main, ["import", "figures", str(file)])
    assert result.exit_code == 0, result.output
    assert "early-warning signals: 1 opened" in result.output and "imported 1 figures row(s)" in result.output
