"""Portfolio records: creation from validated shapes (API and CSV alike), scoped reads, declared data."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session
from sqlmodel import col, select

from api.auth.models import BRANCH_READERS, Role, User
from api.db import new_id
from api.errors import NotFound
from api.integrations import accounts
from api.kit.geo import to_wgs84
from api.portfolio import schemas
from api.portfolio.exceptions import DuplicateReference, UnknownReference
from api.portfolio.lookup import DatabaseLookup, FacilityRef, Lookup
from api.portfolio.models import (
    Borrower,
    Collateral,
    Declaration,
    Facility,
    Milestone,
    Project,
    SubjectType,
)


def unknown_reference(what_en: str, what_zh: str, value: str) -> UnknownReference:
    return UnknownReference(f"No {what_en} {value!r}.", detail_zh=f"{what_zh} {value!r} 不存在。")


def _duplicate(what_en: str, what_zh: str, value: str) -> DuplicateReference:
    return DuplicateReference(
        f"{what_en} {value!r} already exists.", detail_zh=f"{what_zh} {value!r} 已存在。"
    )


# ---- scope: the one place that decides which portfolio rows a user may see ----


def scope_facilities(query: Select[Any], user: User) -> Select[Any]:
    if user.role == Role.admin:
        return query
    if user.role == Role.service:
        branches = accounts.branch_scope(user)
        return query if branches is None else query.where(col(Facility.branch_id).in_(branches))
    if user.role in BRANCH_READERS:
        return query.where(col(Facility.branch_id) == user.branch_id)
    return query.where(col(Facility.manager_id) == user.id)


def scope_borrowers(query: Select[Any], user: User) -> Select[Any]:
    if user.role == Role.admin:
        return query
    if user.role == Role.service:
        branches = accounts.branch_scope(user)
        return query if branches is None else query.where(col(Borrower.branch_id).in_(branches))
    if user.role in BRANCH_READERS:
        return query.where(col(Borrower.branch_id) == user.branch_id)
    mine = select(Facility.borrower_id).where(Facility.manager_id == user.id)
    return query.where(col(Borrower.id).in_(mine))


def visible_borrower(session: Session, *, user: User, borrower_id: uuid.UUID) -> Borrower:
    """The borrower, if the user's scope holds it; else 404, as for one that does not exist."""
    found: Borrower | None = session.scalar(
        scope_borrowers(select(Borrower), user).where(col(Borrower.id) == borrower_id)
    )
    if found is None:
        raise NotFound("No such borrower.", detail_zh="借款企业不存在。")
    return found


def visible_facility(session: Session, *, user: User, facility_id: uuid.UUID) -> Facility:
    found: Facility | None = session.scalar(
        scope_facilities(select(Facility), user).where(col(Facility.id) == facility_id)
    )
    if found is None:
        raise NotFound("No such facility.", detail_zh="贷款不存在。")
    return found


def visible_facility_ids(user: User) -> Select[Any]:
    return scope_facilities(select(Facility.id), user)


def subject_visible(session: Session, *, user: User, subject_id: uuid.UUID) -> bool:
    """Is this facility, collateral or project inside the user's scope?"""
    facility_ids = visible_facility_ids(user)
    for query in (
        select(Facility.id).where(Facility.id == subject_id, col(Facility.id).in_(facility_ids)),
        select(Collateral.id).where(
            Collateral.id == subject_id, col(Collateral.facility_id).in_(facility_ids)
        ),
        select(Project.id).where(Project.id == subject_id, col(Project.facility_id).in_(facility_ids)),
    ):
        if session.scalar(query) is not None:
            return True
    return False


# ---- creation ----
#
# Each kind has one function that checks a validated shape against what exists (through a Lookup) and
# returns the new row's column values, and a create_* that stores one row through the ORM. The API uses
# create_*; the CSV import runs the same *_values over a whole file with a BulkLookup and writes the rows in
# bulk statements (imports.py), so both follow the very same rules.


def borrower_values(data: schemas.BorrowerCreate, lookup: Lookup) -> dict[str, Any]:
    branch_id = lookup.branch(data.branch_code)
    if branch_id is None:
        raise unknown_reference("branch", "分支机构", data.branch_code)
    if lookup.borrower(data.credit_code) is not None:
        raise _duplicate("Credit code", "统一社会信用代码", data.credit_code)
    return {
        "id": new_id(),
        "branch_id": branch_id,
        "name": data.name,
        "credit_code": data.credit_code,
        "address": data.address,
        "contact_name": data.contact_name,
        "contact_phone": data.contact_phone,
    }


def facility_values(data: schemas.FacilityCreate, lookup: Lookup) -> dict[str, Any]:
    borrower = lookup.borrower(data.borrower_credit_code)
    if borrower is None:
        raise unknown_reference(
            "borrower with credit code", "借款企业统一社会信用代码", data.borrower_credit_code
        )
    manager = lookup.manager(data.manager_username)
    if manager is None or manager.role != Role.manager:
        raise unknown_reference("manager", "客户经理", data.manager_username)
    if manager.branch_id != borrower.branch_id:
        raise UnknownReference(
            f"Manager {data.manager_username!r} is not in the borrower's branch.",
            detail_zh=f"客户经理 {data.manager_username!r} 不属于借款企业所在分支机构。",
        )
    if lookup.facility(data.reference) is not None:
        raise _duplicate("Facility", "贷款合同编号", data.reference)
    return {
        "id": new_id(),
        "reference": data.reference,
        "borrower_id": borrower.id,
        "branch_id": borrower.branch_id,
        "kind": data.kind,
        "amount": data.amount,
        "currency": data.currency,
        "disbursed_on": data.disbursed_on,
        "matures_on": data.matures_on,
        "risk_grade": data.risk_grade,
        "manager_id": manager.id,
    }


def _facility_for(lookup: Lookup, reference: str) -> FacilityRef:
    facility = lookup.facility(reference)
    if facility is None:
        raise unknown_reference("facility", "贷款合同", reference)
    return facility


def collateral_values(data: schemas.CollateralCreate, lookup: Lookup) -> dict[str, Any]:
    facility = _facility_for(lookup, data.facility_reference)
    if lookup.collateral_exists(data.reference):
        raise _duplicate("Collateral", "押品编号", data.reference)
    return {
        "id": new_id(),
        "reference": data.reference,
        "facility_id": facility.id,
        "kind": data.kind,
        "description": data.description,
        "site_lat": data.site_lat,
        "site_lon": data.site_lon,
        "site_datum": data.site_datum,
        "address": data.address,
        "declared_value": data.declared_value,
        "currency": data.currency,
        "quantity": data.quantity,
        "unit": data.unit,
        "condition": data.condition,
        "identifiers": dict(data.identifiers),
    }


def project_values(data: schemas.ProjectCreate, lookup: Lookup) -> dict[str, Any]:
    facility = _facility_for(lookup, data.facility_reference)
    if facility.kind != "project_finance":
        raise UnknownReference(
            f"Facility {data.facility_reference!r} is not project finance.",
            detail_zh=f"贷款 {data.facility_reference!r} 不是项目融资。",
        )
    if lookup.project(data.reference) is not None:
        raise _duplicate("Project", "项目编号", data.reference)
    return {
        "id": new_id(),
        "reference": data.reference,
        "facility_id": facility.id,
        "name": data.name,
        "site_lat": data.site_lat,
        "site_lon": data.site_lon,
        "site_datum": data.site_datum,
        "address": data.address,
    }


def milestone_values(data: schemas.MilestoneCreate, lookup: Lookup) -> dict[str, Any]:
    project_id = lookup.project(data.project_reference)
    if project_id is None:
        raise unknown_reference("project", "项目", data.project_reference)
    if lookup.milestone_exists(project_id, data.seq):
        raise _duplicate("Milestone", "里程碑", f"{data.project_reference}#{data.seq}")
    return {
        "id": new_id(),
        "project_id": project_id,
        "seq": data.seq,
        "name": data.name,
        "planned_on": data.planned_on,
        "planned_progress_pct": data.planned_progress_pct,
    }


def declaration_values(data: schemas.DeclarationCreate, lookup: Lookup) -> dict[str, Any]:
    subject_id = lookup.subject(data.subject_type, data.subject_reference)
    if subject_id is None:
        raise unknown_reference(data.subject_type.value, "申报对象", data.subject_reference)
    return {
        "id": new_id(),
        "subject_type": data.subject_type,
        "subject_id": subject_id,
        "field": data.field,
        "value_number": data.value_number,
        "value_text": data.value_text,
        "unit": data.unit,
        "declared_on": data.declared_on,
        "source": data.source,
    }


def _store(session: Session, model: type[Any], values: dict[str, Any]) -> Any:
    row = model(**values)
    session.add(row)
    session.flush()
    return row


def create_borrower(session: Session, *, data: schemas.BorrowerCreate) -> Borrower:
    return _store(session, Borrower, borrower_values(data, DatabaseLookup(session)))  # type: ignore[no-any-return]


def create_facility(session: Session, *, data: schemas.FacilityCreate) -> Facility:
    return _store(session, Facility, facility_values(data, DatabaseLookup(session)))  # type: ignore[no-any-return]


def create_collateral(session: Session, *, data: schemas.CollateralCreate) -> Collateral:
    return _store(session, Collateral, collateral_values(data, DatabaseLookup(session)))  # type: ignore[no-any-return]


def create_project(session: Session, *, data: schemas.ProjectCreate) -> Project:
    return _store(session, Project, project_values(data, DatabaseLookup(session)))  # type: ignore[no-any-return]


def create_milestone(session: Session, *, data: schemas.MilestoneCreate) -> Milestone:
    return _store(session, Milestone, milestone_values(data, DatabaseLookup(session)))  # type: ignore[no-any-return]


def create_declaration(session: Session, *, data: schemas.DeclarationCreate) -> Declaration:
    return _store(session, Declaration, declaration_values(data, DatabaseLookup(session)))  # type: ignore[no-any-return]


# ---- reads ----


def declared_site(lat: float, lon: float, datum: str, address: str) -> schemas.DeclaredSite:
    wgs_lat, wgs_lon = to_wgs84(lat, lon, datum)  # type: ignore[arg-type]
    return schemas.DeclaredSite(
        lat=lat,
        lon=lon,
        datum=datum,
        wgs84_lat=round(wgs_lat, 7),
        wgs84_lon=round(wgs_lon, 7),
        address=address,
    )


def collateral_public(collateral: Collateral) -> schemas.CollateralPublic:
    return schemas.CollateralPublic(
        id=collateral.id,
        reference=collateral.reference,
        facility_id=collateral.facility_id,
        kind=collateral.kind,
        description=collateral.description,
        declared_site=declared_site(
            collateral.site_lat, collateral.site_lon, collateral.site_datum, collateral.address
        ),
        declared_value=collateral.declared_value,
        currency=collateral.currency,
        quantity=collateral.quantity,
        unit=collateral.unit,
        condition=collateral.condition,
        identifiers=collateral.identifiers,
    )


def project_public(session: Session, project: Project) -> schemas.ProjectPublic:
    milestones = session.scalars(
        select(Milestone).where(col(Milestone.project_id) == project.id).order_by(col(Milestone.seq))
    )
    return schemas.ProjectPublic(
        id=project.id,
        reference=project.reference,
        facility_id=project.facility_id,
        name=project.name,
        declared_site=declared_site(project.site_lat, project.site_lon, project.site_datum, project.address),
        milestones=[schemas.MilestonePublic.model_validate(m) for m in milestones],
    )


def latest_declarations(
    session: Session, *, subject_type: SubjectType, subject_id: uuid.UUID, as_of: dt.date
) -> list[Declaration]:
    """The newest declaration of each field on or before `as_of` (what a visit compares against)."""
    rows = session.scalars(
        select(Declaration)
        .where(
            Declaration.subject_type == subject_type,
            Declaration.subject_id == subject_id,
            Declaration.declared_on <= as_of,
        )
        .order_by(Declaration.field, col(Declaration.declared_on).desc(), col(Declaration.recorded_at).desc())
    )
    latest: dict[str, Declaration] = {}
    for row in rows:
        latest.setdefault(row.field, row)
    return list(latest.values())
