"""The photo store: originals and derivatives kept by content (SHA-256), partial uploads, and the node's
scratch folder, over an object store (api/object_store.py: a local folder or an S3-compatible bucket).

Identical bytes are stored once, and a key is durable before anything names it, so an acknowledgement
means the bytes are kept.

A received file becomes evidence only once its row is committed: the original is kept (the received file
stays where it was) and the received file is removed after the commit, by a hook on the session. If the
transaction fails, or the process dies before the commit, the partial upload is still whole and the next
request (on any node, with a bucket) redoes the finish; an original that no committed row owns is swept by
`fieldvisit tick` once it is older than ORPHAN_GRACE.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import itertools
import logging
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction
from starlette.concurrency import run_in_threadpool

from api.config import Settings
from api.object_store import ObjectStore, object_store, scratch_folder
from api.photos import transfer

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024
# Long enough that no request still working on a file can see it swept.
ORPHAN_GRACE = dt.timedelta(hours=1)
_AFTER_COMMIT = "fieldvisit.after_commit"
_AFTER_ROLLBACK = "fieldvisit.after_rollback"


def after_commit(session: Session, action: Callable[[], None], *, also_on_rollback: bool = False) -> None:
    """Run `action` (a clean-up: removing files) once the session's transaction has committed, and, if asked,
    when it ends without a commit. A clean-up that fails is logged: what it left, the sweep removes."""
    session.info.setdefault(_AFTER_COMMIT, []).append(action)
    if also_on_rollback:
        session.info.setdefault(_AFTER_ROLLBACK, []).append(action)


def unlink_after_commit(session: Session, path: Path, *, also_on_rollback: bool = False) -> None:
    """Remove `path` once the session's transaction has committed (and, if asked, when it rolls back)."""
    after_commit(session, functools.partial(path.unlink, missing_ok=True), also_on_rollback=also_on_rollback)


def _run(actions: list[Callable[[], None]]) -> None:
    for action in actions:
        try:
            action()
        except Exception:
            logger.exception("a clean-up after the transaction failed; the sweep will remove what it left")


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the real commit is still to come
        return
    _run(session.info.pop(_AFTER_COMMIT, []))
    session.info.pop(_AFTER_ROLLBACK, None)


@event.listens_for(Session, "after_transaction_end")
def _after_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None or (
        _AFTER_ROLLBACK not in session.info and _AFTER_COMMIT not in session.info
    ):
        return
    # Still listed, so the transaction ended without a commit.
    _run(session.info.pop(_AFTER_ROLLBACK, []))
    session.info.pop(_AFTER_COMMIT, None)


class PhotoStore:
    """The photos' keys in the object store, the partial uploads, and this node's scratch folder."""

    def __init__(self, objects: ObjectStore, scratch: Path) -> None:
        self.objects = objects
        self.tmp = scratch

    @classmethod
    def of(cls, settings: Settings) -> PhotoStore:
        return cls(object_store(settings), scratch_folder(settings))

    def prepare(self) -> None:
        """Create the scratch folder (and, for a local folder, the 256-way fan-out once instead of per photo)."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        base = self.objects.local_path("")
        if base is None:
            return
        (base / "uploads").mkdir(parents=True, exist_ok=True)
        for folder in ("originals", "derived"):
            if not (base / folder / "ff").is_dir():
                for n in range(256):
                    (base / folder / f"{n:02x}").mkdir(parents=True, exist_ok=True)

    def temp_path(self) -> Path:
        return self.tmp / f"{uuid.uuid4().hex}.tmp"

    # ---- keys ----

    @staticmethod
    def original_key(sha256: str) -> str:
        return f"originals/{sha256[:2]}/{sha256}"

    @staticmethod
    def derived_key(sha256: str, kind: str) -> str:
        return f"derived/{sha256[:2]}/{sha256}.{kind}.jpg"

    @staticmethod
    def upload_key(upload_id: uuid.UUID) -> str:
        """A local partial upload's one file."""
        return f"uploads/{upload_id.hex}.part"

    @staticmethod
    def part_key(upload_id: uuid.UUID, start: int, end: int) -> str:
        """One request's bytes of an upload in a bucket: bytes [start, end) of the photo."""
        return f"uploads/{upload_id.hex}/{start:012d}-{end:012d}"

    # ---- evidence ----

    def keep_original(self, received: Path, sha256: str) -> None:
        """Keep a verified file (identical bytes are there once). The received file is left in place: the
        caller removes it after its row commits (`unlink_after_commit`)."""
        self.objects.put_file(self.original_key(sha256), received)

    def write_derived(self, sha256: str, kind: str, data: bytes) -> None:
        self.objects.put_bytes(self.derived_key(sha256, kind), data)

    # ---- partial uploads ----

    def start_upload(self, upload_id: uuid.UUID) -> None:
        path = self.objects.local_path(self.upload_key(upload_id))
        if path is not None:
            path.touch()

    async def append(
        self,
        upload_id: uuid.UUID,
        chunks: AsyncIterator[bytes],
        *,
        start: int,
        length: int,
        chunk_sha256: bytes | None,
        progress: Callable[[int], Awaitable[None]] | None,
    ) -> transfer.Appended:
        """Add a request's body at `start`. In a local folder the partial file grows in place (and reports
        progress as it goes); in a bucket the body is received to scratch and kept as one part, so that the
        next request may go to any node — unless it completes the upload: then no part is written, and the
        scratch file is handed back (`Appended.tail`) for the photo to be made from at once."""
        path = self.objects.local_path(self.upload_key(upload_id))
        if path is not None:
            if not path.exists():
                raise PartsMissing(f"upload {upload_id}: its partial file is gone")
            return await transfer.append(
                path, chunks, start=start, length=length, chunk_sha256=chunk_sha256, progress=progress
            )
        temp = self.temp_path()
        try:
            appended = await transfer.receive_part(
                temp, chunks, start=start, length=length, chunk_sha256=chunk_sha256
            )
            if appended.offset == length and not appended.disconnected:
                return transfer.Appended(appended.offset, False, tail=temp)
            if appended.offset > start:
                await run_in_threadpool(
                    self.objects.put_file, self.part_key(upload_id, start, appended.offset), temp
                )
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        temp.unlink(missing_ok=True)
        return appended

    def assembled(
        self, upload_id: uuid.UUID, length: int, *, tail: Path | None = None, tail_start: int = 0
    ) -> tuple[Path, bool]:
        """A local file holding every byte of a complete upload, and whether it is a private copy (to be
        removed whatever happens) rather than the partial upload itself (kept until its photo commits).
        `tail` holds bytes [tail_start, length) when the request that brought them wrote no part."""
        path = self.objects.local_path(self.upload_key(upload_id))
        if path is not None:
            try:
                whole = path.stat().st_size >= length
            except FileNotFoundError:
                whole = False
            if not whole:
                raise PartsMissing(f"upload {upload_id}: its partial file does not hold {length} bytes")
            return path, False
        if tail is not None and tail_start == 0:
            return tail, True  # the whole photo came in one request: nothing to join
        parts: dict[int, list[int]] = {}
        for listed in self.objects.listing(f"uploads/{upload_id.hex}/"):
            begins, _, ends = listed.key.rsplit("/", 1)[1].partition("-")
            parts.setdefault(int(begins), []).append(int(ends))
        covered = length if tail is None else tail_start
        chain = _chain(parts, covered)
        if chain is None:
            if tail is not None:
                tail.unlink(missing_ok=True)
            raise PartsMissing(f"upload {upload_id}: its parts do not cover {covered} bytes")
        temp = self.temp_path()
        try:
            with open(temp, "wb") as out:
                for first, last in chain:
                    out.write(self.objects.read_bytes(self.part_key(upload_id, first, last)))
                if tail is not None:
                    with open(tail, "rb") as rest:
                        shutil.copyfileobj(rest, out, CHUNK)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        finally:
            if tail is not None:
                tail.unlink(missing_ok=True)
        return temp, True

    def discard_upload(self, upload_id: uuid.UUID) -> None:
        path = self.objects.local_path(self.upload_key(upload_id))
        if path is not None:
            path.unlink(missing_ok=True)
            return
        self.objects.delete([listed.key for listed in self.objects.listing(f"uploads/{upload_id.hex}/")])

    # ---- housekeeping ----

    def sweep(self, *, owned: Callable[[Iterable[str]], set[str]], live_uploads: set[str]) -> int:
        """Remove originals and derivatives that no committed photo owns, partial uploads that no upload
        row owns, and stale scratch files, all older than ORPHAN_GRACE. Returns how many."""
        cutoff = time.time() - ORPHAN_GRACE.total_seconds()
        removed = 0
        for path in self.tmp.glob("*") if self.tmp.is_dir() else []:
            try:
                old = path.stat().st_mtime < cutoff
            except FileNotFoundError:
                continue
            if old:
                path.unlink(missing_ok=True)
                removed += 1
        stale_parts = [
            listed.key
            for listed in self.objects.listing("uploads/")
            if listed.modified < cutoff and _upload_of(listed.key) not in live_uploads
        ]
        self.objects.delete(stale_parts)
        removed += len(stale_parts)
        for prefix in ("originals/", "derived/"):
            # 500 keys at a time as the listing goes: a million photos are never held in memory at once.
            aged = (listed.key for listed in self.objects.listing(prefix) if listed.modified < cutoff)
            while batch := list(itertools.islice(aged, 500)):
                kept = owned({_sha_of(key) for key in batch})
                # A `.link` or `.tmp` name is a write that died half-way (local folder).
                gone = [key for key in batch if key.endswith((".link", ".tmp")) or _sha_of(key) not in kept]
                self.objects.delete(gone)
                removed += len(gone)
        return removed


class PartsMissing(FileNotFoundError):
    """A complete upload's parts are not all in the bucket."""


def _sha_of(key: str) -> str:
    return key.rsplit("/", 1)[1].split(".")[0]


def _upload_of(key: str) -> str:
    """The upload's id (hex) in `uploads/<hex>.part` or `uploads/<hex>/<first>-<last>`."""
    return key.split("/")[1].removesuffix(".part")


def _chain(parts: dict[int, list[int]], length: int) -> list[tuple[int, int]] | None:
    """Parts that follow each other from byte 0 to `length`. Two requests racing from one offset may both
    leave a part there; the offset recorded followed one of them, and any chain that reaches the end holds
    the photo's bytes (the client sends the same bytes for the same range; the SHA-256 check proves it)."""
    path: list[tuple[int, int]] = []

    def walk(at: int) -> bool:
        if at == length:
            return True
        for last in sorted(parts.get(at, []), reverse=True):
            if last <= length:
                path.append((at, last))
                if walk(last):
                    return True
                path.pop()
        return False

    return path if walk(0) else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
