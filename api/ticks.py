"""Periodic work, run by `fieldvisit tick` (cron-friendly) and by the loop inside `serve`.

Every step is idempotent: running it twice, or in two processes at once, does the work once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from api.config import Settings
from api.photos import jobs as photo_jobs
from api.photos.service import photo_store
from api.sync import changes

logger = logging.getLogger("fieldvisit.ticks")


@dataclass(frozen=True)
class TickReport:
    photos_processed: int
    changes_numbered: int

    def __str__(self) -> str:
        return f"photos processed {self.photos_processed}; changes numbered {self.changes_numbered}"


def tick(make_session: sessionmaker[Session], settings: Settings) -> TickReport:
    processed = photo_jobs.process_pending(make_session, photo_store(settings), limit=500)
    engine = make_session.kw["bind"]
    numbered = changes.publish(engine)
    return TickReport(photos_processed=processed, changes_numbered=numbered)
