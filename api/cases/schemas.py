"""Referrals' API shapes: a draft as the owner writes it, the case as everyone reads it, the actions."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from api.cases.models import CaseKind, CaseState, Department, OriginType
from api.db import PUBLIC
from api.kit.dates import IsoDate
from api.portfolio.schemas import Amount

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Rate = Annotated[decimal.Decimal, Field(ge=0, le=100, max_digits=7, decimal_places=4, allow_inf_nan=False)]


class CaseStrict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestedTerms(CaseStrict):
    """What the borrower asks for. An extension names its new maturity; a restructuring its repayment plan."""

    new_maturity_on: IsoDate | None = Field(None, description="展期后到期日: the new maturity date.")
    amount: Amount | None = Field(None, description="The amount concerned, in yuan.")
    interest_rate_pct: Rate | None = Field(None, description="The requested annual rate, in percent.")
    grace_months: int | None = Field(None, ge=0, le=120, strict=True)
    repayment_plan: Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)] | None = None


class CaseDraft(CaseStrict):
    """A case as its owner writes it (PUT creates the draft, and replaces it while it is a draft)."""

    kind: CaseKind
    routed_to: Department | None = Field(
        None, description="Escalations: risk, legal or compliance. Extension and restructuring go to risk."
    )
    borrower_id: uuid.UUID
    facility_id: uuid.UUID | None = Field(None, description="Required for an extension or a restructuring.")
    title: Title
    reason: Text
    terms: RequestedTerms = Field(default_factory=RequestedTerms)
    origin_type: OriginType = OriginType.borrower
    origin_id: uuid.UUID | None = Field(
        None, description="The visit, task or signal the case was opened from."
    )
    supporting_visit_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    supporting_figure_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    due_on: IsoDate | None = Field(None, description="When a decision is needed; by default the kind's days.")

    @model_validator(mode="after")
    def _fits_kind(self) -> CaseDraft:
        if self.kind == CaseKind.escalation:
            if self.routed_to is None:
                raise ValueError("an escalation names where it goes: routed_to risk, legal or compliance")
        else:
            if self.routed_to not in (None, Department.risk):
                raise ValueError("extension and restructuring go to risk")
            if self.facility_id is None:
                raise ValueError("an extension or a restructuring names its facility")
        if self.kind == CaseKind.extension and self.terms.new_maturity_on is None:
            raise ValueError("an extension names the new maturity date (terms.new_maturity_on)")
        if self.kind == CaseKind.restructuring and not self.terms.repayment_plan:
            raise ValueError("a restructuring states the proposed repayment plan (terms.repayment_plan)")
        if self.origin_type != OriginType.borrower and self.origin_id is None:
            raise ValueError("origin_id names the visit, task or signal the case was opened from")
        return self


class CaseAction(CaseStrict):
    """`submit` and `withdraw` (the owner), `take` (a reviewer or officer: under review), `recommend` (the one
    reviewing: `recommendation` approve or reject, with the opinion in `note`), `approve` and `reject` (another
    person than the owner and, for extension and restructuring, than the reviewer)."""

    action: Literal["submit", "take", "recommend", "approve", "reject", "withdraw"]
    recommendation: Literal["approve", "reject"] | None = None
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000)] | None = None


class CaseCommentIn(CaseStrict):
    body: Text


class CaseStepPublic(BaseModel):
    model_config = PUBLIC

    action: str
    from_state: str | None
    to_state: str
    note: str | None
    actor_id: uuid.UUID
    actor_name: str = ""
    at: dt.datetime


class CaseCommentPublic(BaseModel):
    model_config = PUBLIC

    id: uuid.UUID
    author_id: uuid.UUID
    author_name: str = ""
    body: str
    created_at: dt.datetime


class CaseAttachmentPublic(BaseModel):
    model_config = PUBLIC

    id: uuid.UUID
    filename: str
    media_type: str
    size: int
    sha256: str
    pages: int | None
    width: int | None
    height: int | None
    uploaded_by_id: uuid.UUID
    created_at: dt.datetime
    url: str = ""


class CasePublic(BaseModel):
    model_config = PUBLIC

    id: uuid.UUID
    kind: CaseKind
    routed_to: Department
    state: CaseState
    branch_id: uuid.UUID
    borrower_id: uuid.UUID
    borrower_name: str = ""
    facility_id: uuid.UUID | None
    facility_reference: str = ""
    title: str
    reason: str
    terms: RequestedTerms
    origin_type: OriginType
    origin_id: uuid.UUID
    supporting_visit_ids: list[uuid.UUID]
    supporting_figure_ids: list[uuid.UUID]
    owner_id: uuid.UUID
    owner_name: str = ""
    due_on: dt.date
    overdue: bool = False
    reviewer_id: uuid.UUID | None
    reviewer_name: str = ""
    recommendation: str | None
    recommendation_note: str | None
    decided_by_id: uuid.UUID | None
    decided_by_name: str = ""
    decision_note: str | None
    submitted_at: dt.datetime | None
    decided_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    can: list[str] = Field(default_factory=list, description="The actions the caller may take now.")


class CaseDetail(CasePublic):
    steps: list[CaseStepPublic] = Field(default_factory=list)
    comments: list[CaseCommentPublic] = Field(default_factory=list)
    attachments: list[CaseAttachmentPublic] = Field(default_factory=list)
