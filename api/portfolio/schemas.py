"""Request and response shapes of the portfolio. Create shapes are shared by the API and CSV import."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from api.db import PUBLIC
from api.portfolio.credit_code import credit_code_problem
from api.portfolio.models import (
    BorrowerBase,
    CollateralKind,
    DeclarationBase,
    FacilityBase,
    FacilityKind,
    MilestoneBase,
    RiskGrade,
    SiteDatum,
    SubjectType,
)


def _credit_code(value: str) -> str:
    value = value.strip().upper()
    problem = credit_code_problem(value)
    if problem:
        raise ValueError(f"unified social credit code {problem}")
    return value


CreditCode = Annotated[str, AfterValidator(_credit_code)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. CNY")]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Reference = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\s].*$")]
Amount = Annotated[decimal.Decimal, Field(max_digits=20, decimal_places=4, allow_inf_nan=False)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# The create shapes stand alone: they name other records by natural key (branch code, credit code,
# contract reference), as a bank's files do, where the rows hold ids.
class BorrowerCreate(Strict):
    branch_code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=2, max_length=200)
    credit_code: CreditCode
    address: str = Field("", max_length=400)
    contact_name: str = Field("", max_length=100)
    contact_phone: str = Field("", max_length=40)


class FacilityCreate(Strict):
    reference: Reference = Field(description="Loan contract number (合同编号), unique in the bank.")
    borrower_credit_code: CreditCode
    kind: FacilityKind
    amount: Amount = Field(gt=0)
    currency: Currency = "CNY"
    disbursed_on: dt.date | None = None
    matures_on: dt.date
    risk_grade: RiskGrade = RiskGrade.normal
    manager_username: str = Field(min_length=1, max_length=64)

    @model_validator(mode="after")
    def _dates_in_order(self) -> FacilityCreate:
        if self.disbursed_on and self.matures_on <= self.disbursed_on:
            raise ValueError("matures_on must be after disbursed_on")
        return self


class SiteIn(Strict):
    site_lat: Latitude
    site_lon: Longitude
    site_datum: SiteDatum = Field(
        SiteDatum.WGS84, description="Datum the coordinates came in (WGS84, GCJ02, BD09)."
    )
    address: str = Field(min_length=1, max_length=400)


class CollateralCreate(SiteIn):
    reference: Reference
    facility_reference: Reference
    kind: CollateralKind
    description: str = Field(min_length=1, max_length=400)
    declared_value: Amount = Field(ge=0)
    currency: Currency = "CNY"
    quantity: Amount | None = Field(None, ge=0)
    unit: str = Field("", max_length=32)
    condition: str = Field("", max_length=400)
    identifiers: dict[str, str] = Field(default_factory=dict)


class ProjectCreate(SiteIn):
    reference: Reference
    facility_reference: Reference
    name: str = Field(min_length=1, max_length=200)


class MilestoneCreate(Strict):
    project_reference: Reference
    seq: int = Field(ge=1, le=1000)
    name: str = Field(min_length=1, max_length=200)
    planned_on: dt.date
    planned_progress_pct: Amount | None = Field(None, ge=0, le=100)


class DeclarationCreate(Strict):
    subject_type: SubjectType
    subject_reference: Reference = Field(description="Reference of the facility, collateral or project.")
    field: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    value_number: Amount | None = None
    value_text: str | None = Field(None, max_length=2000)
    unit: str = Field("", max_length=32)
    declared_on: dt.date
    source: str = Field("", max_length=100)

    @model_validator(mode="after")
    def _has_value(self) -> DeclarationCreate:
        if self.value_number is None and not self.value_text:
            raise ValueError("a declaration needs value_number or value_text")
        return self


class BorrowerPublic(BorrowerBase):
    model_config = PUBLIC

    id: uuid.UUID


class FacilityPublic(FacilityBase):
    model_config = PUBLIC

    id: uuid.UUID


class DeclaredSite(BaseModel):
    lat: float
    lon: float
    datum: SiteDatum
    wgs84_lat: float = Field(description="The site converted to WGS-84, which GPS fixes use.")
    wgs84_lon: float
    address: str


# Stands alone: the site is nested and converted to WGS-84 (the row keeps it as declared).
class CollateralPublic(BaseModel):
    id: uuid.UUID
    reference: str
    facility_id: uuid.UUID
    kind: CollateralKind
    description: str
    declared_site: DeclaredSite
    declared_value: decimal.Decimal
    currency: str
    quantity: decimal.Decimal | None
    unit: str
    condition: str
    identifiers: dict[str, Any]


class MilestonePublic(MilestoneBase):  # listed under its project: no ids
    model_config = PUBLIC


# Stands alone: the site is nested and the milestones come along.
class ProjectPublic(BaseModel):
    id: uuid.UUID
    reference: str
    facility_id: uuid.UUID
    name: str
    declared_site: DeclaredSite
    milestones: list[MilestonePublic]


class DeclarationPublic(DeclarationBase):
    model_config = PUBLIC

    id: uuid.UUID


class ImportRowError(BaseModel):
    line: int = Field(description="Line number in the file; the header is line 1.")
    errors: list[str]


class ImportReport(BaseModel):
    kind: str
    dry_run: bool
    rows: int
    imported: int
    errors: list[ImportRowError]
