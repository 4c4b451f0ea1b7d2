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


def run_online() -> None:
    existing = config.attributes.get("connection")
    if existing is not None:
        run_with(existing)
        return
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is not set"
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            run_with(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline SQL generation is not supported; run `fieldvisit migrate`.")
run_online()
