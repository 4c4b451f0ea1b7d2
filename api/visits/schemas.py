from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from api.checklists.schemas import TemplateVersionPublic
from api.portfolio.models import SubjectType
from api.portfolio.schemas import CollateralPublic, DeclarationPublic, FacilityPublic, ProjectPublic
from api.visits.models import VisitOrigin, VisitStatus


class VisitSummary(BaseModel):
    id: uuid.UUID
    status: VisitStatus
    due_on: dt.date
    overdue: bool = Field(
        description="Derived: still waiting for the manager after the due date (bank's zone)."
    )
    origin: VisitOrigin
    branch_id: uuid.UUID
    manager_id: uuid.UUID
    borrower_id: uuid.UUID
    borrower_name: str
    facility_id: uuid.UUID
    subject_type: SubjectType
    subject_id: uuid.UUID
    template_version_id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime


class BorrowerBrief(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    credit_code: str
    address: str
    contact_name: str
    contact_phone: str


class VisitDetail(VisitSummary):
    started_at: dt.datetime | None
    submitted_at: dt.datetime | None
    decided_at: dt.datetime | None
    cancel_reason: str | None
    borrower: BorrowerBrief
    facility: FacilityPublic
    collateral: CollateralPublic | None = None
    project: ProjectPublic | None = None
    declared: list[DeclarationPublic] = Field(
        description="Latest declaration of each field, on the subject and its facility, as of today."
    )
    template_version: TemplateVersionPublic


class VisitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject_type: SubjectType = Field(description="collateral or project")
    subject_id: uuid.UUID
    due_on: dt.date
    manager_id: uuid.UUID | None = Field(None, description="Defaults to the facility's responsible manager.")
    template_version_id: uuid.UUID | None = Field(
        None, description="Defaults to the current published version."
    )


class Reassign(BaseModel):
    model_config = ConfigDict(extra="forbid")

    manager_id: uuid.UUID


class Cancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=2, max_length=500)


class ScheduleReport(BaseModel):
    created: int
    already_open: int
    not_due_yet: int
    no_template: int
