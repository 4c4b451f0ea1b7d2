"""Tables of the portfolio: borrowers, facilities, collateral, projects, milestones, declarations."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from typing import Any

from sqlalchemy import CheckConstraint, Date, Enum, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, JSONDoc, Money, UTCDateTime, new_id, utcnow


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


class Borrower(Base):
    __tablename__ = "borrower"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    branch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("branch.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    address: Mapped[str] = mapped_column(String(400), default="")
    contact_name: Mapped[str] = mapped_column(String(100), default="")
    contact_phone: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Facility(Base):
    __tablename__ = "facility"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    borrower_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("borrower.id"), index=True)
    branch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("branch.id"), index=True)
    kind: Mapped[FacilityKind] = mapped_column(_enum(FacilityKind))
    amount: Mapped[decimal.Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    disbursed_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    matures_on: Mapped[dt.date] = mapped_column(Date)
    risk_grade: Mapped[RiskGrade] = mapped_column(_enum(RiskGrade))
    manager_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Collateral(Base):
    __tablename__ = "collateral"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    facility_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("facility.id"), index=True)
    kind: Mapped[CollateralKind] = mapped_column(_enum(CollateralKind))
    description: Mapped[str] = mapped_column(String(400))
    site_lat: Mapped[float] = mapped_column(Float)
    site_lon: Mapped[float] = mapped_column(Float)
    site_datum: Mapped[SiteDatum] = mapped_column(_enum(SiteDatum, 8))
    address: Mapped[str] = mapped_column(String(400))
    declared_value: Mapped[decimal.Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    quantity: Mapped[decimal.Decimal | None] = mapped_column(Money(), nullable=True)
    unit: Mapped[str] = mapped_column(String(32), default="")
    condition: Mapped[str] = mapped_column(String(400), default="")
    identifiers: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Project(Base):
    __tablename__ = "project"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    facility_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("facility.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    site_lat: Mapped[float] = mapped_column(Float)
    site_lon: Mapped[float] = mapped_column(Float)
    site_datum: Mapped[SiteDatum] = mapped_column(_enum(SiteDatum, 8))
    address: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Milestone(Base):
    __tablename__ = "milestone"
    __table_args__ = (UniqueConstraint("project_id", "seq"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("project.id"), index=True)
    seq: Mapped[int] = mapped_column()
    name: Mapped[str] = mapped_column(String(200))
    planned_on: Mapped[dt.date] = mapped_column(Date)
    planned_progress_pct: Mapped[decimal.Decimal | None] = mapped_column(Money(), nullable=True)


class Declaration(Base):
    """One dated figure the borrower declared about a subject. Rows are never updated: history is kept."""

    __tablename__ = "declaration"
    __table_args__ = (
        Index("ix_declaration_subject_field_date", "subject_type", "subject_id", "field", "declared_on"),
        CheckConstraint("value_number IS NOT NULL OR value_text IS NOT NULL", name="has_value"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    subject_type: Mapped[SubjectType] = mapped_column(_enum(SubjectType, 16))
    subject_id: Mapped[uuid.UUID] = mapped_column()
    field: Mapped[str] = mapped_column(String(64))
    value_number: Mapped[decimal.Decimal | None] = mapped_column(Money(), nullable=True)
    value_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    unit: Mapped[str] = mapped_column(String(32), default="")
    declared_on: Mapped[dt.date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(100), default="")
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
