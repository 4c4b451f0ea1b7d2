"""Backup and restore while the service runs: the database first, through its own consistent copy (SQLite's
online backup, which includes what is still in the WAL; `pg_dump`'s snapshot), then the photos. The order is
what makes the copy whole: a photo's file is written (and fsynced) before the row that names it commits, and
files are named by their SHA-256 and never rewritten, so every photo the copied database knows is on disk by
the time the folder is copied. The other order left rows whose original was missing.

The photos and case attachments are read from where they are kept, a local folder or an S3 bucket (then the
order is `pg_dump`, then the bucket), and restored into the target's own.

A backup is a folder: `database.sqlite3` or `database.pgdump`, `photos/originals/`, `photos/derived/`,
`files/case-files/` (case attachments), and `manifest.json`, written last, so a folder without it is an
interrupted backup. Partial tus uploads are not kept: a phone whose upload is not found starts it again, and
its outbox still holds the bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from api.config import Settings
from api.errors import AppError
from api.migrate import upgrade
from api.object_store import ObjectStore, object_store

FORMAT = 1
MANIFEST = "manifest.json"
# What a backup holds besides the database: (the store's area, its folders, the backup's folder for them).
# Partial uploads and export files are left out: a phone starts an unknown upload again, an export is made
# again.
KEPT: tuple[tuple[Literal["photos", "state"], tuple[str, ...], str], ...] = (
    ("photos", ("originals", "derived"), "photos"),
    ("state", ("case-files",), "files"),
)


class BackupRefused(AppError):
    status = 409
    code = "backup_refused"
    title_zh = "无法备份或恢复"
    title_en = "Backup or restore refused"


@dataclass(frozen=True)
class Manifest:
    format: int
    created_at: str
    database: str  # sqlite or postgresql
    schema: str | None
    photo_files: int
    photo_bytes: int


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database:
        raise BackupRefused("An in-memory SQLite database cannot be backed up.")
    return Path(database)


def _libpq(url: str) -> str:
    """The URL as pg_dump and pg_restore read it (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _schema_revision(url: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except sa.exc.DBAPIError:
        return None
    finally:
        engine.dispose()


def _store_keys(objects: ObjectStore, folders: tuple[str, ...]) -> list[str]:
    """Every kept file's key; a `.link` or `.tmp` name is a local write still under way."""
    return sorted(
        listed.key
        for folder in folders
        for listed in objects.listing(folder + "/")
        if not listed.key.endswith((".link", ".tmp"))
    )


def _copy_out(objects: ObjectStore, folders: tuple[str, ...], target: Path) -> tuple[int, int]:
    """Copy every file of the store's folders (in a local folder or a bucket) under `target`; returns (files,
    bytes)."""
    files = size = 0
    for key in _store_keys(objects, folders):
        try:
            data = objects.read_bytes(key)
        except FileNotFoundError:  # swept meanwhile: no row the copied database holds names it
            continue
        destination = target / key
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(destination.name + ".part")
        partial.write_bytes(data)
        os.replace(partial, destination)
        files += 1
        size += len(data)
    return files, size


def backup(settings: Settings, destination: Path, *, now: dt.datetime) -> Manifest:
    """Copy the database, then the photos, into `destination` (a new or empty folder)."""
    if destination.exists() and any(destination.iterdir()):
        raise BackupRefused(f"{destination} is not empty.", detail_zh=f"{destination} 不是空文件夹。")
    destination.mkdir(parents=True, exist_ok=True)
    url = settings.database_url
    kind = make_url(url).get_backend_name()
    if kind == "sqlite":
        source = sqlite3.connect(_sqlite_path(url), timeout=30)
        target = sqlite3.connect(destination / "database.sqlite3")
        try:
            with target:
                source.backup(target)  # a consistent copy, WAL included, while writers go on
        finally:
            target.close()
            source.close()
    elif kind == "postgresql":
        subprocess.run(
            [
                "pg_dump",
                "--format=custom",
                "--no-owner",
                "--file",
                str(destination / "database.pgdump"),
                _libpq(url),
            ],
            check=True,
            capture_output=True,
        )
    else:
        raise BackupRefused(f"No backup for {kind} databases.")
    files = size = 0
    for area, folders, kept in KEPT:
        copied = _copy_out(object_store(settings, area=area), folders, destination / kept)
        files, size = files + copied[0], size + copied[1]
    manifest = Manifest(
        format=FORMAT,
        created_at=now.isoformat(),
        database=kind,
        schema=_schema_revision(url),
        photo_files=files,
        photo_bytes=size,
    )
    (destination / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2) + "\n", encoding="utf-8")
    return manifest


def _read_manifest(source: Path) -> Manifest:
    try:
        data = json.loads((source / MANIFEST).read_text(encoding="utf-8"))
        manifest = Manifest(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise BackupRefused(
            f"{source} is not a complete backup (no readable {MANIFEST}).",
            detail_zh=f"{source} 不是完整的备份（缺少可读的 {MANIFEST}）。",
        ) from exc
    if manifest.format != FORMAT:
        raise BackupRefused(f"Backup format {manifest.format} is not {FORMAT}.")
    return manifest


def _empty_target(settings: Settings) -> None:
    """Restore only into an instance with no data: never merge into, or overwrite, what a bank has."""
    engine = sa.create_engine(settings.database_url)
    try:
        tables = sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
    photos = [
        key for area, folders, _ in KEPT for key in _store_keys(object_store(settings, area=area), folders)
    ]
    if tables or photos:
        raise BackupRefused(
            "The target already holds data; restore into an empty database and photo folder.",
            detail_zh="目标实例已有数据：请恢复到空数据库和空照片目录。",
        )


def restore(settings: Settings, source: Path) -> Manifest:
    """Load a backup into an empty instance, then bring its schema to the newest revision."""
    manifest = _read_manifest(source)
    kind = make_url(settings.database_url).get_backend_name()
    if kind != manifest.database:
        raise BackupRefused(f"The backup is of a {manifest.database} database; this instance uses {kind}.")
    _empty_target(settings)
    if kind == "sqlite":
        path = _sqlite_path(settings.database_url)
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        partial = path.with_name(path.name + ".part")
        shutil.copyfile(source / "database.sqlite3", partial)
        os.replace(partial, path)
    else:
        subprocess.run(
            ["pg_restore", "--no-owner", "--exit-on-error", "--dbname", _libpq(settings.database_url),
             str(source / "database.pgdump")],
            check=True,
            capture_output=True,
        )  # fmt: skip
    for area, folders, kept in KEPT:
        objects = object_store(settings, area=area)
        for folder in folders:
            for path in sorted((source / kept / folder).rglob("*")):
                if path.is_file():
                    objects.put_bytes(path.relative_to(source / kept).as_posix(), path.read_bytes())
    upgrade(settings.database_url)
    return manifest
