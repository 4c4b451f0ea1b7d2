"""Photos: accepting verified bytes (from tus or a plain PUT), refusing bad ones, reading them back.

Every path that ends a transfer goes through `accept_file`: checksum against the device's SHA-256,
idempotency on the photo UUID, image validation, then the original is kept by content and the row
is written in state `received`. Derivatives are made afterwards (jobs.py), so the phone is answered
as soon as the evidence is safe.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import bindparam, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select

from api.auth.models import User
from api.checklists import service as checklist_service
from api.checklists.schemas import PHOTO_TYPES
from api.config import Settings
from api.db import utcnow
from api.errors import NotFound
from api.kit.faults import crash_point
from api.kit.races import inserted
from api.photos import inspection, watermark
from api.photos.exceptions import (
    ChecksumMismatch,
    EmptyPhoto,
    NotAPhotoItem,
    PhotoIdConflict,
    PhotoNotReady,
    PhotoTooLarge,
    UploadLost,
    UploadOffsetMismatch,
)
from api.photos.inspection import PhotoRejected
from api.photos.models import Photo, PhotoState, Upload
from api.photos.schemas import PhotoLinks, PhotoPublic, phash_hex
from api.photos.storage import PartsMissing, PhotoStore, after_commit, sha256_of, unlink_after_commit
from api.portfolio.models import Borrower
from api.visits import service as visit_service
from api.visits.models import Visit

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
# How long a finished tus upload still answers HEAD with its full offset (see Upload).
FINISHED_UPLOAD_KEPT = dt.timedelta(hours=24)
# How long an unfinished upload waits for its next byte (tus `expiration`: answered as `Upload-Expires`).
# Then it is forgotten and the sweep removes what it had received: nothing is lost, as the phone keeps the
# photo until it is acknowledged; its client hears 404 on HEAD and sends the photo again in a new upload.
UNFINISHED_UPLOAD_KEPT = dt.timedelta(days=7)


def photo_store(settings: Settings) -> PhotoStore:
    return PhotoStore.of(settings)


def photo_limits(settings: Settings) -> inspection.Limits:
    """The pixel limits an image is held to, a photo or a case's attachment alike."""
    return inspection.Limits(settings.max_jpeg_pixels, settings.max_other_pixels)


@dataclass(frozen=True)
class PhotoClaim:
    """What the device says about a photo before its bytes are checked."""

    photo_id: uuid.UUID
    visit_id: uuid.UUID
    item_key: str
    declared_type: str
    sha256: str
    size: int | None
    device_fix: dict[str, Any] | None = None
    device_taken_at: dt.datetime | None = None


# The visit a photo is claimed for and the photo already kept under its UUID, if any: one statement, not two
# lookups (every photo's first request runs it). Built once.
_CLAIMED = (
    select(Visit, Photo)
    .outerjoin(Photo, col(Photo.id) == bindparam("photo_id"))
    .where(col(Visit.id) == bindparam("visit_id"))
)


def check_new_photo(
    session: Session, *, settings: Settings, user: User, claim: PhotoClaim
) -> tuple[Visit, Photo | None]:
    """Refuse what can be refused before a byte is received. Returns the visit the photo belongs to and the
    photo already kept under this UUID, if any."""
    visit_service.require_capturer(user)
    found = session.execute(_CLAIMED, {"visit_id": claim.visit_id, "photo_id": claim.photo_id}).first()
    visit, photo = found if found is not None else (None, None)
    visit = visit_service.captured_by(session, user=user, visit=visit)
    definition = checklist_service.pinned_definition(session, version_id=visit.template_version_id)
    item = definition.item_for(claim.item_key)  # `item_key[n]` for one repeat of a repeated item
    if item is None or item.type not in PHOTO_TYPES:
        raise NotAPhotoItem(
            f"{claim.item_key!r} is not a photo item of this visit's checklist.",
            detail_zh=f"{claim.item_key!r} 不是本次检查清单中的拍照项。",
        )
    if claim.size is not None:
        if claim.size > settings.max_photo_bytes:
            raise PhotoTooLarge(
                f"{claim.size:,} bytes is over the limit of {settings.max_photo_bytes:,}.",
                detail_zh=f"{claim.size:,} 字节超过上限 {settings.max_photo_bytes:,}。",
            )
        if claim.size == 0:
            raise EmptyPhoto()
    return visit, _same_bytes_or_conflict(photo, claim.photo_id, claim.sha256)


def existing_photo(session: Session, *, photo_id: uuid.UUID, sha256: str) -> Photo | None:
    """The photo already kept under this UUID; a different hash under the same UUID is a conflict."""
    return _same_bytes_or_conflict(session.get(Photo, photo_id), photo_id, sha256)


def _same_bytes_or_conflict(photo: Photo | None, photo_id: uuid.UUID, sha256: str) -> Photo | None:
    if photo is not None and photo.sha256 != sha256:
        raise PhotoIdConflict(
            f"Photo {photo_id} was received with SHA-256 {photo.sha256}.",
            detail_zh=f"照片 {photo_id} 已以另一校验值 {photo.sha256} 保存。",
        )
    return photo


def accept_file(
    session: Session,
    *,
    settings: Settings,
    user: User,
    visit: Visit,
    claim: PhotoClaim,
    path: Path,
    known_sha256: str | None = None,
    known_new: bool = False,
    private_file: bool = True,
    savepoint: bool = True,
) -> Photo:
    """Verify the received file at `path` and keep it. A refused file is removed at once; an accepted
    one when the transaction commits (a `private_file`, which no later request can resume, also when it
    rolls back).

    `known_sha256` is the hash computed while the bytes streamed in, when there was one; `known_new`
    says the caller has just looked for this photo UUID (a race is still caught by the primary key).
    Without a `savepoint` (for a transaction that writes nothing before it) a photo kept meanwhile under this
    UUID surfaces as IntegrityError at the next flush, and the caller rolls back and starts again."""
    store = photo_store(settings)
    unlink_after_commit(session, path, also_on_rollback=private_file)
    try:
        actual = known_sha256 or sha256_of(path)
        if actual != claim.sha256:
            raise ChecksumMismatch(
                f"The device said {claim.sha256}, the bytes hash to {actual}.",
                detail_zh=f"设备提供的校验值为 {claim.sha256}，实际为 {actual}。",
            )
        size = path.stat().st_size
        if size == 0:
            raise EmptyPhoto()
        already = None if known_new else existing_photo(session, photo_id=claim.photo_id, sha256=actual)
        if already is not None:
            return already
        facts = inspection.inspect(
            path,
            declared_type=claim.declared_type,
            limits=photo_limits(settings),
        )
    except PhotoRejected:
        path.unlink(missing_ok=True)
        raise
    except BaseException:
        # Not a verdict on the photo (an outage, a bug): a resumable upload keeps its bytes.
        if private_file:
            path.unlink(missing_ok=True)
        raise
    store.keep_original(path, actual)
    photo = Photo(
        id=claim.photo_id,
        visit_id=visit.id,
        branch_id=visit.branch_id,
        item_key=claim.item_key,
        uploaded_by_id=user.id,
        sha256=actual,
        size=size,
        declared_type=claim.declared_type,
        format=facts.format,
        width=facts.width,
        height=facts.height,
        exif=facts.exif_json(),
        gps_lat=facts.gps_lat,
        gps_lon=facts.gps_lon,
        taken_at=facts.taken_at,
        device_fix=claim.device_fix,
        device_taken_at=claim.device_taken_at,
        state=PhotoState.received,
    )
    if not savepoint:
        session.add(photo)
    elif not inserted(session, photo):
        # The same photo arrived through another request a moment ago.
        winner = existing_photo(session, photo_id=claim.photo_id, sha256=actual)
        assert winner is not None
        return winner
    from api.sync import service as sync_service  # the manifest lives with submissions

    sync_service.photo_arrived(session, photo=photo)
    return photo


# ---- reading ----


def get_photo_for(session: Session, *, user: User, photo_id: uuid.UUID) -> Photo:
    photo = session.get(Photo, photo_id)
    if photo is None or (
        photo.uploaded_by_id != user.id
        and not visit_service.can_see_visit(session, user=user, visit_id=photo.visit_id)
    ):
        raise NotFound("No such photo.", detail_zh="照片不存在。")
    return photo


def public(photo: Photo) -> PhotoPublic:
    base = f"/api/v1/photos/{photo.id}"
    return PhotoPublic(
        id=photo.id,
        visit_id=photo.visit_id,
        item_key=photo.item_key,
        sha256=photo.sha256,
        size=photo.size,
        content_type=photo.declared_type,
        format=photo.format,
        width=photo.width,
        height=photo.height,
        phash=phash_hex(photo.phash),
        exif=photo.exif,
        device_fix=photo.device_fix,
        device_taken_at=photo.device_taken_at,
        state=photo.state,
        received_at=photo.received_at,
        processed_at=photo.processed_at,
        links=PhotoLinks(
            original=f"{base}/original",
            preview=f"{base}/preview",
            thumbnail=f"{base}/thumbnail",
            stamped=f"{base}/stamped",
        ),
    )


def derivative(photo: Photo, kind: str) -> tuple[str, str] | None:
    """A `preview` or `thumbnail`: its digest and its key in the store, or None until it is made. An upright
    JPEG already within a derivative's size is its own, and then the original serves."""
    digest = photo.thumbnail_sha256 if kind == "thumbnail" else photo.preview_sha256
    if digest is None:
        return None
    if digest == photo.sha256:
        return digest, PhotoStore.original_key(photo.sha256)
    return digest, PhotoStore.derived_key(photo.sha256, kind)


def stamped_copy(
    session: Session, *, settings: Settings, photo: Photo, width: int = watermark.STAMPED_PX
) -> str:
    """The key of the photo with the watermark band (watermark.py), made from its preview on first request.
    Raises PhotoNotReady while the preview is not made yet."""
    preview = derivative(photo, "preview")
    if preview is None:
        raise PhotoNotReady(headers={"Retry-After": "5"})
    _digest, source = preview
    visit = session.get_one(Visit, photo.visit_id)
    manager = session.get(User, photo.uploaded_by_id)
    borrower = session.get(Borrower, visit.borrower_id)
    lines = watermark.band_lines(
        photo,
        manager=manager.display_name if manager else "",
        borrower=borrower.name if borrower else "",
        zone=settings.timezone,
    )
    store = photo_store(settings)
    kind = f"stamped{width}-{watermark.key_of(lines)}"
    key = store.derived_key(photo.sha256, kind)
    if not store.objects.exists(key):
        with store.objects.fetched(source, store.tmp) as path:
            store.write_derived(photo.sha256, kind, watermark.stamp(path, lines, width=width))
    return key


# ---- tus uploads ----


def create_upload(
    session: Session, *, settings: Settings, user: User, claim: PhotoClaim, extra: dict[str, Any]
) -> tuple[Upload, Visit]:
    """Start a resumable upload. When these bytes are already kept, the answer is an upload that is
    already complete, so that any tus client ends cleanly (it asks, hears every byte arrived, stops).
    Returns the upload and its visit (checked for this user, handed on to finish it in the same request)."""
    visit, already = check_new_photo(session, settings=settings, user=user, claim=claim)
    # A phone that lost the creation answer asks again: hand back the upload it already has.
    upload = session.scalar(
        select(Upload).where(
            Upload.photo_id == claim.photo_id, Upload.sha256 == claim.sha256, Upload.created_by_id == user.id
        )
    )
    if upload is not None:
        return upload, visit
    upload = _upload_of(claim, visit=visit, user=user, extra=extra, finished=already)
    session.add(upload)
    session.flush()
    if already is None:
        photo_store(settings).start_upload(upload.id)
    return upload, visit


def keep_whole_upload(
    session: Session,
    *,
    settings: Settings,
    user: User,
    visit: Visit,
    claim: PhotoClaim,
    extra: dict[str, Any],
    path: Path,
    sha256: str,
) -> tuple[Upload, Photo] | None:
    """A photo that came whole with its upload's creation (received to `path`, hashing to `sha256`): verify
    and keep it, and write its upload already finished — one transaction, one flush, no savepoint (nothing
    else is written in it). None when a photo was kept under this UUID meanwhile: the transaction is rolled
    back, and the caller answers as it does for a photo already here."""
    try:
        photo = accept_file(
            session,
            settings=settings,
            user=user,
            visit=visit,
            claim=claim,
            path=path,
            known_sha256=sha256,
            known_new=True,
            savepoint=False,
        )
        # Added once the photo is accepted: a refused photo ends the request with nothing written.
        upload = _upload_of(claim, visit=visit, user=user, extra=extra, finished=photo)
        session.add(upload)
        session.flush()
    except IntegrityError:
        session.rollback()
        return None
    crash_point("photo_finished_before_commit")
    return upload, photo


def _upload_of(
    claim: PhotoClaim, *, visit: Visit, user: User, extra: dict[str, Any], finished: Photo | None
) -> Upload:
    """A new upload for the claim: waiting for its bytes, or already `finished` by a photo that is kept."""
    assert claim.size is not None
    return Upload(
        photo_id=claim.photo_id,
        visit_id=visit.id,
        item_key=claim.item_key,
        declared_type=claim.declared_type,
        sha256=claim.sha256,
        length=finished.size if finished is not None else claim.size,
        offset=finished.size if finished is not None else 0,
        metadata_extra=extra,
        created_by_id=user.id,
        finished_photo_id=finished.id if finished is not None else None,
        finished_at=utcnow() if finished is not None else None,
    )


def get_upload_for(session: Session, *, user: User, upload_id: uuid.UUID) -> Upload:
    upload = session.get(Upload, upload_id)
    if upload is None or upload.created_by_id != user.id:
        raise NotFound("No such upload.", detail_zh="上传不存在或已结束。")
    return upload


def claim_of(upload: Upload) -> PhotoClaim:
    extra = upload.metadata_extra or {}
    return PhotoClaim(
        photo_id=upload.photo_id,
        visit_id=upload.visit_id,
        item_key=upload.item_key,
        declared_type=upload.declared_type,
        sha256=upload.sha256,
        size=upload.length,
        device_fix=extra.get("device_fix"),
        device_taken_at=dt.datetime.fromisoformat(extra["device_taken_at"])
        if extra.get("device_taken_at")
        else None,
    )


def finish_upload(
    session: Session,
    *,
    settings: Settings,
    user: User,
    upload: Upload,
    visit: Visit | None = None,
    tail: Path | None = None,
    tail_start: int = 0,
) -> Photo:
    """All bytes are in: verify and keep the photo. A refused photo ends the upload; an accepted one
    marks it finished. Safe to run again after a crash before the commit: the partial file is removed
    only once the photo's row has committed. `visit` is the upload's, when the caller has just checked it;
    `tail`, the last request's bytes from `tail_start` when it wrote no part (a bucket)."""
    if upload.finished_photo_id is not None:
        photo = session.get(Photo, upload.finished_photo_id)
        assert photo is not None
        return photo
    store = photo_store(settings)
    # A bucket's parts are copied into one scratch file (private: removed whatever happens; the parts stay
    # until the photo commits, so a crash here is redone from them by the next request, on any node).
    try:
        path, private = store.assembled(upload.id, upload.length, tail=tail, tail_start=tail_start)
    except PartsMissing as exc:
        upload_lost(session, settings=settings, upload=upload, reason=exc)
    # Part objects in a bucket, to remove once the photo is kept or refused (a local partial file is the
    # received file itself, removed by accept_file; a photo that came in one request left no part).
    parts = private and not (tail is not None and tail_start == 0)
    claim = claim_of(upload)
    if visit is None:
        visit = visit_service.get_visit_for_capture(session, user=user, visit_id=claim.visit_id)
    try:
        # Not looked for first: a photo kept under this UUID meanwhile (another upload, a PUT) is rare, and
        # the primary key catches it — the one kept is then the answer, or 409 for other bytes.
        photo = accept_file(
            session,
            settings=settings,
            user=user,
            visit=visit,
            claim=claim,
            path=path,
            known_new=True,
            private_file=private,
        )
    except PhotoRejected:
        if parts:
            store.discard_upload(upload.id)
        session.delete(upload)
        session.flush()
        raise
    if parts:
        after_commit(session, lambda: store.discard_upload(upload.id))
    upload.finished_photo_id = photo.id
    upload.finished_at = utcnow()
    session.flush()
    crash_point("photo_finished_before_commit")
    return photo


def upload_lost(session: Session, *, settings: Settings, upload: Upload, reason: PartsMissing) -> NoReturn:
    """What was received of this upload is gone: forget it (UploadLost commits that), so that the phone
    starts again."""
    photo_store(settings).discard_upload(upload.id)
    session.delete(upload)
    session.flush()
    raise UploadLost(str(reason), detail_zh="已收到的内容不完整。") from reason


def expired_uploads_forgotten(session: Session) -> int:
    """Forget finished uploads older than FINISHED_UPLOAD_KEPT (their bytes are already photos); unfinished
    ones as old whose photo was kept through another upload (a phone whose creation was cut sent the photo
    whole in a new one); and unfinished ones that received nothing for UNFINISHED_UPLOAD_KEPT (abandoned, or
    their phone long offline). The sweep then removes what they had received."""
    now = utcnow()
    cutoff = now - FINISHED_UPLOAD_KEPT
    unfinished = col(Upload.finished_at).is_(None)
    superseded = unfinished & (col(Upload.updated_at) < cutoff) & col(Upload.photo_id).in_(select(Photo.id))
    abandoned = unfinished & (col(Upload.updated_at) < now - UNFINISHED_UPLOAD_KEPT)
    stale = list(
        session.scalars(select(Upload).where((col(Upload.finished_at) < cutoff) | superseded | abandoned))
    )
    for upload in stale:
        session.delete(upload)
    session.flush()
    return len(stale)


def upload_expires(upload: Upload) -> dt.datetime | None:
    """When an unfinished upload is forgotten unless more of it arrives; None once it is finished."""
    if upload.finished_photo_id is not None:
        return None
    return upload.updated_at + UNFINISHED_UPLOAD_KEPT


def discard_upload(session: Session, *, settings: Settings, upload: Upload) -> None:
    photo_store(settings).discard_upload(upload.id)
    session.delete(upload)
    session.flush()


def record_progress(make_session: Any, *, upload_id: uuid.UUID, offset: int) -> None:
    """Record the offset reached mid-request, in a short transaction of its own."""
    with make_session() as session:
        session.execute(
            update(Upload)
            .where(col(Upload.id) == upload_id, col(Upload.offset) < offset)
            .values(offset=offset)
        )
        session.commit()


def record_offset(session: Session, *, upload: Upload, start: int, offset: int) -> None:
    """Move the upload on from `start` to `offset`. Conditional, for requests on two nodes at once (only a
    bucket allows it; a local partial file is locked by one request): the first to commit moves it, and a
    second that would move it back finds it moved and is answered 409, as tus says."""
    now = utcnow()
    moved = session.execute(
        update(Upload)
        .where(col(Upload.id) == upload.id, col(Upload.offset) >= start, col(Upload.offset) <= offset)
        .values(offset=offset, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount == 0:  # type: ignore[attr-defined]
        raise UploadOffsetMismatch(
            "Another request moved this upload on meanwhile; ask with HEAD where it is.",
            detail_zh="另一请求已推进此上传，请先用 HEAD 查询当前偏移量。",
        )
    set_committed_value(upload, "offset", offset)
    set_committed_value(upload, "updated_at", now)
