"""Where the files the service keeps live — photos, case attachments, export files: a local folder (the
default) or an S3-compatible bucket.

Both hold the same keys (`originals/ab/<sha256>`, `derived/ab/<sha256>.<kind>.jpg`, `uploads/<id>/…`,
`case-files/ab/<sha256>`, `exports/<job>.<format>`),
named by content and never rewritten with other bytes, so a copy made in any order is never wrong, only
incomplete. A key is durable when `put_*` returns: the local folder fsyncs and renames into place (a reader
never sees half a file), S3 answers a PUT only once it holds the whole object.

The S3 store is what lets several API nodes and workers share one set of photos with nothing kept on a node:
any node reads what any other wrote. Only scratch files (a request's body on its way in, a photo being
decoded) stay on the node, in its own temporary folder.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from starlette.responses import FileResponse, Response, StreamingResponse

if TYPE_CHECKING:
    from api.config import Settings

STREAM_CHUNK = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class Listed:
    key: str
    modified: float  # seconds since the epoch


class ObjectStore(Protocol):
    kind: str

    def exists(self, key: str) -> bool: ...

    def put_file(self, key: str, source: Path) -> None:
        """Keep the file's bytes under `key`; `source` stays where it is."""

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def read_bytes(self, key: str) -> bytes:
        """Raises FileNotFoundError when there is no such key."""

    def fetched(self, key: str, scratch: Path) -> contextlib.AbstractContextManager[Path]:
        """A local file with the key's bytes for as long as the block runs (a decoder wants a file)."""

    def local_path(self, key: str) -> Path | None:
        """The key's own file when the store is a local folder (so it can be appended to in place)."""

    def delete(self, keys: list[str]) -> None: ...

    def listing(self, prefix: str) -> Iterator[Listed]: ...

    def response(self, key: str, *, media_type: str, headers: dict[str, str], range_header: str | None,
                 filename: str | None = None) -> Response: ...  # fmt: skip

    def check(self) -> None:
        """Raise OSError (or the client's error) when the store cannot be written to."""


class LocalObjects:
    """Keys are paths under one folder (the photo folder, or the state folder for attachments and exports);
    files kept by content fan out 256 ways by their hash's first byte."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / key

    def local_path(self, key: str) -> Path | None:
        return self.path(key)

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def put_file(self, key: str, source: Path) -> None:
        final = self.path(key)
        if final.exists():  # by content: the bytes are there already
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        with open(source, "rb+") as handle:
            os.fsync(handle.fileno())
        # A hard link, renamed into place: no copy, and no reader sees a half-made name.
        staged = final.with_name(f"{final.name}.{uuid.uuid4().hex}.link")
        try:
            os.link(source, staged)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # The scratch folder is on another file system (the state folder may be): copy instead.
            shutil.copyfile(source, staged)
            with open(staged, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(staged, final)

    def put_bytes(self, key: str, data: bytes) -> None:
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        temp = final.with_name(f"{final.name}.{uuid.uuid4().hex}.tmp")
        with open(temp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, final)

    def read_bytes(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    @contextlib.contextmanager
    def fetched(self, key: str, scratch: Path) -> Iterator[Path]:
        yield self.path(key)

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            self.path(key).unlink(missing_ok=True)

    def listing(self, prefix: str) -> Iterator[Listed]:
        base = self.root / prefix
        if not base.is_dir():
            return
        for path in base.rglob("*"):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            if path.is_file():
                yield Listed(path.relative_to(self.root).as_posix(), stat.st_mtime)

    def response(self, key: str, *, media_type: str, headers: dict[str, str], range_header: str | None,
                 filename: str | None = None) -> Response:  # fmt: skip
        # Starlette answers Range requests on a file itself.
        return FileResponse(
            self.path(key),
            media_type=media_type,
            headers=headers,
            filename=filename,
            content_disposition_type="attachment" if filename else "inline",
        )

    def check(self) -> None:
        folder = self.root / "tmp"
        probe = folder / f"ready-{uuid.uuid4().hex}"
        try:
            with open(probe, "wb") as handle:
                handle.write(b"ok")
                handle.flush()
                os.fsync(handle.fileno())
        finally:
            probe.unlink(missing_ok=True)


class S3Objects:
    """One bucket (and an optional key prefix) on any S3-compatible server: AWS, MinIO, SeaweedFS, Ceph."""

    kind = "s3"

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def _key(self, key: str) -> str:
        return self.prefix + key

    def local_path(self, key: str) -> Path | None:
        return None

    def _missing(self, exc: Exception) -> bool:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        return code in ("404", "NoSuchKey", "NotFound")

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.ClientError as exc:
            if self._missing(exc):
                return False
            raise
        return True

    def put_file(self, key: str, source: Path) -> None:
        # One PUT, streamed from the file (up to 5 GB; photos are at most 40 MB): the object appears whole or
        # not at all. Not boto3's upload_file, whose thread pool cost more CPU than the PUT on small files.
        with open(source, "rb") as body:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=body)

    def put_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def _get(self, key: str, **extra: str) -> dict[str, Any]:
        """GET the object; a key that is not there is FileNotFoundError, as a missing file would be."""
        try:
            answer: dict[str, Any] = self.client.get_object(Bucket=self.bucket, Key=self._key(key), **extra)
        except self.client.exceptions.ClientError as exc:
            if self._missing(exc):
                raise FileNotFoundError(key) from exc
            raise
        return answer

    def read_bytes(self, key: str) -> bytes:
        data: bytes = self._get(key)["Body"].read()
        return data

    @contextlib.contextmanager
    def fetched(self, key: str, scratch: Path) -> Iterator[Path]:
        scratch.mkdir(parents=True, exist_ok=True)
        path = scratch / f"{uuid.uuid4().hex}.fetched"
        try:
            answer = self._get(key)
            with open(path, "wb") as out:
                for chunk in answer["Body"].iter_chunks(STREAM_CHUNK):
                    out.write(chunk)
            yield path
        finally:
            path.unlink(missing_ok=True)

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # the most one request may name
            batch = [{"Key": self._key(key)} for key in keys[start : start + 1000]]
            if batch:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def listing(self, prefix: str) -> Iterator[Listed]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(prefix)
        )
        for page in pages:
            for item in page.get("Contents", []):
                yield Listed(item["Key"][len(self.prefix) :], item["LastModified"].timestamp())

    def response(self, key: str, *, media_type: str, headers: dict[str, str], range_header: str | None,
                 filename: str | None = None) -> Response:  # fmt: skip
        """Streamed through the API, so a download is scoped like the visit (no URL that works for anyone)."""
        asked = _single_range(range_header)
        extra: dict[str, str] = {}
        if asked is not None:
            first, last = asked
            extra["Range"] = (
                f"bytes={first}" if first < 0 else f"bytes={first}-{'' if last is None else last}"
            )
        try:
            answer = self._get(key, **extra)
        except self.client.exceptions.ClientError as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code", "") == "InvalidRange":
                return Response(status_code=416, headers={**headers, "Content-Range": "bytes */*"})
            raise
        out = {**headers, "Accept-Ranges": "bytes", "Content-Length": str(answer["ContentLength"])}
        if filename:
            from urllib.parse import quote

            out["Content-Disposition"] = f"attachment; filename*=utf-8''{quote(filename)}"
        status = 200
        if answer.get("ContentRange"):
            out["Content-Range"] = answer["ContentRange"]
            status = 206
        body = answer["Body"]

        def chunks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(STREAM_CHUNK)
            finally:
                body.close()

        return StreamingResponse(chunks(), status_code=status, media_type=media_type, headers=out)

    def check(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)


def _single_range(header: str | None) -> tuple[int, int | None] | None:
    """One `bytes=first-last` range (or `bytes=-n`, the last n bytes, as `(-n, None)`); anything else is
    answered whole, as RFC 9110 allows."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None or (not match[1] and not match[2]):
        return None
    if not match[1]:
        return -int(match[2]), None
    first = int(match[1])
    last = int(match[2]) if match[2] else None
    if last is not None and last < first:
        return None
    return first, last


@functools.cache
def _s3_client(
    endpoint: str | None, region: str, key_id: str | None, secret: str | None, path_style: bool
) -> Any:
    import boto3  # imported only when a bucket is configured
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint or None,
        region_name=region,
        aws_access_key_id=key_id or None,
        aws_secret_access_key=secret or None,
        config=Config(
            s3={"addressing_style": "path" if path_style else "auto"},
            # A bucket that is down answers the phone 503 in a second or two, not after a long back-off.
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
            max_pool_connections=32,
        ),
    )


def scratch_folder(settings: Settings) -> Path:
    """This node's own temporary files (a request's body on its way in, a photo being decoded, an export being
    written), whatever store keeps the files themselves."""
    return settings.photo_dir / "tmp"


def ensure_bucket(settings: Settings) -> bool:
    """Create the configured bucket when it is missing (True when it was made). A bank's own S3 may refuse;
    then the bucket is made by whoever runs the S3 service, and this only confirms it is there."""
    from botocore.exceptions import EndpointConnectionError

    store = object_store(settings)
    assert isinstance(store, S3Objects)
    # The S3 service may be starting beside us (compose starts both at once): wait up to a minute for it.
    deadline = time.monotonic() + 60
    while True:
        try:
            store.check()
            return False
        except store.client.exceptions.ClientError as exc:
            if not store._missing(exc):
                raise
            break
        except EndpointConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    store.client.create_bucket(Bucket=store.bucket)
    return True


def object_store(settings: Settings, *, area: Literal["photos", "state"] = "photos") -> ObjectStore:
    """The store for photos, or for the other files the service keeps (case attachments, export files).
    Locally these live in the photo folder and the state folder; with a bucket, both are in it, under
    their own keys (`originals/`, `derived/`, `uploads/`; `case-files/`, `exports/`)."""
    if not settings.s3_bucket:
        return LocalObjects(settings.photo_dir if area == "photos" else settings.state_folder)
    client = _s3_client(
        settings.s3_endpoint_url,
        settings.s3_region,
        settings.s3_access_key_id,
        settings.s3_secret_access_key,
        settings.s3_path_style,
    )
    return S3Objects(client, settings.s3_bucket, settings.s3_prefix)
