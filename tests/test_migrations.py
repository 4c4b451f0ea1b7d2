"""The schema comes from Alembic alone, and it matches the models exactly on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi import FastAPI
from sqlalchemy import text

from api.models import metadata


def test_migrated_schema_matches_the_models(app: FastAPI) -> None:
    with app.state.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_sqlite_runs_in_wal_mode_with_foreign_keys(app: FastAPI, db_kind: str) -> None:
    if db_kind != "sqlite":
        return
    with app.state.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_database_is_at_head(app: FastAPI) -> None:
    from alembic.script import ScriptDirectory

    from api.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    with app.state.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head
