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
import uuid

from sqlalchemy import or_, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from api.config import Settings
from api.db import utcnow
from api.kit.faults import crash_point
from api.photos import inspection
from api.photos.models import Photo, PhotoState
from api.photos.storage import PhotoStore

logger = logging.getLogger("fieldvisit.photos")
STALE_CLAIM = dt.timedelta(minutes=5)


def _locks_rows(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _claimable(session: Session) -> ColumnElement[bool]:
    if _locks_rows(session):
        # A photo being worked on is locked, not marked: every unprocessed one is a candidate.
        return col(Photo.state).in_([PhotoState.received, PhotoState.processing])
    return or_(
        col(Photo.state) == PhotoState.received,
        (col(Photo.state) == PhotoState.processing) & (col(Photo.claimed_at) < utcnow() - STALE_CLAIM),
    )


def _hold(session: Session, photo_id: uuid.UUID) -> Photo | None:
    """The photo, held for this process until the session commits; None when another process has it or it
    is done."""
    if _locks_rows(session):
        # FOR NO KEY UPDATE: a submission naming the photo meanwhile (a foreign key's KEY SHARE) is not held up.
        return session.scalars(
            select(Photo)
            .where(col(Photo.id) == photo_id, _claimable(session))
            .with_for_update(skip_locked=True, key_share=True)
        ).one_or_none()
    # The claimed row comes back whole, so finishing it needs no second read.
    photo = session.scalars(
        update(Photo)
        .where(col(Photo.id) == photo_id, _claimable(session))
        .values(state=PhotoState.processing, claimed_at=utcnow())
        .returning(Photo),
        execution_options={"populate_existing": True},
    ).one_or_none()
    session.commit()
    return photo


def process_one(make_session: sessionmaker[Session], settings: Settings, photo_id: uuid.UUID) -> bool:
    """Process one photo if nobody else has it. True when this call made its derivatives."""
    store = PhotoStore(settings.photo_dir)
    with make_session() as session:
        photo = _hold(session, photo_id)
        if photo is None:
            return False
        claimed = photo.sha256
        try:
            derived = inspection.derive(store.original_path(claimed))
            thumbnail_sha = hashlib.sha256(derived.thumbnail).hexdigest()
            store.write_derived(claimed, "thumbnail", derived.thumbnail)
            preview_sha = claimed  # the original serves as its own preview
            if derived.preview is not None:
                preview_sha = hashlib.sha256(derived.preview).hexdigest()
                store.write_derived(claimed, "preview", derived.preview)
        except Exception as exc:  # a photo that passed validation but fails here is kept as evidence
            logger.exception("processing photo %s failed", photo_id)
            photo.state = PhotoState.failed
            photo.processing_error = str(exc)[:500]
            session.flush()
            after_processing(session, settings=settings, photo=photo)
            session.commit()
            return False
        photo.phash = derived.phash
        photo.phash_variants = derived.phash_variants
        photo.phash_b0, photo.phash_b1, photo.phash_b2, photo.phash_b3 = inspection.phash_bands(derived.phash)
        photo.thumbnail_sha256 = thumbnail_sha
        photo.preview_sha256 = preview_sha
        photo.state = PhotoState.processed
        photo.processed_at = utcnow()
        session.flush()
        after_processing(session, settings=settings, photo=photo)
        crash_point("photo_derivatives_before_commit")
        session.commit()
        return True


def after_processing(session: Session, *, settings: Settings, photo: Photo) -> None:
    """The photo rules (location, time, reuse) run again for every submission that lists this photo."""
    from api import flows  # flows chain several domains; imported late to keep this module light

    flows.photo_ready(session, settings=settings, photo=photo)


def process_pending(make_session: sessionmaker[Session], settings: Settings, *, limit: int = 100) -> int:
    """Work through photos waiting for derivatives: those whose process died before or while making them."""
    with make_session() as session:
        waiting = list(
            session.scalars(
                select(col(Photo.id)).where(_claimable(session)).order_by(col(Photo.received_at)).limit(limit)
            )
        )
    return sum(process_one(make_session, settings, photo_id) for photo_id in waiting)
