"""The photo folder: partial uploads, and originals and derivatives stored by content (SHA-256).

Identical bytes are stored once. Files are written beside their final place and renamed into it
after an fsync, so a reader never sees half a file and an acknowledgement means the bytes are on disk.

A received file becomes evidence only once its row is committed: the original is linked into place
(the received file stays where it was) and the received file is removed after the commit, by a hook
on the session. If the transaction fails, or the process dies before the commit, the partial upload is
still whole and the next request redoes the finish; an original that no committed row owns is swept by
`fieldvisit tick` once it is older than ORPHAN_GRACE.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

CHUNK = 1024 * 1024
# Long enough that no request still working on a file can see it swept.
ORPHAN_GRACE = dt.timedelta(hours=1)
_AFTER_COMMIT = "fieldvisit.unlink_after_commit"
_AFTER_ROLLBACK = "fieldvisit.unlink_after_rollback"


def unlink_after_commit(session: Session, path: Path, *, also_on_rollback: bool = False) -> None:
    """Remove `path` once the session's transaction has committed (and, if asked, when it rolls back)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(path)
    if also_on_rollback:
        session.info.setdefault(_AFTER_ROLLBACK, []).append(path)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the real commit is still to come
        return
    for path in session.info.pop(_AFTER_COMMIT, []):
        path.unlink(missing_ok=True)
    session.info.pop(_AFTER_ROLLBACK, None)


@event.listens_for(Session, "after_transaction_end")
def _after_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None or (
        _AFTER_ROLLBACK not in session.info and _AFTER_COMMIT not in session.info
    ):
        return
    # Still listed, so the transaction ended without a commit.
    for path in session.info.pop(_AFTER_ROLLBACK, []):
        path.unlink(missing_ok=True)
    session.info.pop(_AFTER_COMMIT, None)


class PhotoStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.uploads = root / "uploads"
        self.tmp = root / "tmp"
        self.originals = root / "originals"
        self.derived = root / "derived"

    def prepare(self) -> None:
        """Create the folders, with the 256-way fan-out made once instead of per photo."""
        for folder in (self.uploads, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)
        for base in (self.originals, self.derived):
            if not (base / "ff").is_dir():
                for n in range(256):
                    (base / f"{n:02x}").mkdir(parents=True, exist_ok=True)

    def upload_path(self, upload_id: uuid.UUID) -> Path:
        return self.uploads / f"{upload_id.hex}.part"

    def temp_path(self) -> Path:
        return self.tmp / f"{uuid.uuid4().hex}.tmp"

    def original_path(self, sha256: str) -> Path:
        return self.originals / sha256[:2] / sha256

    def derived_path(self, sha256: str, kind: str) -> Path:
        return self.derived / sha256[:2] / f"{sha256}.{kind}.jpg"

    def keep_original(self, received: Path, sha256: str) -> Path:
        """Link a verified file into the store (identical bytes are there once). The received file is
        left in place: the caller removes it after its row commits (`unlink_after_commit`)."""
        final = self.original_path(sha256)
        if final.exists():
            return final
        _fsync_file(received)
        staged = final.with_name(f"{sha256}.{uuid.uuid4().hex}.link")
        os.link(received, staged)
        os.replace(staged, final)
        return final

    def sweep(self, *, owned: Callable[[Iterable[str]], set[str]], live_uploads: set[str]) -> int:
        """Remove originals and derivatives that no committed photo owns, partial uploads that no upload
        row owns, and stale temporary files, all older than ORPHAN_GRACE. Returns how many."""
        cutoff = time.time() - ORPHAN_GRACE.total_seconds()
        removed = 0

        def old(path: Path) -> bool:
            try:
                return path.stat().st_mtime < cutoff
            except FileNotFoundError:
                return False

        for folder in (self.tmp, self.uploads):
            for path in folder.glob("*") if folder.is_dir() else []:
                if folder == self.uploads and path.name.removesuffix(".part") in live_uploads:
                    continue
                if old(path):
                    path.unlink(missing_ok=True)
                    removed += 1
        for base in (self.originals, self.derived):
            if not base.is_dir():
                continue
            for fan in base.iterdir():
                candidates = [p for p in fan.iterdir() if old(p)]
                if not candidates:
                    continue
                kept = owned({p.name.split(".")[0] for p in candidates})
                for path in candidates:
                    if path.name.endswith(".link") or path.name.split(".")[0] not in kept:
                        path.unlink(missing_ok=True)
                        removed += 1
        return removed

    def write_derived(self, sha256: str, kind: str, data: bytes) -> Path:
        final = self.derived_path(sha256, kind)
        temp = final.with_suffix(f".{uuid.uuid4().hex}.tmp")
        with open(temp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, final)
        return final


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
