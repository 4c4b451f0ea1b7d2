from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from api.db import PUBLIC
from api.review.models import Decision, VisitReviewBase
from api.visits.schemas import VisitSummary


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Decision = Field(description="approve or return")
    comment: str = Field("", max_length=5000, description="Required to return a visit.")
    items: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list,
        max_length=500,
        description="On a return, the keys of the checklist items the manager must change; the field app "
        "marks them on the returned visit. Each must be an item of the visit's template.",
    )


class ReviewPublic(VisitReviewBase):
    model_config = PUBLIC

    id: uuid.UUID


class QueueItem(BaseModel):
    visit: VisitSummary
    submission_id: uuid.UUID | None
    submission_state: str | None
    submitted_at: dt.datetime | None
    discrepancies: dict[str, int] = Field(description="Counts by severity: critical, major, minor.")
    conflict: bool
    conflict_reasons: list[str]
