"""Photo transfer: tus 1.0 (core, creation, checksum) under /api/v1/uploads/, a plain PUT for small
photos, the photo record, and its original, preview and thumbnail."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
import uuid
from email.utils import format_datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Header, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from api.auth.dependencies import CurrentUser, PhotosReader, SettingsDep
from api.auth.models import User
from api.config import Settings
from api.db import CommitFirstRoute, SessionDep
from api.errors import AppError
from api.photos import inspection, jobs, service, transfer
from api.photos.exceptions import (
    BadUploadRequest,
    ChunkChecksumMismatch,
    PhotoNotReady,
    UploadOffsetMismatch,
)
from api.photos.models import Photo, PhotoState, Upload
from api.photos.schemas import PhotoPublic
from api.photos.storage import PartsMissing, PhotoStore
from api.visits.models import Visit

router = APIRouter(prefix="/api/v1", tags=["photos"], route_class=CommitFirstRoute)

TUS_VERSION = "1.0.0"
TUS_HEADERS = {"Tus-Resumable": TUS_VERSION}
IMMUTABLE = "private, max-age=31536000, immutable"
FORMAT_MEDIA_TYPES = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "HEIF": "image/heic",
}


class ClientGone(AppError):
    status = 400
    code = "client_disconnected"
    title_zh = "连接中断，上传未完成"
    title_en = "The connection dropped before the photo was complete"


class TusVersionUnsupported(AppError):
    status = 412
    code = "tus_version_unsupported"
    title_zh = "不支持的 tus 协议版本"
    title_en = "Unsupported tus version"

    def __init__(self) -> None:
        super().__init__("Send Tus-Resumable: 1.0.0.", detail_zh="请发送 Tus-Resumable: 1.0.0。")
        self.headers = {"Tus-Version": TUS_VERSION}


class BadDeviceFix(AppError):
    status = 422
    code = "device_fix_invalid"
    title_zh = "设备定位或时间无效"
    title_en = "Invalid device fix or time"


class UnsupportedMedia(AppError):
    status = 415
    code = "unsupported_media_type"
    title_zh = "不支持的内容类型"
    title_en = "Unsupported content type"


def _require_tus(version: str | None) -> None:
    if version != TUS_VERSION:
        raise TusVersionUnsupported()


def _parse_metadata(raw: str | None) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in (raw or "").split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, encoded = pair.partition(" ")
        try:
            values[key] = base64.b64decode(encoded, validate=True).decode("utf-8") if encoded else ""
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise BadUploadRequest(f"Upload-Metadata value of {key!r} is not base64 UTF-8.") from exc
    return values


def _claim(
    *,
    photo_id: str | None,
    visit_id: str | None,
    item_key: str | None,
    content_type: str | None,
    sha256: str | None,
    size: int | None,
    fix_lat: str | None = None,
    fix_lon: str | None = None,
    fix_accuracy: str | None = None,
    taken_at: str | None = None,
) -> service.PhotoClaim:
    missing = [
        name
        for name, value in (
            ("photo_id", photo_id),
            ("visit_id", visit_id),
            ("item_key", item_key),
            ("content_type", content_type),
            ("sha256", sha256),
        )
        if not value
    ]
    if missing:
        raise BadUploadRequest(f"Missing: {', '.join(missing)}.", detail_zh=f"缺少：{', '.join(missing)}。")
    try:
        photo_uuid, visit_uuid = uuid.UUID(str(photo_id)), uuid.UUID(str(visit_id))
    except ValueError as exc:
        raise BadUploadRequest(
            "photo_id and visit_id must be UUIDs.", detail_zh="photo_id 与 visit_id 须为 UUID。"
        ) from exc
    digest = str(sha256).lower()
    if not service.SHA256_HEX.match(digest):
        raise BadUploadRequest("sha256 must be 64 hex digits.", detail_zh="sha256 须为 64 位十六进制。")
    declared = str(content_type).split(";")[0].strip().lower()
    if declared not in inspection.CONTENT_TYPES:
        raise UnsupportedMedia(
            f"content_type {declared[:64]!r} is not a photo type we accept "
            f"({', '.join(sorted(inspection.CONTENT_TYPES))}).",
            detail_zh=f"不接受的照片类型 {declared[:64]!r}。",
        )
    if len(str(item_key)) > 64:
        raise BadUploadRequest(
            "item_key is longer than 64 characters.", detail_zh="item_key 超过 64 个字符。"
        )
    device_fix = None
    try:
        if fix_lat or fix_lon or fix_accuracy:
            if not (fix_lat and fix_lon):
                raise ValueError("fix_lat and fix_lon go together")
            lat, lon = _finite(fix_lat, "fix_lat", -90, 90), _finite(fix_lon, "fix_lon", -180, 180)
            accuracy = _finite(fix_accuracy, "fix_accuracy", 0, 100_000) if fix_accuracy else None
            device_fix = {"lat": lat, "lon": lon, "accuracy_m": accuracy}
        device_taken_at = dt.datetime.fromisoformat(taken_at) if taken_at else None
        if device_taken_at is not None and device_taken_at.tzinfo is None:
            raise ValueError("taken_at needs an offset")
    except ValueError as exc:
        raise BadDeviceFix(f"Bad device fix or time: {exc}", detail_zh=f"设备定位或时间无效：{exc}") from exc
    return service.PhotoClaim(
        photo_id=photo_uuid,
        visit_id=visit_uuid,
        item_key=str(item_key),
        declared_type=declared,
        sha256=digest,
        size=size,
        device_fix=device_fix,
        device_taken_at=device_taken_at,
    )


def _finite(text: str, name: str, low: float, high: float) -> float:
    value = float(text)
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name} must be a number from {low:g} to {high:g}")
    return value


def _photo_answer(photo: Photo, status: int) -> JSONResponse:
    return JSONResponse(
        service.public(photo).model_dump(mode="json"),
        status_code=status,
        headers={
            **TUS_HEADERS,
            "Location": f"/api/v1/photos/{photo.id}",
            "Fieldvisit-Photo-Id": str(photo.id),
        },
    )


def _process_later(background: BackgroundTasks, request: Request, settings: Any, photo: Photo) -> None:
    # Right after the answer, in this process; where `fieldvisit worker`s do the background work, they take
    # the photo up at their next poll instead, so that API nodes only ingest.
    if photo.state == PhotoState.received and settings.background_in_serve:
        soon: jobs.SoonAfter = request.app.state.derivatives_soon
        if soon.add(photo.id):
            background.add_task(soon.run)


@router.options("/uploads/", include_in_schema=False)
@router.options("/uploads/{upload_id}", include_in_schema=False)
def tus_options(settings: SettingsDep) -> Response:
    return Response(
        status_code=204,
        headers={
            **TUS_HEADERS,
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": "creation,creation-with-upload,checksum,expiration,termination",
            "Tus-Checksum-Algorithm": "sha256",
            "Tus-Max-Size": str(settings.max_photo_bytes),
        },
    )


@router.post("/uploads/", status_code=201, summary="tus: create an upload", response_model=None)
async def tus_create(
    request: Request,
    background: BackgroundTasks,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    upload_length: Annotated[int, Header(ge=0, le=2**62)],
    upload_metadata: Annotated[
        str, Header(description="tus metadata: comma-separated `key base64(value)` pairs (see below).")
    ],
    tus_resumable: Annotated[str | None, Header()] = None,
    content_type: Annotated[str | None, Header()] = None,
    upload_checksum: Annotated[str | None, Header()] = None,
) -> Response:
    """`Upload-Metadata` carries `photo_id`, `visit_id`, `item_key`, `content_type` (or `filetype`) and
    `sha256` (hex, computed on the device), and optionally `fix_lat`, `fix_lon`, `fix_accuracy` and
    `taken_at`; every field is checked here, before a byte is kept. When a photo with this UUID and hash
    is already kept, the new upload is already complete (`Upload-Offset` equals `Upload-Length`, and
    `Fieldvisit-Photo-Id` names the photo); with another hash, 409.

    tus `creation-with-upload`: with `Content-Type: application/offset+octet-stream` the body is the
    upload's first bytes, so a photo smaller than the client's chunk is one request; the answer's
    `Upload-Offset` says how many were kept (and `Fieldvisit-Photo-Id` when that was all of them). When the
    body is the whole photo (`Content-Length` equals `Upload-Length`) it is received before anything is
    written, then the photo and its finished upload are written together: a body cut short leaves nothing,
    and the client creates the upload again. With only the first bytes, the upload is committed before they
    are read, so a cut mid-body leaves an upload to resume with HEAD."""
    _require_tus(tus_resumable)
    with_data = content_type == "application/offset+octet-stream"
    chunk_digest = _parse_checksum(upload_checksum) if with_data else None
    claim, extra = _claim_of_metadata(upload_length=upload_length, upload_metadata=upload_metadata)
    if with_data and upload_length > 0 and request.headers.get("content-length") == str(upload_length):
        whole = await _create_whole(request, background, session, settings, user, claim, extra, chunk_digest)
        if whole is not None:
            return whole
        # The body may have been read already (another request kept the photo meanwhile): the upload made
        # below is then finished, or, should the photo be gone after all, answered at offset 0 for a PATCH.
        with_data = False
    upload, visit = await run_in_threadpool(
        service.create_upload, session, settings=settings, user=user, claim=claim, extra=extra
    )
    # The upload exists before a byte is read: committed now, it survives a cut in the middle of the body.
    await run_in_threadpool(session.commit)
    headers = {"Location": f"/api/v1/uploads/{upload.id}", **_upload_headers(upload)}
    # The body holds the photo's first bytes: kept only by an upload that has none yet (a phone asking again
    # after a lost answer is handed the upload it has, whose offset then says where to go on from).
    if with_data and upload.finished_photo_id is None and upload.offset == 0:
        headers.update(
            await _receive(request, background, session, settings, user, upload, chunk_digest, visit=visit)
        )
    return Response(status_code=201, headers=headers, background=background)


async def _create_whole(
    request: Request,
    background: BackgroundTasks,
    session: Session,
    settings: Settings,
    user: User,
    claim: service.PhotoClaim,
    extra: dict[str, Any],
    chunk_digest: bytes | None,
) -> Response | None:
    """The creation carries the whole photo (one under the app's chunk: the everyday case). The body is
    received first, then the upload is written finished together with the photo: one transaction instead of
    three (upload, offset, photo). A body cut short leaves nothing, and the phone, which never heard of an
    upload, creates it again; nothing is lost, as it keeps the photo until it is acknowledged. None: take the
    ordinary way (the photo is already here, or was kept meanwhile by another request)."""
    # Each step is one hop to the threadpool (a GIL hand-over under load), its commit included.
    visit, already = await _checked_before_the_body(session, settings=settings, user=user, claim=claim)
    if already is not None:
        return None
    assert claim.size is not None
    temp, digest = await _received_whole(request, settings, max_bytes=claim.size)
    if chunk_digest is not None and bytes.fromhex(digest) != chunk_digest:
        temp.unlink(missing_ok=True)
        raise ChunkChecksumMismatch()

    def kept_and_committed() -> tuple[Upload, Photo] | None:
        kept = service.keep_whole_upload(
            session,
            settings=settings,
            user=user,
            visit=visit,
            claim=claim,
            extra=extra,
            path=temp,
            sha256=digest,
        )
        if kept is not None:
            session.commit()  # before the answer, as every request's (api/db.py, CommitFirstRoute)
        return kept

    kept = await run_in_threadpool(kept_and_committed)
    if kept is None:
        return None
    upload, photo = kept
    _process_later(background, request, settings, photo)
    headers = {"Location": f"/api/v1/uploads/{upload.id}", **_upload_headers(upload)}
    return Response(status_code=201, headers=headers, background=background)


async def _checked_before_the_body(
    session: Session, *, settings: Settings, user: User, claim: service.PhotoClaim
) -> tuple[Visit, Photo | None]:
    """`service.check_new_photo`, then the transaction ended — in one hop to the threadpool. Nothing is written
    yet: no lock may be held while the phone sends (on SQLite a write transaction locks the whole database,
    and a slow upload would lock everyone out)."""

    def checked() -> tuple[Visit, Photo | None]:
        found = service.check_new_photo(session, settings=settings, user=user, claim=claim)
        session.commit()
        return found

    return await run_in_threadpool(checked)


async def _received_whole(request: Request, settings: Settings, *, max_bytes: int) -> tuple[Path, str]:
    """The request's body in a scratch file, and its SHA-256 (a client gone mid-body: nothing kept)."""
    temp = service.photo_store(settings).temp_path()
    try:
        _size, digest = await transfer.receive_whole(temp, request.stream(), max_bytes=max_bytes)
    except ClientDisconnect as exc:
        raise ClientGone() from exc
    return temp, digest


def _claim_of_metadata(
    *, upload_length: int, upload_metadata: str
) -> tuple[service.PhotoClaim, dict[str, Any]]:
    meta = _parse_metadata(upload_metadata)
    claim = _claim(
        photo_id=meta.get("photo_id"),
        visit_id=meta.get("visit_id"),
        item_key=meta.get("item_key"),
        content_type=meta.get("content_type") or meta.get("filetype"),
        sha256=meta.get("sha256"),
        size=upload_length,
        fix_lat=meta.get("fix_lat"),
        fix_lon=meta.get("fix_lon"),
        fix_accuracy=meta.get("fix_accuracy"),
        taken_at=meta.get("taken_at"),
    )
    extra: dict[str, Any] = {}
    if claim.device_fix:
        extra["device_fix"] = claim.device_fix
    if claim.device_taken_at:
        extra["device_taken_at"] = claim.device_taken_at.isoformat()
    return claim, extra


async def _receive(
    request: Request,
    background: BackgroundTasks,
    session: Session,
    settings: Settings,
    user: User,
    upload: Upload,
    chunk_digest: bytes | None,
    *,
    visit: Visit | None = None,
) -> dict[str, str]:
    """Append the request's body at the upload's offset; when the last byte is in, verify and keep the
    photo. Returns the tus headers of the answer."""
    start = upload.offset
    appended = transfer.Appended(start, False)
    if start < upload.length:

        async def progress(offset: int) -> None:
            await run_in_threadpool(
                service.record_progress, request.app.state.sessionmaker, upload_id=upload.id, offset=offset
            )

        try:
            appended = await service.photo_store(settings).append(
                upload.id,
                request.stream(),
                start=start,
                length=upload.length,
                chunk_sha256=chunk_digest,
                progress=progress,
            )
        except PartsMissing as exc:
            await run_in_threadpool(
                service.upload_lost, session, settings=settings, upload=upload, reason=exc
            )
        try:
            await run_in_threadpool(
                service.record_offset, session, upload=upload, start=start, offset=appended.offset
            )
        except BaseException:
            if appended.tail is not None:
                appended.tail.unlink(missing_ok=True)
            raise
        if appended.tail is None:
            # The bytes are kept: the offset is committed before the photo is finished, so that a crash
            # while finishing leaves an upload that the next request finishes (see _redo_finish). Bytes in
            # scratch (`tail`) are not kept: their offset commits with the photo, or not at all.
            await run_in_threadpool(session.commit)
    headers = {**TUS_HEADERS, "Upload-Offset": str(appended.offset)}
    if appended.offset < upload.length or appended.disconnected:
        headers |= _expiry_header(upload)
    if appended.offset == upload.length and not appended.disconnected:
        photo = await run_in_threadpool(
            service.finish_upload,
            session,
            settings=settings,
            user=user,
            upload=upload,
            visit=visit,
            tail=appended.tail,
            tail_start=start,
        )
        headers["Fieldvisit-Photo-Id"] = str(photo.id)
        _process_later(background, request, settings, photo)
    return headers


def _upload_headers(upload: Upload) -> dict[str, str]:
    headers = {**TUS_HEADERS, "Upload-Offset": str(upload.offset), "Upload-Length": str(upload.length)}
    if upload.finished_photo_id is not None:
        headers["Fieldvisit-Photo-Id"] = str(upload.finished_photo_id)
    return headers | _expiry_header(upload)


def _expiry_header(upload: Upload) -> dict[str, str]:
    """tus `expiration`: when an unfinished upload is forgotten unless more of it arrives."""
    expires = service.upload_expires(upload)
    if expires is None:
        return {}
    return {"Upload-Expires": format_datetime(expires.astimezone(dt.UTC), usegmt=True)}


def _redo_finish(request: Request, settings: Settings, user: User, upload_id: uuid.UUID) -> Upload:
    """A request that found every byte confirmed but no photo (the server died while finishing): finish
    now, in a transaction of its own."""
    with request.app.state.sessionmaker() as session:
        upload = service.get_upload_for(session, user=user, upload_id=upload_id)
        if upload.finished_photo_id is None and upload.offset == upload.length:
            try:
                service.finish_upload(session, settings=settings, user=user, upload=upload)
            except AppError as exc:
                if exc.commit_anyway:  # a refused photo or lost bytes end the upload, and that must stick
                    session.commit()
                raise
        session.commit()
        return upload


@router.head("/uploads/{upload_id}", summary="tus: how much has arrived")
def tus_head(
    upload_id: uuid.UUID,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    tus_resumable: Annotated[str | None, Header()] = None,
) -> Response:
    """A finished upload keeps answering with its full offset for 24 hours (a phone that lost the last
    answer learns here that everything arrived). An unfinished one answers `Upload-Expires`: receiving
    nothing for 7 days, it is forgotten (404 here), and the client sends the photo again in a new upload."""
    _require_tus(tus_resumable)
    upload = service.get_upload_for(session, user=user, upload_id=upload_id)
    if upload.finished_photo_id is None and upload.offset == upload.length:
        upload = _redo_finish(request, settings, user, upload_id)
    return Response(status_code=200, headers={**_upload_headers(upload), "Cache-Control": "no-store"})


@router.patch("/uploads/{upload_id}", status_code=204, summary="tus: send bytes from Upload-Offset")
async def tus_patch(
    upload_id: uuid.UUID,
    request: Request,
    background: BackgroundTasks,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    tus_resumable: Annotated[str | None, Header()] = None,
    upload_offset: Annotated[int | None, Header(ge=0, le=2**62)] = None,
    upload_checksum: Annotated[str | None, Header()] = None,
    content_type: Annotated[str | None, Header()] = None,
) -> Response:
    """`Content-Type: application/offset+octet-stream`. With `Upload-Checksum: sha256 <base64>` the
    chunk is all or nothing (460 on mismatch). When the last byte arrives, the whole photo's SHA-256 is
    checked against the device's (422 and nothing kept on mismatch) and the image is validated; the
    answer then carries `Fieldvisit-Photo-Id`. A PATCH to an upload that is already finished answers 204
    with the full offset: the bytes are held and were verified."""
    _require_tus(tus_resumable)
    upload = await run_in_threadpool(service.get_upload_for, session, user=user, upload_id=upload_id)
    if content_type != "application/offset+octet-stream":
        raise UnsupportedMedia(
            "Send Content-Type: application/offset+octet-stream.",
            detail_zh="请使用 Content-Type: application/offset+octet-stream。",
        )
    if upload.finished_photo_id is not None:
        return Response(status_code=204, headers=_upload_headers(upload))
    if upload_offset is None or upload_offset != upload.offset:
        raise UploadOffsetMismatch(
            f"The server has {upload.offset} bytes.",
            detail_zh=f"服务器已收到 {upload.offset} 字节。",
            extra={"upload_offset": upload.offset},
            headers={**TUS_HEADERS, "Upload-Offset": str(upload.offset)},
        )
    chunk_digest = _parse_checksum(upload_checksum)
    # Nothing is written yet: end the transaction so that no lock is held while the phone sends.
    await run_in_threadpool(session.commit)
    headers = await _receive(request, background, session, settings, user, upload, chunk_digest)
    return Response(status_code=204, headers=headers, background=background)


def _parse_checksum(header: str | None) -> bytes | None:
    if header is None:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm.lower() != "sha256":
        raise BadUploadRequest("Only sha256 checksums are supported.", detail_zh="仅支持 sha256 校验。")
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise BadUploadRequest(
            "Upload-Checksum is not base64.", detail_zh="Upload-Checksum 不是 base64。"
        ) from exc


@router.delete("/uploads/{upload_id}", status_code=204, summary="tus: abandon an upload")
def tus_delete(
    upload_id: uuid.UUID, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> Response:
    upload = service.get_upload_for(session, user=user, upload_id=upload_id)
    service.discard_upload(session, settings=settings, upload=upload)
    return Response(status_code=204, headers=TUS_HEADERS)


@router.put(
    "/photos/{photo_id}",
    response_model=PhotoPublic,
    status_code=201,
    summary="Upload a small photo in one request",
    openapi_extra={
        "requestBody": {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}
    },
)
async def put_photo(
    photo_id: uuid.UUID,
    request: Request,
    background: BackgroundTasks,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    visit_id: uuid.UUID,
    item_key: Annotated[str, Query(min_length=1, max_length=64)],
    sha256: Annotated[
        str, Query(description="Hex SHA-256 computed on the device.", pattern="^[0-9a-fA-F]{64}$")
    ],
    fix_lat: Annotated[float | None, Query(ge=-90, le=90, allow_inf_nan=False)] = None,
    fix_lon: Annotated[float | None, Query(ge=-180, le=180, allow_inf_nan=False)] = None,
    fix_accuracy: Annotated[float | None, Query(ge=0, le=100_000, allow_inf_nan=False)] = None,
    taken_at: Annotated[str | None, Query(description="RFC 3339 with an offset: the phone's clock.")] = None,
    # Documented as the request body's media types (api/openapi.py), not as a free-text header.
    content_type: Annotated[str | None, Header(include_in_schema=False)] = None,
    content_length: Annotated[int | None, Header(ge=0, le=2**62)] = None,
) -> Response:
    """The same rules as a tus upload: the same UUID with the same hash answers 200 with the existing
    photo, with another hash 409; a checksum mismatch or a bad file is refused with nothing kept."""
    claim = _claim(
        photo_id=str(photo_id),
        visit_id=str(visit_id),
        item_key=item_key,
        content_type=content_type,
        sha256=sha256,
        size=content_length,
        fix_lat=None if fix_lat is None else str(fix_lat),
        fix_lon=None if fix_lon is None else str(fix_lon),
        fix_accuracy=None if fix_accuracy is None else str(fix_accuracy),
        taken_at=taken_at,
    )
    visit, already = await _checked_before_the_body(session, settings=settings, user=user, claim=claim)
    if already is not None:
        return _photo_answer(already, 200)
    temp, digest = await _received_whole(request, settings, max_bytes=settings.max_photo_bytes)
    photo = await run_in_threadpool(
        service.accept_file,
        session,
        settings=settings,
        user=user,
        visit=visit,
        claim=claim,
        path=temp,
        known_sha256=digest,
        known_new=True,
    )
    _process_later(background, request, settings, photo)
    answer = _photo_answer(photo, 201)
    answer.background = background
    return answer


@router.get("/photos/{photo_id}", response_model=PhotoPublic, summary="A photo's record")
def get_photo(photo_id: uuid.UUID, user: PhotosReader, session: SessionDep) -> PhotoPublic:
    return service.public(service.get_photo_for(session, user=user, photo_id=photo_id))


@router.get(
    "/photos/{photo_id}/{kind}",
    summary="The original (Range requests welcome), the 1600 px preview, the 320 px thumbnail, or the "
    "preview stamped with time, place, manager and borrower (水印)",
    response_class=FileResponse,
)
def get_photo_bytes(
    photo_id: uuid.UUID,
    kind: Literal["original", "preview", "thumbnail", "stamped"],
    user: PhotosReader,
    session: SessionDep,
    settings: SettingsDep,
    if_none_match: Annotated[str | None, Header()] = None,
    range_: Annotated[str | None, Header(alias="Range", include_in_schema=False)] = None,
) -> Response:
    photo = service.get_photo_for(session, user=user, photo_id=photo_id)
    cache = IMMUTABLE
    if kind == "stamped":
        key = service.stamped_copy(session, settings=settings, photo=photo)
        # Its text follows the names of today (a renamed borrower gives a new copy): revalidate each time.
        etag, media, cache = f'"{key.rsplit("/", 1)[1].split(".")[1]}"', "image/jpeg", "private, no-cache"
    elif kind == "original":
        key = PhotoStore.original_key(photo.sha256)
        etag, media = f'"{photo.sha256}"', FORMAT_MEDIA_TYPES.get(photo.format, "application/octet-stream")
    else:
        made = service.derivative(photo, kind)
        if made is None:
            raise PhotoNotReady(headers={"Retry-After": "5"})
        digest, key = made
        etag, media = f'"{digest}"', "image/jpeg"
    headers = {"ETag": etag, "Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
    if if_none_match and etag in [tag.strip() for tag in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    return service.photo_store(settings).objects.response(
        key, media_type=media, headers=headers, range_header=range_
    )
