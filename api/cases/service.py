"""Referrals: a manager (or a reviewer) opens an extension, restructuring or escalation case on a borrower,
from the borrower, a visit, a task or a signal; it is submitted, taken under review, recommended and
decided by people other than its owner. Every move is a step on the case's timeline and an event in the
audit trail.

Who does what:
- opens: a manager of one of the borrower's facilities, or a reviewer, risk or compliance officer of its
  branch; the opener owns the case and alone sees it while it is a draft;
- takes under review: for risk (every extension and restructuring) a reviewer or risk officer, for legal
  and compliance a compliance officer — never the owner;
- decides: for risk a risk officer, for legal and compliance a compliance officer — never the owner and,
  for extension and restructuring, never the one who reviewed, and only after the reviewer's
  recommendation (审贷分离). The database's check constraints hold the same lines."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session
from sqlmodel import col, select

from api.auth.models import Role, User
from api.cases import documents, schemas
from api.cases.models import (
    CLOSED_CASE_STATES,
    Case,
    CaseAttachment,
    CaseComment,
    CaseKind,
    CaseState,
    CaseStep,
    Department,
    OriginType,
)
from api.config import Settings
from api.db import utcnow
from api.errors import Conflict, Forbidden, InvalidTransition, NotFound, Unprocessable
from api.integrations import accounts
from api.kit.races import RaceLost, inserted
from api.monitoring.models import BorrowerFigures, Signal
from api.object_store import object_store
from api.photos import service as photo_service
from api.portfolio import service as portfolio_service
from api.portfolio.models import Borrower, Facility
from api.tasks import service as task_service
from api.tasks.models import FollowUpTask
from api.visits import service as visit_service
from api.visits.models import Visit

# Days a decision may take when the opener names no date.
DUE_DAYS = {CaseKind.extension: 10, CaseKind.restructuring: 15, CaseKind.escalation: 5}
OPENERS = (Role.manager, Role.reviewer, Role.risk_officer, Role.compliance_officer)
REVIEWERS = {
    Department.risk: (Role.reviewer, Role.risk_officer),
    Department.legal: (Role.compliance_officer,),
    Department.compliance: (Role.compliance_officer,),
}
DECIDERS = {
    Department.risk: (Role.risk_officer,),
    Department.legal: (Role.compliance_officer,),
    Department.compliance: (Role.compliance_officer,),
}
CREDIT_KINDS = (CaseKind.extension, CaseKind.restructuring)


# ---- scope ----


def scope_cases(query: Select[Any], user: User) -> Select[Any]:
    """Which cases a user sees. Drafts are their owner's alone, whatever the role."""
    not_draft = (col(Case.state) != CaseState.draft) | (col(Case.owner_id) == user.id)
    if user.role == Role.admin:
        return query.where(not_draft)
    if user.role == Role.manager:
        mine = select(Facility.borrower_id).where(Facility.manager_id == user.id)
        return query.where(not_draft, (col(Case.owner_id) == user.id) | col(Case.borrower_id).in_(mine))
    branch = col(Case.branch_id) == user.branch_id
    if user.role == Role.reviewer:
        return query.where(not_draft, branch)
    if user.role == Role.risk_officer:
        return query.where(
            not_draft, branch, (col(Case.routed_to) == Department.risk) | (col(Case.owner_id) == user.id)
        )
    if user.role == Role.compliance_officer:
        routed = col(Case.routed_to).in_((Department.legal, Department.compliance))
        return query.where(not_draft, branch, routed | (col(Case.owner_id) == user.id))
    if user.role == Role.service:  # a system granted cases:read: its branches, never a draft
        branches = accounts.branch_scope(user)
        submitted = col(Case.state) != CaseState.draft
        return (
            query.where(submitted)
            if branches is None
            else query.where(submitted, col(Case.branch_id).in_(branches))
        )
    raise Forbidden("Cases are for the bank's staff.", detail_zh="案件仅供本行员工查看。")


def get_case_for(session: Session, *, user: User, case_id: uuid.UUID) -> Case:
    case: Case | None = session.scalar(scope_cases(select(Case), user).where(col(Case.id) == case_id))
    if case is None:
        raise NotFound("No such case.", detail_zh="案件不存在。")
    return case


@dataclass(frozen=True)
class CaseFilter:
    state: list[CaseState] | None = None
    kind: list[CaseKind] | None = None
    routed_to: Department | None = None
    borrower_id: uuid.UUID | None = None
    mine: bool | None = None
    open: bool | None = None


def list_cases(session: Session, *, user: User, where: CaseFilter) -> list[Case]:
    query = scope_cases(select(Case), user)
    if where.state:
        query = query.where(col(Case.state).in_(where.state))
    if where.kind:
        query = query.where(col(Case.kind).in_(where.kind))
    if where.routed_to:
        query = query.where(col(Case.routed_to) == where.routed_to)
    if where.borrower_id:
        query = query.where(col(Case.borrower_id) == where.borrower_id)
    if where.mine:
        query = query.where((col(Case.owner_id) == user.id) | (col(Case.reviewer_id) == user.id))
    if where.open is not None:
        closed = col(Case.state).in_(CLOSED_CASE_STATES)
        query = query.where(~closed if where.open else closed)
    return list(session.scalars(query.order_by(col(Case.due_on), col(Case.created_at)).limit(500)))


# ---- writing the draft ----


def _check_links(session: Session, *, user: User, data: schemas.CaseDraft, borrower: Borrower) -> None:
    """The facility, the origin and the supporting visits and figures are the borrower's and in view."""
    if data.facility_id is not None:
        facility = session.get(Facility, data.facility_id)
        if facility is None or facility.borrower_id != borrower.id:
            raise Unprocessable(
                "The facility is not one of the borrower's.", detail_zh="该贷款不属于此借款企业。"
            )
    origin_ok = True
    if data.origin_type == OriginType.borrower:
        origin_ok = data.origin_id in (None, borrower.id)
    elif data.origin_type == OriginType.visit:
        visit = session.scalar(
            visit_service.scope_visits(select(Visit), user).where(col(Visit.id) == data.origin_id)
        )
        origin_ok = visit is not None and visit.borrower_id == borrower.id
    elif data.origin_type == OriginType.task:
        task = session.scalar(
            task_service.scope_tasks(select(FollowUpTask), user).where(col(FollowUpTask.id) == data.origin_id)
        )
        facility = session.get(Facility, task.facility_id) if task is not None else None
        origin_ok = facility is not None and facility.borrower_id == borrower.id
    elif data.origin_type == OriginType.signal:
        signal = session.get(Signal, data.origin_id)
        origin_ok = signal is not None and signal.borrower_id == borrower.id
    if not origin_ok:
        raise Unprocessable(
            f"The {data.origin_type.value} the case is opened from is not the borrower's, or not in view.",
            detail_zh="案件来源（检查、任务或预警）不属于此借款企业，或无权查看。",
        )
    if data.supporting_visit_ids:
        ids = set(data.supporting_visit_ids)
        owners = session.scalars(
            visit_service.scope_visits(select(Visit.borrower_id), user).where(col(Visit.id).in_(ids))
        ).all()
        if len(owners) != len(ids) or any(owner != borrower.id for owner in owners):
            raise Unprocessable(
                "A supporting visit is not the borrower's, or not in view.",
                detail_zh="所附检查记录不属于此借款企业，或无权查看。",
            )
    if data.supporting_figure_ids:
        ids = set(data.supporting_figure_ids)
        owners = session.scalars(
            select(BorrowerFigures.borrower_id).where(col(BorrowerFigures.id).in_(ids))
        ).all()
        if len(owners) != len(ids) or any(owner != borrower.id for owner in owners):
            raise Unprocessable(
                "Supporting figures are not the borrower's.", detail_zh="所附财务数据不属于此借款企业。"
            )


def put_draft(
    session: Session, *, user: User, today: dt.date, case_id: uuid.UUID, data: schemas.CaseDraft
) -> tuple[Case, bool]:
    """Create the draft (True) or replace it while it is its owner's draft (False)."""
    if user.role not in OPENERS:
        raise Forbidden(
            "Cases are opened by managers, reviewers and officers.",
            detail_zh="只有客户经理、审核人员和风险、合规人员可以发起案件。",
        )
    borrower = portfolio_service.visible_borrower(session, user=user, borrower_id=data.borrower_id)
    _check_links(session, user=user, data=data, borrower=borrower)
    fields: dict[str, Any] = {
        "kind": data.kind,
        "routed_to": data.routed_to or Department.risk,
        "borrower_id": borrower.id,
        "branch_id": borrower.branch_id,
        "facility_id": data.facility_id,
        "title": data.title,
        "reason": data.reason,
        "terms": data.terms.model_dump(mode="json", exclude_none=True),
        "amount": data.terms.amount,
        "origin_type": data.origin_type,
        "origin_id": data.origin_id or borrower.id,
        "supporting_visit_ids": sorted({str(v) for v in data.supporting_visit_ids}),
        "supporting_figure_ids": sorted({str(f) for f in data.supporting_figure_ids}),
        "due_on": data.due_on or today + dt.timedelta(days=DUE_DAYS[data.kind]),
    }
    if fields["due_on"] < today:
        raise Unprocessable("The due date is in the past.", detail_zh="截止日期早于今天。")
    existing = session.get(Case, case_id)
    if existing is None:
        case = Case(id=case_id, owner_id=user.id, state=CaseState.draft, **fields)
        if not inserted(session, case):
            # The same id sent twice at once: the first one made it; this one edits it like a retry.
            existing = session.get(Case, case_id)
            if existing is None:
                raise RaceLost()
        else:
            _step(session, case, user, "create", None, CaseState.draft, None)
            return case, True
    if existing.owner_id != user.id:
        raise Conflict("This case id is taken.", detail_zh="该案件编号已被使用。")
    if existing.state != CaseState.draft:
        raise InvalidTransition(
            "Only a draft is edited; this case has been submitted.",
            detail_zh="只有草稿可以修改；此案件已提交。",
        )
    for name, value in fields.items():
        setattr(existing, name, value)
    session.flush()
    return existing, False


def _step(
    session: Session,
    case: Case,
    user: User,
    action: str,
    from_state: CaseState | None,
    to_state: CaseState,
    note: str | None,
) -> None:
    session.add(
        CaseStep(
            case_id=case.id,
            actor_id=user.id,
            action=action,
            from_state=from_state.value if from_state else None,
            to_state=to_state.value,
            note=note,
        )
    )
    session.flush()


# ---- moving the case ----


def allowed_actions(case: Case, user: User) -> list[str]:
    """What this user may do with this case now (the app shows these buttons; `act` checks the same)."""
    can: list[str] = []
    owner = case.owner_id == user.id
    if owner and case.state == CaseState.draft:
        can += ["edit", "submit"]
    if owner and case.state not in CLOSED_CASE_STATES:
        can.append("withdraw")
    if case.state == CaseState.submitted and not owner and user.role in REVIEWERS[case.routed_to]:
        can.append("take")
    if case.state == CaseState.under_review:
        if case.reviewer_id == user.id and case.kind in CREDIT_KINDS:
            can.append("recommend")
        may_decide = (
            not owner
            and user.role in DECIDERS[case.routed_to]
            and (
                case.kind not in CREDIT_KINDS
                or (case.recommendation is not None and case.reviewer_id != user.id)
            )
        )
        if may_decide:
            can += ["approve", "reject"]
    if case.state not in CLOSED_CASE_STATES:
        can.append("attach")
    can.append("comment")
    return can


def act(session: Session, *, user: User, case: Case, data: schemas.CaseAction) -> Case:
    # The row locked and read afresh: two officers deciding at once are served one after the other, and the
    # second is judged on the first one's outcome (409), not on what both read before.
    session.scalar(
        select(Case)
        .where(col(Case.id) == case.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    action = data.action
    if action not in allowed_actions(case, user):
        raise _why_not(case, user, action)
    before = case.state
    now = utcnow()
    if action == "submit":
        case.state, case.submitted_at = CaseState.submitted, now
    elif action == "withdraw":
        case.state = CaseState.withdrawn
    elif action == "take":
        case.state, case.reviewer_id = CaseState.under_review, user.id
    elif action == "recommend":
        if data.recommendation is None or not data.note:
            raise Unprocessable(
                "A recommendation says approve or reject, with the opinion in `note`.",
                detail_zh="审查意见须写明同意或不同意，并在 note 中说明理由。",
            )
        case.recommendation, case.recommendation_note = data.recommendation, data.note
    else:
        if action == "reject" and not data.note:
            raise Unprocessable("A rejection says why (`note`).", detail_zh="否决须说明理由（note）。")
        case.state = CaseState.approved if action == "approve" else CaseState.rejected
        case.decided_by_id, case.decided_at, case.decision_note = user.id, now, data.note
    case.updated_at = now
    session.flush()
    note = data.note if action != "recommend" else f"{data.recommendation}: {data.note}"
    _step(session, case, user, action, before, case.state, note)
    return case


def _why_not(case: Case, user: User, action: str) -> Exception:
    owner = case.owner_id == user.id
    if action in ("approve", "reject", "take") and owner:
        return Forbidden(
            "Four eyes: the owner of a case does not review or decide it.",
            detail_zh="四眼原则：案件发起人不得审查或审批本案件。",
        )
    if action in ("approve", "reject") and case.kind in CREDIT_KINDS and case.reviewer_id == user.id:
        return Forbidden(
            "Four eyes: the one who reviewed an extension or restructuring does not approve it (审贷分离).",
            detail_zh="审贷分离：审查人不得审批同一展期或重组案件。",
        )
    if (
        (
            action in ("approve", "reject")
            and case.state == CaseState.under_review
            and case.recommendation is None
        )
        and case.kind in CREDIT_KINDS
        and user.role in DECIDERS[case.routed_to]
    ):
        return InvalidTransition(
            "The reviewer's recommendation comes first.", detail_zh="须先有审查人的审查意见。"
        )
    wrong_role = (
        (action == "take" and user.role not in REVIEWERS[case.routed_to])
        or (action in ("approve", "reject") and user.role not in DECIDERS[case.routed_to])
        or (action in ("submit", "withdraw") and not owner)
        or (action == "recommend" and case.reviewer_id != user.id)
    )
    if wrong_role:
        return Forbidden(f"You may not {action} this case.", detail_zh="您无权对此案件执行该操作。")
    return InvalidTransition(
        f"A case that is {case.state.value} cannot be {action}ed.",
        detail_zh=f"案件当前状态（{case.state.value}）下不能执行该操作。",
    )


def comment(session: Session, *, case: Case, user: User, body: str) -> CaseComment:
    entry = CaseComment(case_id=case.id, author_id=user.id, body=body)
    session.add(entry)
    session.flush()
    return entry


# ---- attachments ----


def check_new_attachment(
    session: Session, *, user: User, case: Case, attachment_id: uuid.UUID, sha256: str
) -> CaseAttachment | None:
    """Before any byte is read: the same id with the same hash is the one already kept (a retry)."""
    existing = session.get(CaseAttachment, attachment_id)
    if existing is not None:
        if existing.case_id != case.id or existing.sha256 != sha256.lower():
            raise Conflict("This attachment id holds other bytes.", detail_zh="该附件编号已对应其他文件。")
        return existing
    if "attach" not in allowed_actions(case, user):
        raise InvalidTransition(
            "A closed case takes no more attachments.", detail_zh="已结束的案件不能再添加附件。"
        )
    return None


def accept_attachment(
    session: Session,
    *,
    settings: Settings,
    user: User,
    case: Case,
    attachment_id: uuid.UUID,
    filename: str,
    media_type: str,
    path: Path,
    sha256: str,
    size: int,
) -> CaseAttachment:
    try:
        facts = documents.check(
            path,
            media_type=media_type,
            limits=photo_service.photo_limits(settings),
        )
        object_store(settings, area="state").put_file(documents.key_of(sha256.lower()), path)
    finally:
        path.unlink(missing_ok=True)
    attachment = CaseAttachment(
        id=attachment_id,
        case_id=case.id,
        uploaded_by_id=user.id,
        filename=filename,
        media_type=media_type,
        size=size,
        sha256=sha256,
        pages=facts.pages,
        width=facts.width,
        height=facts.height,
    )
    if not inserted(session, attachment):
        again = check_new_attachment(
            session, user=user, case=case, attachment_id=attachment_id, sha256=sha256
        )
        if again is None:
            raise RaceLost()
        return again
    _step(session, case, user, "attach", case.state, case.state, filename)
    return attachment


def attachment_url(attachment: CaseAttachment) -> str:
    return f"/api/v1/cases/{attachment.case_id}/attachments/{attachment.id}"


def attachment_for(session: Session, *, case: Case, attachment_id: uuid.UUID) -> CaseAttachment:
    found = session.get(CaseAttachment, attachment_id)
    if found is None or found.case_id != case.id:
        raise NotFound("No such attachment.", detail_zh="附件不存在。")
    return found


# ---- reading ----


def _names(session: Session, ids: set[uuid.UUID] | set[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(User.id, User.display_name).where(col(User.id).in_(wanted))).all())


def public(session: Session, case: Case, *, user: User | None, today: dt.date) -> schemas.CasePublic:
    """The case as shown; `can` is the user's (empty for an event sent to other systems)."""
    names = _names(session, {case.owner_id, case.reviewer_id, case.decided_by_id})
    borrower = session.get(Borrower, case.borrower_id)
    facility = session.get(Facility, case.facility_id) if case.facility_id else None
    return schemas.CasePublic.model_validate(case).model_copy(
        update={
            "borrower_name": borrower.name if borrower else "",
            "facility_reference": facility.reference if facility else "",
            "owner_name": names.get(case.owner_id, ""),
            "reviewer_name": names.get(case.reviewer_id, "") if case.reviewer_id else "",
            "decided_by_name": names.get(case.decided_by_id, "") if case.decided_by_id else "",
            "overdue": case.state not in CLOSED_CASE_STATES and case.due_on < today,
            "can": allowed_actions(case, user) if user is not None and user.role != Role.service else [],
        },
    )


def detail(session: Session, case: Case, *, user: User, today: dt.date) -> schemas.CaseDetail:
    steps = list(
        session.scalars(select(CaseStep).where(CaseStep.case_id == case.id).order_by(col(CaseStep.at)))
    )
    comments = list(
        session.scalars(
            select(CaseComment).where(CaseComment.case_id == case.id).order_by(col(CaseComment.created_at))
        )
    )
    attachments = list(
        session.scalars(
            select(CaseAttachment)
            .where(CaseAttachment.case_id == case.id)
            .order_by(col(CaseAttachment.created_at))
        )
    )
    names = _names(session, {s.actor_id for s in steps} | {c.author_id for c in comments})
    base = public(session, case, user=user, today=today)
    return schemas.CaseDetail(
        **base.model_dump(),
        steps=[
            schemas.CaseStepPublic.model_validate(s).model_copy(
                update={"actor_name": names.get(s.actor_id, "")}
            )
            for s in steps
        ],
        comments=[
            schemas.CaseCommentPublic.model_validate(c).model_copy(
                update={"author_name": names.get(c.author_id, "")}
            )
            for c in comments
        ],
        attachments=[
            schemas.CaseAttachmentPublic.model_validate(a).model_copy(update={"url": attachment_url(a)})
            for a in attachments
        ],
    )
