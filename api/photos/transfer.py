"""Bytes from the network to disk, a chunk at a time: the server never holds a whole photo in memory."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import ClientDisconnect

from api.errors import AppError
from api.photos.exceptions import ChunkChecksumMismatch, PhotoTooLarge, UploadBusy

# While a long PATCH streams in, the offset reached is made durable and recorded this often, so that a
# phone resumes near where it was even if the server dies mid-request.
PROGRESS_EVERY = 4 * 1024 * 1024


@dataclass(frozen=True)
class Appended:
    offset: int
    disconnected: bool
    # In a bucket, the request that brings the last byte keeps its bytes in this scratch file (not a part):
    # they go straight into the photo, and the offset is committed with it.
    tail: Path | None = None


async def append(
    path: Path,
    chunks: AsyncIterator[bytes],
    *,
    start: int,
    length: int,
    chunk_sha256: bytes | None,
    progress: Callable[[int], Awaitable[None]] | None = None,
) -> Appended:
    """Write the request body at `start` of the partial file; keep what arrived if the client vanished.

    A PATCH carrying a chunk checksum is all or nothing. An OS-level lock on the file keeps two
    requests (perhaps in two processes) from writing one upload at once. Without a checksum, `progress`
    is told every PROGRESS_EVERY bytes, after they are on disk. (A full disk surfaces as OSError, which the
    error handlers answer with 507; what arrived before is kept.)
    """
    with open(path, "r+b") as out:
        try:
            fcntl.flock(out.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise UploadBusy() from exc
        # Bytes past the confirmed offset came from a request that died before confirming them.
        out.truncate(start)
        out.seek(start)
        digest = hashlib.sha256() if chunk_sha256 is not None else None
        written = 0
        reported = 0
        disconnected = False
        try:
            async for chunk in chunks:
                if start + written + len(chunk) > length:
                    out.truncate(start)
                    raise _past_length()
                out.write(chunk)
                written += len(chunk)
                if digest is not None:
                    digest.update(chunk)
                elif progress is not None and written - reported >= PROGRESS_EVERY:
                    out.flush()
                    os.fsync(out.fileno())
                    reported = written
                    await progress(start + written)
        except ClientDisconnect:
            disconnected = True
        if digest is not None and (disconnected or digest.digest() != chunk_sha256):
            out.truncate(start)
            if not disconnected:
                raise ChunkChecksumMismatch()
            written = 0
        out.flush()
        os.fsync(out.fileno())
    return Appended(start + written, disconnected)


async def receive_part(
    path: Path,
    chunks: AsyncIterator[bytes],
    *,
    start: int,
    length: int,
    chunk_sha256: bytes | None,
) -> Appended:
    """A request's body for bytes [start, …) of an upload, received whole to `path` (a new scratch file),
    with `append`'s rules: nothing past Upload-Length, all or nothing with a chunk checksum, and what
    arrived before a client vanished is kept. Then the caller keeps the file as one part."""
    digest = hashlib.sha256() if chunk_sha256 is not None else None
    written = 0
    disconnected = False
    with open(path, "wb") as out:
        try:
            async for chunk in chunks:
                if start + written + len(chunk) > length:
                    raise _past_length()
                out.write(chunk)
                written += len(chunk)
                if digest is not None:
                    digest.update(chunk)
        except ClientDisconnect:
            disconnected = True
    if digest is not None and (disconnected or digest.digest() != chunk_sha256):
        if not disconnected:
            raise ChunkChecksumMismatch()
        written = 0
    return Appended(start + written, disconnected)


def _past_length() -> AppError:
    return PhotoTooLarge("The body runs past Upload-Length.", detail_zh="上传内容超过声明的 Upload-Length。")


def photo_too_large(max_bytes: int) -> AppError:
    return PhotoTooLarge(
        f"The photo is over the limit of {max_bytes:,} bytes.", detail_zh=f"照片超过 {max_bytes:,} 字节上限。"
    )


async def receive_whole(
    path: Path,
    chunks: AsyncIterator[bytes],
    *,
    max_bytes: int,
    too_large: Callable[[int], AppError] = photo_too_large,
) -> tuple[int, str]:
    """Stream a whole body to `path` with its SHA-256; over `max_bytes` the file is removed and `too_large`
    says so (413: a photo, unless the caller receives something else)."""
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise too_large(max_bytes)
                out.write(chunk)
                digest.update(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return size, digest.hexdigest()
