from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from api.review.models import Decision
from api.visits.schemas import VisitSummary


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Decision = Field(description="approve or return")
    comment: str = Field("", max_length=5000, description="Required to return a visit.")


class ReviewPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    visit_id: uuid.UUID
    submission_id: uuid.UUID
    reviewer_id: uuid.UUID
    decision: Decision
    comment: str
    decided_at: dt.datetime


class QueueItem(BaseModel):
    visit: VisitSummary
    submission_id: uuid.UUID | None
    submission_state: str | None
    submitted_at: dt.datetime | None
    discrepancies: dict[str, int] = Field(description="Counts by severity: critical, major, minor.")
    conflict: bool
    conflict_reasons: list[str]
