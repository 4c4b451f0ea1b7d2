"""Alembic environment: URL from the config the code built (api.migrate), metadata from api.models."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from api.db import make_engine
from api.models import metadata

config = context.config
target_metadata = metadata


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_sqlite_aware(connection: Connection) -> None:
    """SQLite changes a column by copying its table, dropping the old one and renaming the copy: with foreign
    keys enforced, dropping a table others refer to (app_user, follow_up_task) fails. So, as SQLite's own
    procedure for ALTER TABLE says, enforcement is off while the migrations run (it can only be switched
    outside a transaction), every reference is checked before it is switched back on, and a migration that
    broke one fails."""
    if connection.dialect.name != "sqlite" or connection.in_transaction():
        run_with(connection)
        return
    raw = connection.connection.dbapi_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        run_with(connection)
        broken = raw.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"the migration left references without their rows: {broken[:5]}")
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def run_online() -> None:
    existing = config.attributes.get("connection")
    if existing is not None:
        run_sqlite_aware(existing)
        return
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is not set"
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            run_sqlite_aware(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline SQL generation is not supported; run `fieldvisit migrate`.")
run_online()
