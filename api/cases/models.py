"""What a referral keeps: the case, its steps (who moved it, when, why), comments and attachments.

Four eyes are the database's to enforce, not only the service's: a check constraint keeps the person who
decides from being the one who proposed, and — for extension and restructuring, where review and approval
are separate duties (审贷分离) — from being the one who reviewed."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from typing import Any

from sqlalchemy import CheckConstraint, Column, Enum, Text
from sqlmodel import Field, SQLModel

from api.db import JSONDoc, Money, UTCDateTime, new_id, utcnow


class CaseKind(enum.StrEnum):
    extension = "extension"  # 展期
    restructuring = "restructuring"  # 重组
    escalation = "escalation"  # 上报


class Department(enum.StrEnum):
    """Where a case is routed: extension and restructuring always to credit risk."""

    risk = "risk"
    legal = "legal"
    compliance = "compliance"


class CaseState(enum.StrEnum):
    draft = "draft"
    submitted = "submitted"
    under_review = "under_review"
    approved = "approved"
    rejected = "rejected"
    withdrawn = "withdrawn"


CLOSED_CASE_STATES = (CaseState.approved, CaseState.rejected, CaseState.withdrawn)


class OriginType(enum.StrEnum):
    borrower = "borrower"
    visit = "visit"
    task = "task"
    signal = "signal"


def _enum(kind: type[enum.StrEnum], length: int = 16) -> Enum:
    return Enum(kind, native_enum=False, length=length, validate_strings=True)


class Case(SQLModel, table=True):
    __tablename__ = "referral_case"
    __table_args__ = (
        CheckConstraint("decided_by_id IS NULL OR decided_by_id <> owner_id", name="decider_is_not_owner"),
        CheckConstraint(
            "decided_by_id IS NULL OR kind = 'escalation' OR "
            "(reviewer_id IS NOT NULL AND decided_by_id <> reviewer_id)",
            name="decider_is_not_reviewer",
        ),
        CheckConstraint("reviewer_id IS NULL OR reviewer_id <> owner_id", name="reviewer_is_not_owner"),
    )

    id: uuid.UUID = Field(primary_key=True)
    branch_id: uuid.UUID = Field(foreign_key="branch.id", index=True)
    borrower_id: uuid.UUID = Field(foreign_key="borrower.id", index=True)
    facility_id: uuid.UUID | None = Field(default=None, foreign_key="facility.id")
    kind: CaseKind = Field(sa_column=Column(_enum(CaseKind), nullable=False))
    routed_to: Department = Field(sa_column=Column(_enum(Department), nullable=False))
    state: CaseState = Field(sa_column=Column(_enum(CaseState), index=True, nullable=False))
    title: str = Field(max_length=200)
    reason: str = Field(sa_type=Text)
    # Requested terms (schemas.RequestedTerms) as sent: new maturity, amount, rate, grace, plan.
    terms: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    amount: decimal.Decimal | None = Field(default=None, sa_type=Money)
    origin_type: OriginType = Field(sa_column=Column(_enum(OriginType), nullable=False))
    origin_id: uuid.UUID
    supporting_visit_ids: list[str] = Field(default_factory=list, sa_type=JSONDoc)
    supporting_figure_ids: list[str] = Field(default_factory=list, sa_type=JSONDoc)
    owner_id: uuid.UUID = Field(foreign_key="app_user.id", index=True)
    due_on: dt.date = Field(index=True)
    reviewer_id: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    recommendation: str | None = Field(default=None, max_length=16)
    recommendation_note: str | None = Field(default=None, sa_type=Text)
    decided_by_id: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    decision_note: str | None = Field(default=None, sa_type=Text)
    submitted_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utcnow}
    )


class CaseStep(SQLModel, table=True):
    """One move of a case (created, submitted, taken, recommended, approved...), as its timeline shows it."""

    __tablename__ = "case_step"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="referral_case.id", index=True)
    actor_id: uuid.UUID = Field(foreign_key="app_user.id")
    action: str = Field(max_length=16)
    from_state: str | None = Field(default=None, max_length=16)
    to_state: str = Field(max_length=16)
    note: str | None = Field(default=None, sa_type=Text)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CaseComment(SQLModel, table=True):
    __tablename__ = "case_comment"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="referral_case.id", index=True)
    author_id: uuid.UUID = Field(foreign_key="app_user.id")
    body: str = Field(sa_type=Text)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CaseAttachment(SQLModel, table=True):
    """A supporting document (PDF or image), stored by content under the state folder's `case-files/`."""

    __tablename__ = "case_attachment"

    id: uuid.UUID = Field(primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="referral_case.id", index=True)
    uploaded_by_id: uuid.UUID = Field(foreign_key="app_user.id")
    filename: str = Field(max_length=200)
    media_type: str = Field(max_length=40)
    size: int
    sha256: str = Field(max_length=64, index=True)
    pages: int | None = Field(default=None)
    width: int | None = Field(default=None)
    height: int | None = Field(default=None)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
