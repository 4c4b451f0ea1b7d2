from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from api.cli import main
from api.config import PUBLISHED_SECRET, Settings, get_settings


def test_defaults_work_without_configuration() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url.startswith("sqlite")
    assert settings.rules.site_distance_m == 300
    assert settings.cadence.days_for("special_mention") == 30


def test_plain_postgresql_url_gets_the_psycopg_driver() -> None:
    assert Settings(database_url="postgresql://u@h/db").database_url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    "field, value",
    [("database_url", "mysql://x"), ("timezone", "Mars/Olympus"), ("access_token_minutes", 0)],
)
def test_bad_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        Settings(**{field: value})


def test_production_needs_its_own_secret_and_nobody_may_use_the_published_one() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production")
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(secret_key=PUBLISHED_SECRET)
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(secret_key="short")
    assert Settings(environment="production", secret_key="x" * 40).environment == "production"


def test_a_default_install_generates_its_own_secret_once(tmp_path: Path) -> None:
    first = Settings(database_url=f"sqlite:///{tmp_path / 'a' / 'fv.db'}")
    key = first.signing_key
    assert len(key) >= 60 and key != PUBLISHED_SECRET
    assert (tmp_path / "a" / "secret-key").stat().st_mode & 0o077 == 0
    assert Settings(database_url=f"sqlite:///{tmp_path / 'a' / 'fv.db'}").signing_key == key
    assert Settings(database_url=f"sqlite:///{tmp_path / 'b' / 'fv.db'}").signing_key != key


def test_cli_reports_a_bad_setting_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDVISIT_ACCESS_TOKEN_MINUTES", "soon")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["migrate"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code != 0
    assert "FIELDVISIT_ACCESS_TOKEN_MINUTES" in result.output
