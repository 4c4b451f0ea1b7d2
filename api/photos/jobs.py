"""Making derivatives after the photo was acknowledged: preview, thumbnail, perceptual hash.

Any number of processes (API nodes, `fieldvisit worker`s, `fieldvisit tick`) work the same
queue without processing a photo twice. On PostgreSQL a photo is held by a row lock for as long as its
derivatives take, in the transaction that then stores them: the others skip it (`SKIP LOCKED`), and when the
process holding it dies, its connection and the lock go with it, so the next poll anywhere takes the photo up
within seconds. SQLite has no row locks: there a claim is committed first, and a claim older than
`STALE_CLAIM` is taken over (its process died). Jobs own their transactions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import uuid

from sqlalchemy import bindparam, or_, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from api.config import Settings
from api.db import utcnow
from api.errors import database_unavailable, storage_unavailable
from api.kit.faults import crash_point
from api.photos import inspection
from api.photos.models import Photo, PhotoState
from api.photos.storage import PhotoStore

logger = logging.getLogger("fieldvisit.photos")
STALE_CLAIM = dt.timedelta(minutes=5)


def _locks_rows(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# On PostgreSQL a photo being worked on is locked, not marked: every unprocessed one is a candidate.
_UNPROCESSED = col(Photo.state).in_([PhotoState.received, PhotoState.processing])


def _claimable(session: Session) -> ColumnElement[bool]:
    if _locks_rows(session):
        return _UNPROCESSED
    return or_(
        col(Photo.state) == PhotoState.received,
        (col(Photo.state) == PhotoState.processing) & (col(Photo.claimed_at) < utcnow() - STALE_CLAIM),
    )


# Photos whose derivatives one transaction makes: one lock, one write per table and one commit for them all.
BATCH = 16


# FOR NO KEY UPDATE: a submission naming a photo meanwhile (a foreign key's KEY SHARE) is not held up. Built
# once, as it runs for every round (building a statement and its cache key costs more than running it).
_HOLD_LOCKED = (
    select(Photo)
    .where(col(Photo.id).in_(bindparam("ids", expanding=True)), _UNPROCESSED)
    .order_by(col(Photo.received_at))
    .with_for_update(skip_locked=True, key_share=True)
)


def _hold(session: Session, photo_ids: list[uuid.UUID]) -> list[Photo]:
    """Those of the photos nobody else has, held for this process until the session commits."""
    if _locks_rows(session):
        return list(session.scalars(_HOLD_LOCKED, {"ids": photo_ids}))
    # The claimed rows come back whole, so finishing them needs no second read.
    photos = list(
        session.scalars(
            update(Photo)
            .where(col(Photo.id).in_(photo_ids), _claimable(session))
            .values(state=PhotoState.processing, claimed_at=utcnow())
            .returning(Photo),
            execution_options={"populate_existing": True},
        )
    )
    session.commit()
    return photos


def process_batch(make_session: sessionmaker[Session], settings: Settings, photo_ids: list[uuid.UUID]) -> int:
    """Make the derivatives of those of these photos that nobody else has, in one transaction; then their
    rules run again. Returns how many were made (a photo that fails is marked failed, kept as evidence)."""
    store = PhotoStore.of(settings)
    with make_session() as session:
        photos = _hold(session, photo_ids)
        if not photos:
            return 0
        held = [photo.id for photo in photos]
        try:
            made = sum(_derive(store, photo) for photo in photos)
            session.flush()
            from api import flows  # flows chain several domains; imported late to keep this module light

            flows.photos_ready(session, settings=settings, photos=photos)
            crash_point("photo_derivatives_before_commit")
            session.commit()
        except BaseException:
            session.rollback()
            if not _locks_rows(session):
                _release(make_session, held)
            raise
        return made


def _release(make_session: sessionmaker[Session], photo_ids: list[uuid.UUID]) -> None:
    """Give back photos claimed by a batch that failed (an outage, a bug in the rules), so that the next round
    takes them up at once, not after STALE_CLAIM (SQLite; on PostgreSQL the lock went with the rollback)."""
    try:
        with make_session() as session:
            session.execute(
                update(Photo)
                .where(col(Photo.id).in_(photo_ids), col(Photo.state) == PhotoState.processing)
                .values(state=PhotoState.received, claimed_at=None)
            )
            session.commit()
    except Exception:
        logger.warning(
            "could not give back %d photos; they are taken up after %s", len(photo_ids), STALE_CLAIM
        )


def _derive(store: PhotoStore, photo: Photo) -> bool:
    """Write the photo's derivatives and note them on its row; False (and the row marked failed) when they
    cannot be made."""
    try:
        # From a bucket, the original is fetched to this node's scratch folder for the decoder.
        with store.objects.fetched(store.original_key(photo.sha256), store.tmp) as original:
            derived = inspection.derive(original)
        thumbnail_sha = hashlib.sha256(derived.thumbnail).hexdigest()
        store.write_derived(photo.sha256, "thumbnail", derived.thumbnail)
        preview_sha = photo.sha256  # the original serves as its own preview
        if derived.preview is not None:
            preview_sha = hashlib.sha256(derived.preview).hexdigest()
            store.write_derived(photo.sha256, "preview", derived.preview)
    except Exception as exc:  # a photo that passed validation but fails here is kept as evidence
        if storage_unavailable(exc):
            raise  # not the photo's fault: the round ends and the next one takes it up again
        logger.exception("processing photo %s failed", photo.id)
        photo.state = PhotoState.failed
        photo.processing_error = str(exc)[:500]
        return False
    photo.phash = derived.phash
    photo.phash_variants = derived.phash_variants
    photo.phash_b0, photo.phash_b1, photo.phash_b2, photo.phash_b3 = inspection.phash_bands(derived.phash)
    photo.thumbnail_sha256 = thumbnail_sha
    photo.preview_sha256 = preview_sha
    photo.state = PhotoState.processed
    photo.processed_at = utcnow()
    return True


class SoonAfter:
    """Photos whose derivatives this process makes right after their answer. The first one starts a round
    (a background task); those acknowledged meanwhile wait for the round's next batch, so that under load
    one transaction makes the derivatives of several photos, and when it is quiet each is made at once.
    Only a shortcut: a photo left here when the process dies is still `received`, and the job poll (this
    node's or a worker's) takes it up."""

    def __init__(self, make_session: sessionmaker[Session], settings: Settings) -> None:
        self._make_session = make_session
        self._settings = settings
        self._waiting: list[uuid.UUID] = []
        self._lock = threading.Lock()
        self._running = False

    def add(self, photo_id: uuid.UUID) -> bool:
        """Queue the photo; True when no round is running, and the caller must start one (`run`)."""
        with self._lock:
            self._waiting.append(photo_id)
            if self._running:
                return False
            self._running = True
            return True

    def run(self) -> None:
        """Work through the queue a batch at a time until it is empty."""
        try:
            while True:
                with self._lock:
                    batch, self._waiting = self._waiting[:BATCH], self._waiting[BATCH:]
                    if not batch:
                        self._running = False  # under the lock: a photo added after this starts a round
                        return
                try:
                    process_ids(self._make_session, self._settings, batch)
                except Exception:
                    # An outage: the photos stay `received`, and the job poll takes them up when it is over.
                    logger.warning("derivatives of %d photos left to the job poll", len(batch), exc_info=True)
        except BaseException:
            with self._lock:
                self._running = False  # the next photo starts a round, which takes these up too
            raise


def process_pending(make_session: sessionmaker[Session], settings: Settings, *, limit: int = 100) -> int:
    """Work through photos waiting for derivatives — those left to the workers, or whose process died before
    or while making them — a batch at a time."""
    with make_session() as session:
        waiting = list(
            session.scalars(
                select(col(Photo.id)).where(_claimable(session)).order_by(col(Photo.received_at)).limit(limit)
            )
        )
    return process_ids(make_session, settings, waiting)


def process_ids(make_session: sessionmaker[Session], settings: Settings, waiting: list[uuid.UUID]) -> int:
    """Make these photos' derivatives a batch at a time (those nobody else has); an outage ends it."""
    made = 0
    for start in range(0, len(waiting), BATCH):
        batch = waiting[start : start + BATCH]
        try:
            made += process_batch(make_session, settings, batch)
        except Exception as exc:
            if database_unavailable(exc) or storage_unavailable(exc):
                raise  # an outage ends the round (logged once by the caller); the next round tries again
            # One photo whose rules cannot be run (a bug, data the rules trip on) must not hold its batch back.
            logger.exception("a batch of photos failed; taking them one at a time")
            for photo_id in batch:
                try:
                    made += process_batch(make_session, settings, [photo_id])
                except Exception as single:
                    if database_unavailable(single) or storage_unavailable(single):
                        raise
                    logger.exception("processing photo %s failed", photo_id)
    return made
