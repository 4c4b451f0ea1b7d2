"""Small factories: each builds one record with sensible defaults; keyword overrides change any field."""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import itertools
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.auth.models import Branch, Role, User
from api.auth.security import hash_password
from api.checklists.models import ChecklistTemplate, TemplateVersion, VersionStatus
from api.config import Settings
from api.db import utcnow
from api.demo import COLLATERAL_TEMPLATE, PROJECT_TEMPLATE
from api.integrations import accounts
from api.integrations.models import Scope
from api.kit.clock import today_in
from api.portfolio.credit_code import ALPHABET, complete
from api.portfolio.models import Borrower, Collateral, Facility, Project, SubjectType
from api.visits.models import Visit, VisitAssignment, VisitOrigin, VisitStatus

PASSWORD = "correct horse battery"
_counter = itertools.count(1)


@functools.cache
def password_hash() -> str:
    # Argon2 is slow on purpose; hash the shared test password once per run.
    return hash_password(PASSWORD)


BANK_ZONE: str = Settings.model_fields["timezone"].default


def bank_today() -> dt.date:
    """Today in the bank's calendar, read from the product's own (frozen) clock, never the machine's zone."""
    return today_in(BANK_ZONE)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_counter):05d}"


def credit_code() -> str:
    n = next(_counter)
    body = "".join(ALPHABET[(n // 31**i) % 31] for i in range(6))
    return complete("91310115MA" + body + "1")


def make_branch(session: Session, **overrides: Any) -> Branch:
    branch = Branch(**{"code": unique("B"), "name": "测试分行", **overrides})
    session.add(branch)
    session.flush()
    return branch


def make_user(session: Session, *, branch: Branch, role: Role = Role.manager, **overrides: Any) -> User:
    user = User(
        **{
            "username": unique(role.value),
            "display_name": "测试用户",
            "password_hash": password_hash(),
            "role": role,
            "branch_id": branch.id,
            **overrides,
        }
    )
    session.add(user)
    session.flush()
    return user


def make_borrower(session: Session, *, branch: Branch, **overrides: Any) -> Borrower:
    borrower = Borrower(
        **{"branch_id": branch.id, "name": unique("测试企业"), "credit_code": credit_code(), **overrides}
    )
    session.add(borrower)
    session.flush()
    return borrower


def make_facility(session: Session, *, borrower: Borrower, manager: User, **overrides: Any) -> Facility:
    facility = Facility(
        **{
            "reference": unique("LN-"),
            "borrower_id": borrower.id,
            "branch_id": borrower.branch_id,
            "kind": "corporate_loan",
            "amount": decimal.Decimal("1000000.00"),
            "currency": "CNY",
            "disbursed_on": bank_today() - dt.timedelta(days=15),
            "matures_on": bank_today() + dt.timedelta(days=700),
            "risk_grade": "normal",
            "manager_id": manager.id,
            **overrides,
        }
    )
    session.add(facility)
    session.flush()
    return facility


def make_collateral(session: Session, *, facility: Facility, **overrides: Any) -> Collateral:
    collateral = Collateral(
        **{
            "reference": unique("COL-"),
            "facility_id": facility.id,
            "kind": "real_estate",
            "description": "厂房",
            "site_lat": 31.2304,
            "site_lon": 121.4737,
            "site_datum": "WGS84",
            "address": "上海市黄浦区",
            "declared_value": decimal.Decimal("5000000"),
            "currency": "CNY",
            "identifiers": {},
            **overrides,
        }
    )
    session.add(collateral)
    session.flush()
    return collateral


def make_project(session: Session, *, facility: Facility, **overrides: Any) -> Project:
    project = Project(
        **{
            "reference": unique("PRJ-"),
            "facility_id": facility.id,
            "name": "综合楼工程",
            "site_lat": 31.17,
            "site_lon": 121.46,
            "site_datum": "GCJ02",
            "address": "上海市徐汇区",
            **overrides,
        }
    )
    session.add(project)
    session.flush()
    return project


def make_published_template(
    session: Session,
    *,
    subject_type: SubjectType = SubjectType.collateral,
    definition: dict[str, Any] | None = None,
) -> TemplateVersion:
    default = COLLATERAL_TEMPLATE if subject_type == SubjectType.collateral else PROJECT_TEMPLATE
    template = ChecklistTemplate(
        code=unique("tpl_"), subject_type=subject_type, name_zh="模板", name_en="Template"
    )
    session.add(template)
    session.flush()
    version = TemplateVersion(
        template_id=template.id,
        version=1,
        status=VersionStatus.published,
        definition=definition or default,
        published_at=utcnow(),
    )
    session.add(version)
    session.flush()
    return version


def make_visit(
    session: Session, *, collateral: Collateral, version: TemplateVersion, **overrides: Any
) -> Visit:
    facility = session.get(Facility, collateral.facility_id)
    assert facility is not None
    visit = Visit(
        **{
            "branch_id": facility.branch_id,
            "borrower_id": facility.borrower_id,
            "facility_id": facility.id,
            "subject_type": SubjectType.collateral,
            "subject_id": collateral.id,
            "template_version_id": version.id,
            "manager_id": facility.manager_id,
            "due_on": bank_today(),
            "status": VisitStatus.scheduled,
            "origin": VisitOrigin.manual,
            **overrides,
        }
    )
    session.add(visit)
    session.flush()
    session.add(VisitAssignment(visit_id=visit.id, manager_id=visit.manager_id))
    session.flush()
    return visit


@dataclass
class BranchWorld:
    branch: Branch
    admin: User
    reviewer: User
    manager: User
    other_manager: User
    borrower: Borrower
    facility: Facility
    collateral: Collateral
    visit: Visit


@dataclass
class Bank:
    """Two branches, each with its own staff, a borrower, a facility, collateral and a visit."""

    one: BranchWorld
    two: BranchWorld
    version: TemplateVersion


def make_bank(session: Session) -> Bank:
    version = make_published_template(session)
    worlds = []
    for _ in range(2):
        branch = make_branch(session)
        admin = make_user(session, branch=branch, role=Role.admin)
        reviewer = make_user(session, branch=branch, role=Role.reviewer)
        manager = make_user(session, branch=branch, role=Role.manager)
        other_manager = make_user(session, branch=branch, role=Role.manager)
        borrower = make_borrower(session, branch=branch)
        facility = make_facility(session, borrower=borrower, manager=manager)
        collateral = make_collateral(session, facility=facility)
        visit = make_visit(session, collateral=collateral, version=version)
        worlds.append(
            BranchWorld(
                branch, admin, reviewer, manager, other_manager, borrower, facility, collateral, visit
            )
        )
    session.commit()
    return Bank(worlds[0], worlds[1], version)


def login(client: TestClient, user: User) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": user.username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def make_service_account(
    session: Session, *, admin: User, branches: list[Branch] | None, scopes: list[Scope] | None = None
) -> tuple[User, str]:
    """A service account (all scopes unless told) seeing `branches` (None: the bank) and one API key."""
    account = accounts.create_service_account(
        session,
        admin=admin,
        username=unique("svc"),
        display_name="信贷风险平台",
        description="",
        scopes=list(Scope) if scopes is None else scopes,
        branch_codes=None if branches is None else [branch.code for branch in branches],
    )
    _key, secret = accounts.issue_key(session, account=account, actor=admin, name="test", expires_at=None)
    user = session.get_one(User, account.user_id)
    session.commit()  # and no read after it: an open SQLite snapshot could not write again later
    return user, secret


def service_login(client: TestClient, key: str, scope: str | None = None) -> dict[str, str]:
    data = {"grant_type": "client_credentials", "client_secret": key, **({"scope": scope} if scope else {})}
    response = client.post("/api/v1/auth/token", data=data)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def new_uuid() -> str:
    return str(uuid.uuid4())


def hashed_photo_row(*, world: BranchWorld, visit_id: uuid.UUID, phash: int, sha256: str) -> dict[str, Any]:
    """A processed photo as a plain row (for bulk inserts of many hashes): only what the reuse lookup reads
    is meaningful."""
    from api.photos.inspection import phash_bands

    b0, b1, b2, b3 = phash_bands(phash)
    now = utcnow()
    return {
        "id": uuid.uuid4(), "visit_id": visit_id, "branch_id": world.branch.id, "item_key": "p",
        "uploaded_by_id": world.manager.id, "sha256": sha256, "size": 1, "declared_type": "image/jpeg",
        "format": "JPEG", "width": 1, "height": 1, "exif": {}, "phash": phash, "phash_b0": b0, "phash_b1": b1,
        "phash_b2": b2, "phash_b3": b3, "state": "processed", "received_at": now, "updated_at": now,
    }  # fmt: skip
