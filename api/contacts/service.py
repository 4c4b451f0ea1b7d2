"""Recording contacts with a borrower's people and turning their commitments into follow-up tasks.

A commitment (a borrower promising the audited statements by the 15th, the arrears paid by month end) is a
task on the facility concerned — the visit's facility when the contact happened on a visit, else a facility
of the borrower that the recorder manages (or the borrower's first) — assigned to the facility's manager and
due on the promised date. One task per commitment: its open key is the contact's id and the commitment's
place, so a retried upload never opens a second one."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session
from sqlmodel import col, select

from api.auth.models import Role, User
from api.checklists.schemas import Severity
from api.contacts import schemas
from api.contacts.models import Contact
from api.db import utcnow
from api.errors import Conflict, Forbidden, NotFound, Unprocessable
from api.kit.digests import json_sha256
from api.kit.races import RaceLost, inserted
from api.portfolio import service as portfolio_service
from api.portfolio.models import Borrower, Facility, SubjectType
from api.tasks.models import FollowUpTask, TaskState
from api.visits import service as visit_service
from api.visits.models import Visit

RULE_KEY = "commitment"
RECORDERS = (Role.manager, Role.reviewer, Role.risk_officer, Role.compliance_officer)


def scope_contacts(query: Select[Any], user: User) -> Select[Any]:
    """Contacts are seen by whoever sees the borrower."""
    if user.role == Role.service:
        raise Forbidden("The contact log is for the bank's staff.", detail_zh="沟通记录仅供本行员工查看。")
    visible = portfolio_service.scope_borrowers(select(Borrower.id), user)
    return query.where(col(Contact.borrower_id).in_(visible))


def digest(body: schemas.ContactIn) -> str:
    return json_sha256(body.model_dump(mode="json"))


def _facility(session: Session, *, user: User, borrower: Borrower, visit: Visit | None) -> Facility:
    if visit is not None:
        found = session.get(Facility, visit.facility_id)
        assert found is not None
        return found
    facilities = list(
        session.scalars(
            select(Facility).where(Facility.borrower_id == borrower.id).order_by(col(Facility.reference))
        )
    )
    if not facilities:
        raise Unprocessable(
            "The borrower has no facility to hang the commitments' tasks on.",
            detail_zh="该借款企业没有贷款，承诺事项无法生成跟进任务。",
        )
    return next((f for f in facilities if f.manager_id == user.id), facilities[0])


def record(
    session: Session, *, user: User, contact_id: uuid.UUID, body: schemas.ContactIn
) -> tuple[Contact, bool]:
    """Keep the contact (True), or find it kept already with the same body (False); another body is 409."""
    if user.role not in RECORDERS:
        raise Forbidden("Contacts are recorded by the bank's staff.", detail_zh="沟通记录由本行员工填写。")
    body_sha = digest(body)
    existing = session.get(Contact, contact_id)
    if existing is None and body.occurred_at > utcnow() + dt.timedelta(days=1):
        # A phone whose clock is days ahead: the record would sort before everything real.
        raise Unprocessable(
            "The contact is dated in the future: check the phone's date.",
            detail_zh="沟通时间晚于当前时间：请检查手机日期。",
        )
    if existing is not None:
        return _same(existing, body_sha), False
    borrower = portfolio_service.visible_borrower(session, user=user, borrower_id=body.borrower_id)
    visit = None
    if body.visit_id is not None:
        visit = session.scalar(
            visit_service.scope_visits(select(Visit), user).where(col(Visit.id) == body.visit_id)
        )
        if visit is None or visit.borrower_id != borrower.id:
            raise Unprocessable(
                "The visit is not the borrower's, or not in view.",
                detail_zh="该检查不属于此借款企业，或无权查看。",
            )
    facility = _facility(session, user=user, borrower=borrower, visit=visit) if body.commitments else None
    contact = Contact(
        id=contact_id,
        branch_id=borrower.branch_id,
        borrower_id=borrower.id,
        visit_id=body.visit_id,
        recorded_by_id=user.id,
        occurred_at=body.occurred_at,
        channel=body.channel,
        people=[p.model_dump() for p in body.people],
        summary=body.summary,
        commitments=[],
        body_sha256=body_sha,
    )
    if not inserted(session, contact):
        # The same contact sent twice at once: the first one made it.
        again = session.get(Contact, contact_id)
        if again is None:
            raise RaceLost()
        return _same(again, body_sha), False
    if facility is not None:
        contact.commitments = [
            {**c.model_dump(mode="json"), "task_id": str(_task(session, contact, facility, n, c, body).id)}
            for n, c in enumerate(body.commitments)
        ]
        session.flush()
    return contact, True


def _same(existing: Contact, body_sha: str) -> Contact:
    if existing.body_sha256 != body_sha:
        raise Conflict(
            "This contact was recorded with other content; record a new one to add to it.",
            detail_zh="该沟通记录已以不同内容保存；如需补充，请新建一条记录。",
        )
    return existing


def _task(
    session: Session,
    contact: Contact,
    facility: Facility,
    n: int,
    commitment: schemas.CommitmentIn,
    body: schemas.ContactIn,
) -> FollowUpTask:
    who = body.people[0]
    # The day as the recorder's clock said it (the time was sent with its offset), not UTC's.
    named = f"{who.name}（{who.title}）" if who.title else who.name
    named_en = f"{who.name} ({who.title})" if who.title else who.name
    task = FollowUpTask(
        open_key=f"contact:{contact.id}:{n}",
        branch_id=facility.branch_id,
        facility_id=facility.id,
        subject_type=SubjectType.facility,
        subject_id=facility.id,
        rule_key=RULE_KEY,
        item_key=str(n),
        severity=Severity.minor,
        state=TaskState.open,
        title_zh=f"借款人承诺：{commitment.text}（{named}，{body.occurred_at:%Y-%m-%d}）"[:500],
        title_en=f"Borrower's commitment: {commitment.text} ({named_en}, {body.occurred_at:%Y-%m-%d})"[:500],
        due_on=commitment.due_on,
        assignee_id=facility.manager_id,
        opened_by_visit_id=contact.visit_id,
        last_seen_visit_id=contact.visit_id,
        opened_by_contact_id=contact.id,
    )
    session.add(task)
    session.flush()
    return task


def list_contacts(
    session: Session, *, user: User, borrower_id: uuid.UUID | None, visit_id: uuid.UUID | None
) -> list[Contact]:
    query = scope_contacts(select(Contact), user)
    if borrower_id:
        query = query.where(col(Contact.borrower_id) == borrower_id)
    if visit_id:
        query = query.where(col(Contact.visit_id) == visit_id)
    return list(session.scalars(query.order_by(col(Contact.occurred_at).desc()).limit(500)))


def get_contact_for(session: Session, *, user: User, contact_id: uuid.UUID) -> Contact:
    found: Contact | None = session.scalar(
        scope_contacts(select(Contact), user).where(col(Contact.id) == contact_id)
    )
    if found is None:
        raise NotFound("No such contact.", detail_zh="沟通记录不存在。")
    return found


def public(session: Session, contact: Contact) -> schemas.ContactPublic:
    recorder = session.get(User, contact.recorded_by_id)
    return schemas.ContactPublic.model_validate(contact).model_copy(
        update={"recorded_by_name": recorder.display_name if recorder else ""}
    )
