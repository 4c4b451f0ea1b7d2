"""Tables of the portfolio: borrowers, facilities, collateral, projects, milestones, declarations."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    Enum,
    Index,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from api.db import JSONDoc, Money, UTCDateTime, new_id, utcnow


class FacilityKind(enum.StrEnum):
    project_finance = "project_finance"
    corporate_loan = "corporate_loan"


class RiskGrade(enum.StrEnum):
    """五级分类."""

    normal = "normal"
    special_mention = "special_mention"
    substandard = "substandard"
    doubtful = "doubtful"
    loss = "loss"


class CollateralKind(enum.StrEnum):
    real_estate = "real_estate"
    land_use_right = "land_use_right"
    equipment = "equipment"
    vehicle = "vehicle"
    inventory = "inventory"
    receivable = "receivable"
    other = "other"


class SiteDatum(enum.StrEnum):
    WGS84 = "WGS84"
    GCJ02 = "GCJ02"
    BD09 = "BD09"


class SubjectType(enum.StrEnum):
    """What a visit looks at, and what declarations are about."""

    facility = "facility"
    collateral = "collateral"
    project = "project"


def _enum(kind: type[enum.StrEnum], length: int = 32) -> Enum:
    return Enum(kind, native_enum=False, length=length, validate_strings=True)


class BorrowerBase(SQLModel):
    """A borrower as the table keeps it and the API shows it (schemas.BorrowerPublic)."""

    branch_id: uuid.UUID = Field(foreign_key="branch.id", index=True)
    name: str = Field(max_length=200)
    credit_code: str = Field(unique=True, max_length=18)
    address: str = Field(default="", max_length=400)
    contact_name: str = Field(default="", max_length=100)
    contact_phone: str = Field(default="", max_length=40)


class Borrower(BorrowerBase, table=True):
    __tablename__ = "borrower"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utcnow}
    )


class FacilityBase(SQLModel):
    """A loan as the table keeps it and the API shows it (schemas.FacilityPublic)."""

    reference: str = Field(unique=True, max_length=64)
    borrower_id: uuid.UUID = Field(foreign_key="borrower.id", index=True)
    branch_id: uuid.UUID = Field(foreign_key="branch.id", index=True)
    kind: FacilityKind = Field(sa_column=Column(_enum(FacilityKind), nullable=False))
    amount: decimal.Decimal = Field(sa_type=Money)
    currency: str = Field(max_length=3)
    disbursed_on: dt.date | None = Field(default=None)
    matures_on: dt.date
    risk_grade: RiskGrade = Field(sa_column=Column(_enum(RiskGrade), nullable=False))
    manager_id: uuid.UUID = Field(foreign_key="app_user.id", index=True)


class Facility(FacilityBase, table=True):
    __tablename__ = "facility"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utcnow}
    )


class Collateral(SQLModel, table=True):
    __tablename__ = "collateral"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    reference: str = Field(unique=True, max_length=64)
    facility_id: uuid.UUID = Field(foreign_key="facility.id", index=True)
    kind: CollateralKind = Field(sa_column=Column(_enum(CollateralKind), nullable=False))
    description: str = Field(max_length=400)
    site_lat: float
    site_lon: float
    site_datum: SiteDatum = Field(sa_column=Column(_enum(SiteDatum, 8), nullable=False))
    address: str = Field(max_length=400)
    declared_value: decimal.Decimal = Field(sa_type=Money)
    currency: str = Field(max_length=3)
    quantity: decimal.Decimal | None = Field(default=None, sa_type=Money)
    unit: str = Field(default="", max_length=32)
    condition: str = Field(default="", max_length=400)
    identifiers: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONDoc, default=dict, nullable=False)
    )
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utcnow}
    )


class Project(SQLModel, table=True):
    __tablename__ = "project"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    reference: str = Field(unique=True, max_length=64)
    facility_id: uuid.UUID = Field(foreign_key="facility.id", index=True)
    name: str = Field(max_length=200)
    site_lat: float
    site_lon: float
    site_datum: SiteDatum = Field(sa_column=Column(_enum(SiteDatum, 8), nullable=False))
    address: str = Field(max_length=400)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utcnow}
    )


class MilestoneBase(SQLModel):
    """A planned step of a project as the table keeps it and the API shows it (schemas.MilestonePublic)."""

    seq: int
    name: str = Field(max_length=200)
    planned_on: dt.date
    planned_progress_pct: decimal.Decimal | None = Field(default=None, sa_type=Money)


class Milestone(MilestoneBase, table=True):
    __tablename__ = "milestone"
    __table_args__ = (UniqueConstraint("project_id", "seq"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="project.id", index=True)


class DeclarationBase(SQLModel):
    """A declared figure as the table keeps it and the API shows it (schemas.DeclarationPublic)."""

    subject_type: SubjectType = Field(sa_column=Column(_enum(SubjectType, 16), nullable=False))
    subject_id: uuid.UUID
    field: str = Field(max_length=64)
    value_number: decimal.Decimal | None = Field(default=None, sa_type=Money)
    value_text: str | None = Field(default=None, sa_type=Text)
    unit: str = Field(default="", max_length=32)
    declared_on: dt.date
    source: str = Field(default="", max_length=100)


class Declaration(DeclarationBase, table=True):
    """One dated figure the borrower declared about a subject. Rows are never updated: history is kept."""

    __tablename__ = "declaration"
    __table_args__ = (
        Index("ix_declaration_subject_field_date", "subject_type", "subject_id", "field", "declared_on"),
        CheckConstraint("value_number IS NOT NULL OR value_text IS NOT NULL", name="has_value"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    recorded_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
