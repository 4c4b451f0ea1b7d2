"""Natural-key lookups behind the portfolio's creation rules, two ways: one query per question (a single
API create) or a file's worth of keys loaded in a few IN queries, with the rows of the same file
remembered as they are accepted (CSV import). The rules themselves live once, in service.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlmodel import select

from api.auth.models import Branch, Role, User
from api.portfolio.models import Borrower, Collateral, Facility, Milestone, Project, SubjectType

# Keys per IN list: under SQLite's older 999-variable limit; PostgreSQL takes up to 65,535 parameters.
IN_CHUNK = {"sqlite": 900, "postgresql": 30_000}


@dataclass(frozen=True)
class BorrowerRef:
    id: uuid.UUID
    branch_id: uuid.UUID


@dataclass(frozen=True)
class ManagerRef:
    id: uuid.UUID
    role: Role
    branch_id: uuid.UUID


@dataclass(frozen=True)
class FacilityRef:
    id: uuid.UUID
    kind: str


class Lookup(Protocol):
    def branch(self, code: str) -> uuid.UUID | None: ...
    def borrower(self, credit_code: str) -> BorrowerRef | None: ...
    def manager(self, username: str) -> ManagerRef | None: ...
    def facility(self, reference: str) -> FacilityRef | None: ...
    def collateral_exists(self, reference: str) -> bool: ...
    def project(self, reference: str) -> uuid.UUID | None: ...
    def milestone_exists(self, project_id: uuid.UUID, seq: int) -> bool: ...
    def subject(self, subject_type: SubjectType, reference: str) -> uuid.UUID | None: ...
    def remember(self, table: str, values: dict[str, Any]) -> None: ...


class DatabaseLookup:
    """One query per question: a single create through the API."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def branch(self, code: str) -> uuid.UUID | None:
        return self.session.scalar(select(Branch.id).where(Branch.code == code))

    def borrower(self, credit_code: str) -> BorrowerRef | None:
        row = self.session.execute(
            select(Borrower.id, Borrower.branch_id).where(Borrower.credit_code == credit_code)
        ).first()
        return BorrowerRef(row[0], row[1]) if row else None

    def manager(self, username: str) -> ManagerRef | None:
        row = self.session.execute(
            select(User.id, User.role, User.branch_id).where(User.username == username)
        ).first()
        return ManagerRef(row[0], Role(row[1]), row[2]) if row else None

    def facility(self, reference: str) -> FacilityRef | None:
        row = self.session.execute(
            select(Facility.id, Facility.kind).where(Facility.reference == reference)
        ).first()
        return FacilityRef(row[0], str(row[1])) if row else None

    def collateral_exists(self, reference: str) -> bool:
        return self.session.scalar(select(Collateral.id).where(Collateral.reference == reference)) is not None

    def project(self, reference: str) -> uuid.UUID | None:
        return self.session.scalar(select(Project.id).where(Project.reference == reference))

    def milestone_exists(self, project_id: uuid.UUID, seq: int) -> bool:
        query = select(Milestone.id).where(Milestone.project_id == project_id, Milestone.seq == seq)
        return self.session.scalar(query) is not None

    def subject(self, subject_type: SubjectType, reference: str) -> uuid.UUID | None:
        if subject_type == SubjectType.facility:
            found = self.facility(reference)
            return found.id if found else None
        model: Any = Collateral if subject_type == SubjectType.collateral else Project
        found_id: uuid.UUID | None = self.session.scalar(select(model.id).where(model.reference == reference))
        return found_id

    def remember(self, table: str, values: dict[str, Any]) -> None:
        pass  # the row is in the session; the next query finds it


@dataclass
class BulkLookup:
    """Every key a file refers to, loaded up front; rows accepted from the same file are added as they
    come, so a later row may refer to an earlier one and a repeated key is a duplicate."""

    branches: dict[str, uuid.UUID] = field(default_factory=dict)
    borrowers: dict[str, BorrowerRef] = field(default_factory=dict)
    managers: dict[str, ManagerRef] = field(default_factory=dict)
    facilities: dict[str, FacilityRef] = field(default_factory=dict)
    collateral: set[str] = field(default_factory=set)
    projects: dict[str, uuid.UUID] = field(default_factory=dict)
    milestones: set[tuple[uuid.UUID, int]] = field(default_factory=set)
    subjects: dict[tuple[str, str], uuid.UUID] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, records: Iterable[dict[str, Any]]) -> BulkLookup:
        rows = list(records)
        dialect = session.get_bind().dialect.name
        size = IN_CHUNK.get(dialect, 900)

        def member(column: Any, values: list[Any]) -> Any:
            if dialect == "postgresql":
                # One array parameter instead of thousands of placeholders, which PostgreSQL plans slowly.
                return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
            return column.in_(values)

        def _chunks(values: list[Any]) -> Iterable[list[Any]]:
            for start in range(0, len(values), size):
                yield values[start : start + size]

        def keys(name: str) -> list[str]:
            return sorted({str(r[name]) for r in rows if r.get(name)})

        lookup = cls()
        for chunk in _chunks(keys("branch_code")):
            lookup.branches.update(
                session.execute(select(Branch.code, Branch.id).where(member(Branch.code, chunk))).all()
            )
        for name in ("credit_code", "borrower_credit_code"):
            for chunk in _chunks(keys(name)):
                query = select(Borrower.credit_code, Borrower.id, Borrower.branch_id).where(
                    member(Borrower.credit_code, chunk)
                )
                lookup.borrowers.update({c: BorrowerRef(i, b) for c, i, b in session.execute(query).all()})
        for chunk in _chunks(keys("manager_username")):
            users = select(User.username, User.id, User.role, User.branch_id).where(
                member(User.username, chunk)
            )
            lookup.managers.update(
                {u: ManagerRef(i, Role(r), b) for u, i, r, b in session.execute(users).all()}
            )
        facility_keys = set(keys("facility_reference")) | set(keys("reference"))
        facility_keys |= {str(r["subject_reference"]) for r in rows if r.get("subject_type") == "facility"}
        for chunk in _chunks(sorted(facility_keys)):
            facilities = select(Facility.reference, Facility.id, Facility.kind).where(
                member(Facility.reference, chunk)
            )
            lookup.facilities.update(
                {f: FacilityRef(i, str(k)) for f, i, k in session.execute(facilities).all()}
            )
        for chunk in _chunks(keys("reference")):
            lookup.collateral.update(
                session.scalars(select(Collateral.reference).where(member(Collateral.reference, chunk)))
            )
        project_keys = set(keys("project_reference")) | set(keys("reference"))
        for chunk in _chunks(sorted(project_keys)):
            lookup.projects.update(
                session.execute(
                    select(Project.reference, Project.id).where(member(Project.reference, chunk))
                ).all()
            )
        project_ids = list(lookup.projects.values())
        for chunk in _chunks(project_ids):
            milestones = select(Milestone.project_id, Milestone.seq).where(
                member(Milestone.project_id, chunk)
            )
            lookup.milestones.update(session.execute(milestones).all())
        for kind, model in (("collateral", Collateral), ("project", Project)):
            wanted = sorted({str(r["subject_reference"]) for r in rows if r.get("subject_type") == kind})
            for chunk in _chunks(wanted):
                found = session.execute(
                    select(model.reference, model.id).where(member(model.reference, chunk))
                ).all()
                lookup.subjects.update({(kind, ref): ident for ref, ident in found})
        return lookup

    def branch(self, code: str) -> uuid.UUID | None:
        return self.branches.get(code)

    def borrower(self, credit_code: str) -> BorrowerRef | None:
        return self.borrowers.get(credit_code)

    def manager(self, username: str) -> ManagerRef | None:
        return self.managers.get(username)

    def facility(self, reference: str) -> FacilityRef | None:
        return self.facilities.get(reference)

    def collateral_exists(self, reference: str) -> bool:
        return reference in self.collateral

    def project(self, reference: str) -> uuid.UUID | None:
        return self.projects.get(reference)

    def milestone_exists(self, project_id: uuid.UUID, seq: int) -> bool:
        return (project_id, seq) in self.milestones

    def subject(self, subject_type: SubjectType, reference: str) -> uuid.UUID | None:
        if subject_type == SubjectType.facility:
            found = self.facility(reference)
            return found.id if found else None
        return self.subjects.get((subject_type.value, reference))

    def remember(self, table: str, values: dict[str, Any]) -> None:
        if table == "borrower":
            self.borrowers[values["credit_code"]] = BorrowerRef(values["id"], values["branch_id"])
        elif table == "facility":
            self.facilities[values["reference"]] = FacilityRef(values["id"], str(values["kind"]))
        elif table == "collateral":
            self.collateral.add(values["reference"])
            self.subjects[("collateral", values["reference"])] = values["id"]
        elif table == "project":
            self.projects[values["reference"]] = values["id"]
            self.subjects[("project", values["reference"])] = values["id"]
        elif table == "milestone":
            self.milestones.add((values["project_id"], values["seq"]))
