"""Making derivatives after the photo was acknowledged: preview, thumbnail, perceptual hash.

Each photo is claimed with a conditional UPDATE, so any number of API processes (and `fieldvisit
process-photos`) can work the same queue without processing a photo twice. A claim older than
`STALE_CLAIM` is taken over: its process died. Jobs own their transactions.
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
from api.photos import inspection
from api.photos.models import Photo, PhotoState
from api.photos.storage import PhotoStore

logger = logging.getLogger("fieldvisit.photos")
STALE_CLAIM = dt.timedelta(minutes=5)


def _claimable() -> ColumnElement[bool]:
    return or_(
        col(Photo.state) == PhotoState.received,
        (col(Photo.state) == PhotoState.processing) & (col(Photo.claimed_at) < utcnow() - STALE_CLAIM),
    )


def process_one(make_session: sessionmaker[Session], settings: Settings, photo_id: uuid.UUID) -> bool:
    """Process one photo if nobody else has it. True when this call made its derivatives."""
    store = PhotoStore(settings.photo_dir)
    with make_session() as session:
        claimed = session.execute(
            update(Photo)
            .where(col(Photo.id) == photo_id, _claimable())
            .values(state=PhotoState.processing, claimed_at=utcnow())
            .returning(col(Photo.sha256))
        ).scalar_one_or_none()
        session.commit()
        if claimed is None:
            return False
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
            failed = session.get(Photo, photo_id)
            assert failed is not None
            failed.state = PhotoState.failed
            failed.processing_error = str(exc)[:500]
            session.flush()
            after_processing(session, settings=settings, photo=failed)
            session.commit()
            return False
        photo = session.get(Photo, photo_id)
        assert photo is not None
        photo.phash = derived.phash
        photo.phash_variants = derived.phash_variants
        photo.phash_b0, photo.phash_b1, photo.phash_b2, photo.phash_b3 = inspection.phash_bands(derived.phash)
        photo.thumbnail_sha256 = thumbnail_sha
        photo.preview_sha256 = preview_sha
        photo.state = PhotoState.processed
        photo.processed_at = utcnow()
        session.flush()
        after_processing(session, settings=settings, photo=photo)
        session.commit()
        return True


def after_processing(session: Session, *, settings: Settings, photo: Photo) -> None:
    """The photo rules (location, time, reuse) run again for every submission that lists this photo."""
    from api import flows  # flows chain several domains; imported late to keep this module light

    flows.photo_ready(session, settings=settings, photo=photo)


def process_pending(make_session: sessionmaker[Session], settings: Settings, *, limit: int = 100) -> int:
    """Work through photos waiting for derivatives (a sweep after crashes or restarts)."""
    with make_session() as session:
        waiting = list(
            session.scalars(select(Photo.id).where(_claimable()).order_by(Photo.received_at).limit(limit))  # type: ignore[arg-type]
        )
    return sum(process_one(make_session, settings, photo_id) for photo_id in waiting)
