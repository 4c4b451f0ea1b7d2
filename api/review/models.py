from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Column, Enum, Text
from sqlmodel import Field, SQLModel

from api.db import JSONDoc, UTCDateTime, new_id, utcnow


class Decision(enum.StrEnum):
    approve = "approve"
    return_ = "return"


class VisitReviewBase(SQLModel):
    """A reviewer's decision as the table keeps it and the API shows it (schemas.ReviewPublic)."""

    visit_id: uuid.UUID = Field(foreign_key="visit.id", index=True)
    submission_id: uuid.UUID = Field(foreign_key="submission.id")
    reviewer_id: uuid.UUID = Field(foreign_key="app_user.id")
    decision: Decision = Field(
        sa_column=Column(
            Enum(Decision, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
            nullable=False,
        )
    )
    comment: str = Field(default="", sa_type=Text)
    # On a return, the checklist items the manager must change: the phone marks them on the returned visit.
    items: list[str] = Field(default_factory=list, sa_column=Column(JSONDoc, default=list, nullable=False))
    decided_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class VisitReview(VisitReviewBase, table=True):
    __tablename__ = "visit_review"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
