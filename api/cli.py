"""The `fieldvisit` command: serve, migrate, demo, create-user, import, schedule, tick, audit, backup, restore."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from pydantic import ValidationError
from sqlmodel import select

from api.config import Settings, get_settings


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        lines = [
            f"  FIELDVISIT_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        ]
        raise click.ClickException("bad configuration:\n" + "\n".join(lines)) from exc


@click.group(help="Fieldvisit: post-loan field inspection (贷后现场检查).")
def main() -> None:
    pass


@main.command(
    help="Upgrade the database schema to the newest revision (Alembic); create the photo bucket if "
    "S3 storage is configured and the bucket is missing."
)
def migrate() -> None:
    from api.migrate import upgrade
    from api.object_store import ensure_bucket

    settings = _settings()
    upgrade(settings.database_url)
    click.echo("database is at the newest schema revision")
    if settings.s3_bucket:
        made = ensure_bucket(settings)
        click.echo(f"bucket {settings.s3_bucket} {'created' if made else 'is there'}")


@main.command(help="Serve the API and the field app (uvicorn).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="Processes; each one is stateless.")
@click.option(
    "--join", is_flag=True, help="Share a port another `fieldvisit serve` listens on (refused otherwise)."
)
def serve(host: str, port: int, workers: int, join: bool) -> None:
    from api.serving import PortTaken
    from api.serving import serve as run

    _settings()
    try:
        run(host, port, workers, join=join)
    except PortTaken as exc:
        raise click.ClickException(str(exc)) from exc


@main.command(help="Load the demo bank (two branches, users, portfolio, templates, visits) once.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
def demo(if_empty: bool) -> None:
    from api import demo as demo_data
    from api.auth.models import User
    from api.db import standalone_session

    settings = _settings()
    with standalone_session(settings.database_url) as session:
        if if_empty and session.scalar(select(User.id).limit(1)) is not None:
            click.echo("demo data already loaded")
            return
        summary = demo_data.load(session, settings=settings)
        session.commit()
    click.echo(summary)


@main.command("create-user", help="Create a user in a branch.")
@click.option("--username", required=True)
@click.option("--role", type=click.Choice(["manager", "reviewer", "admin"]), required=True)
@click.option("--branch", "branch_code", required=True, help="Branch code.")
@click.option("--display-name", default=None)
@click.password_option()
def create_user(username: str, role: str, branch_code: str, display_name: str | None, password: str) -> None:
    from api.auth import service
    from api.auth.models import Role
    from api.db import standalone_session
    from api.errors import AppError

    settings = _settings()
    with standalone_session(settings.database_url) as session:
        try:
            branch = service.get_branch_by_code(session, code=branch_code)
            service.create_user(
                session,
                username=username,
                password=password,
                role=Role(role),
                branch_id=branch.id,
                display_name=display_name,
            )
        except AppError as exc:
            raise click.ClickException(exc.detail_en or exc.title_en) from exc
        session.commit()
    click.echo(f"created {role} {username} in branch {branch_code}")


@main.command(
    "import",
    help="Import a CSV or Excel (.xlsx) file: KIND is borrowers, facilities, collateral, projects, "
    "milestones, declarations, figures, project_figures or repayments. Any bad row means nothing is imported.",
)
@click.argument("kind")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check every row and report; import nothing.")
def import_(kind: str, file: Path, dry_run: bool) -> None:
    from api.db import standalone_session
    from api.errors import AppError
    from api.portfolio import imports

    settings = _settings()
    with standalone_session(settings.database_url) as session:
        try:
            text = imports.decode_csv(file.read_bytes())
            report = imports.import_csv(session, kind=kind, text=text, dry_run=dry_run)
        except AppError as exc:
            raise click.ClickException(exc.detail_en or exc.title_en) from exc
        for row in report.errors:
            click.echo(f"line {row.line}: {'; '.join(row.errors)}", err=True)
        if report.errors:
            click.echo(f"{len(report.errors)} bad row(s) of {report.rows}; nothing imported", err=True)
            sys.exit(1)
        session.commit()
        if kind in imports.MONITORING_KINDS and not dry_run:
            from api.monitoring import service as monitoring

            evaluation = monitoring.evaluate_import(session, settings=settings, kind=kind, text=text)
            session.commit()
            click.echo(f"early-warning signals: {evaluation.opened} opened, {evaluation.cleared} cleared")
    verb = "checked" if dry_run else "imported"
    click.echo(f"{verb} {report.rows} {kind} row(s)" + (" (dry run: nothing imported)" if dry_run else ""))


@main.command(help="Issue the visits that are due by risk-grade cadence. Idempotent.")
def schedule() -> None:
    from api.db import standalone_session
    from api.visits import service

    settings = _settings()
    with standalone_session(settings.database_url) as session:
        report = service.schedule(session, settings=settings)
        session.commit()
    click.echo(
        f"created {report.created}; already open {report.already_open}; "
        f"not due yet {report.not_due_yet}; without a published template {report.no_template}"
    )


@main.command(
    help="Run the periodic work once: photos waiting for derivatives, overdue visits, change-feed "
    "numbering, audit sealing. Idempotent; cron-friendly."
)
def tick() -> None:
    from api import ticks
    from api.db import make_engine, make_sessionmaker

    settings = _settings()
    engine = make_engine(settings.database_url)
    try:
        report = ticks.tick(make_sessionmaker(engine, settings=settings), settings)
    finally:
        engine.dispose()
    click.echo(str(report))


@main.command(
    help="Run the background work in the foreground until SIGTERM: photos left without derivatives, webhook "
    "deliveries and export files every FIELDVISIT_JOB_POLL_SECONDS, the tick every "
    "FIELDVISIT_BACKGROUND_TICK_SECONDS, audit sealing every FIELDVISIT_AUDIT_SEAL_SECONDS. Any number of "
    "workers beside any number of `serve` nodes (FIELDVISIT_BACKGROUND_IN_SERVE=false) on one database."
)
def worker() -> None:
    import logging.config

    from api import workers
    from api.logs import log_config

    settings = _settings()
    logging.config.dictConfig(log_config(settings.log_format))
    workers.run_worker(settings)


@main.command(
    help="Back up the database, then the photos, into DESTINATION (a new or empty folder). Safe while the "
    "service runs: SQLite's online backup (WAL included) or pg_dump's snapshot, then every photo it names."
)
@click.argument("destination", type=click.Path(path_type=Path, file_okay=False))
def backup(destination: Path) -> None:
    from api import backup as backups
    from api.db import utcnow
    from api.errors import AppError

    try:
        manifest = backups.backup(_settings(), destination, now=utcnow())
    except AppError as exc:
        raise click.ClickException(exc.detail_en or exc.title_en) from exc
    click.echo(f"backed up the {manifest.database} database (schema {manifest.schema}) and "
               f"{manifest.photo_files} photo files ({manifest.photo_bytes:,} bytes) into {destination}")  # fmt: skip


@main.command(
    help="Restore a backup made by `fieldvisit backup` into this instance, which must be empty (its "
    "database and photo folder), then migrate it to the newest schema."
)
@click.argument("source", type=click.Path(path_type=Path, file_okay=False, exists=True))
def restore(source: Path) -> None:
    from api import backup as backups
    from api.errors import AppError

    try:
        manifest = backups.restore(_settings(), source)
    except AppError as exc:
        raise click.ClickException(exc.detail_en or exc.title_en) from exc
    click.echo(f"restored the backup of {manifest.created_at} ({manifest.photo_files} photo files)")


@main.group(help="The tamper-evident audit trail.")
def audit() -> None:
    pass


@audit.command(
    "verify",
    help="Seal pending events, then walk the hash chain; exit 1 naming the first event "
    "that was changed, removed or reordered, or when the chain no longer reaches the head "
    "checkpointed outside the database (newest events removed).",
)
def audit_verify() -> None:
    from api.audit import service
    from api.db import make_engine, make_sessionmaker

    settings = _settings()
    engine = make_engine(settings.database_url)
    try:
        service.seal(engine, settings=settings)
        with make_sessionmaker(engine)() as session:
            verdict = service.verify(session, settings=settings)
    finally:
        engine.dispose()
    click.echo(str(verdict))
    if not verdict.ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
