"""Cases (referrals) through the API: the issue's whole path from figures to an approved restructuring, four
eyes (in the service and in the database), who sees which case, drafts and their checks, attachments."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.audit.models import AuditEvent
from api.auth.models import Role, User
from api.cases.models import Case, CaseAttachment
from api.config import Settings
from api.integrations.models import WebhookEvent
from api.monitoring.models import BorrowerFigures
from api.visits.models import Visit, VisitOrigin, VisitStatus
from tests.cases import documents
from tests.factories import Bank, bank_today, login, make_bank, make_borrower, make_facility, make_user
from tests.photos.images import jpeg, sha256
from tests.sync.helpers import capture_photos, put_photo, submission_body

pytestmark = pytest.mark.calendar


def _officers(session: Session, bank: Bank) -> tuple[User, User, User]:
    risk = make_user(session, branch=bank.one.branch, role=Role.risk_officer)
    risk2 = make_user(session, branch=bank.one.branch, role=Role.risk_officer)
    compliance = make_user(session, branch=bank.one.branch, role=Role.compliance_officer)
    session.commit()
    return risk, risk2, compliance


def _restructuring(bank: Bank, **overrides: Any) -> dict[str, Any]:
    return {
        "kind": "restructuring",
        "borrower_id": str(bank.one.borrower.id),
        "facility_id": str(bank.one.facility.id),
        "title": "吴中新材料 贷款重组",
        "reason": "销售收入同比下降六成，抵押设备去向不明。",
        "terms": {
            "repayment_plan": "本金分 8 个季度偿还，首年只付息",
            "grace_months": 12,
            "amount": "3000000",
        },
        **overrides,
    }


def _open(
    client: TestClient, headers: dict[str, str], body: dict[str, Any], case_id: str | None = None
) -> Any:
    return client.put(f"/api/v1/cases/{case_id or uuid.uuid4()}", json=body, headers=headers)


def _act(client: TestClient, headers: dict[str, str], case_id: str, action: str, **extra: Any) -> Any:
    return client.post(f"/api/v1/cases/{case_id}/actions", json={"action": action, **extra}, headers=headers)


def _attach(
    client: TestClient, headers: dict[str, str], case_id: str, data: bytes, media: str, **params: Any
) -> Any:
    query = {"filename": "财务报表.pdf", "sha256": sha256(data), **params}
    return client.put(
        f"/api/v1/cases/{case_id}/attachments/{params.pop('attachment_id', uuid.uuid4())}",
        params={k: v for k, v in query.items() if k != "attachment_id"},
        content=data,
        headers=headers | {"Content-Type": media},
    )


def test_from_figures_to_an_approved_restructuring(client: TestClient, session: Session) -> None:
    """The issue's path: an import fires two signals → a task and an ad-hoc visit → the visit finds the
    collateral missing → a restructuring case is opened from the visit, reviewed and approved."""
    bank = make_bank(session)
    risk, _, _ = _officers(session, bank)
    first = session.get_one(Visit, bank.one.visit.id)
    first.status, first.decided_at = VisitStatus.approved, dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    session.commit()
    admin = login(client, bank.one.admin)
    code = bank.one.borrower.credit_code
    csv_text = (
        "borrower_credit_code,period,revenue,total_liabilities,total_assets,reported_on,source\n"
        f"{code},2025Q3,2000000,,,2025-10-20,季报\n"
        f"{code},2026Q3,600000,900000,1000000,2026-10-20,季报\n"
    )
    imported = client.post(
        "/api/v1/imports/figures", content=csv_text.encode(), headers=admin | {"Content-Type": "text/csv"}
    )
    assert imported.status_code == 200, imported.text
    signals = client.get("/api/v1/signals", params={"state": "open"}, headers=admin).json()
    assert {s["indicator"]: s["severity"] for s in signals} == {
        "revenue_drop": "critical",
        "leverage": "critical",
    }
    manager = login(client, bank.one.manager)
    tasks = client.get("/api/v1/tasks", headers=manager).json()["items"]
    assert {t["rule_key"] for t in tasks} >= {"revenue_drop", "leverage"}
    [adhoc_id] = {s["visit_id"] for s in signals}
    # Each new signal is an event for the systems that subscribe (signal.opened, portfolio:read).
    session.rollback()
    opened = session.scalars(
        select(WebhookEvent.entity_id).where(WebhookEvent.event_type == "signal.opened")
    ).all()
    assert {str(i) for i in opened} == {s["id"] for s in signals}
    session.rollback()
    adhoc = session.get_one(Visit, uuid.UUID(adhoc_id))
    assert adhoc.origin == VisitOrigin.signal and adhoc.manager_id == bank.one.manager.id

    # The manager goes: the collateral is not there.
    photos = capture_photos(seed=31)
    body = submission_body(photos)
    body["answers"]["collateral_present"] = {"value": False, "note": "厂房内未见抵押设备"}
    submitted = client.put(
        f"/api/v1/visits/{adhoc_id}/submissions/{uuid.uuid4()}", json=body, headers=manager
    )
    assert submitted.status_code == 201, submitted.text
    for photo in photos:
        assert put_photo(client, manager, adhoc_id, photo).status_code == 201
    reviewer = login(client, bank.one.reviewer)
    record = client.get(f"/api/v1/visits/{adhoc_id}", headers=reviewer).json()
    assert any(d["rule_key"] == "collateral_missing" or d["item_key"] == "collateral_present"
               for d in record["discrepancies"]), record["discrepancies"]  # fmt: skip
    approved = client.post(
        f"/api/v1/visits/{adhoc_id}/review", json={"decision": "approve", "comment": "属实"}, headers=reviewer
    )
    assert approved.status_code == 200, approved.text

    # A restructuring case, opened from that visit, with the visit and the quarter's figures as support.
    figures_id = session.scalar(
        select(BorrowerFigures.id).where(
            BorrowerFigures.borrower_id == bank.one.borrower.id, BorrowerFigures.period == "2026Q3"
        )
    )
    case_id = str(uuid.uuid4())
    body = _restructuring(
        bank,
        origin_type="visit",
        origin_id=adhoc_id,
        supporting_visit_ids=[adhoc_id],
        supporting_figure_ids=[str(figures_id)],
    )
    opened = _open(client, manager, body, case_id)
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert (case["state"], case["routed_to"], case["can"]) == (
        "draft",
        "risk",
        ["edit", "submit", "withdraw", "attach", "comment"],
    )
    assert case["due_on"] == (bank_today() + dt.timedelta(days=15)).isoformat()
    assert _open(client, manager, body, case_id).status_code == 200  # a retry: the same draft
    report = documents.pdf(pages=3)
    attached = _attach(client, manager, case_id, report, "application/pdf")
    assert attached.status_code == 201, attached.text
    assert attached.json()["pages"] == 3
    assert _act(client, manager, case_id, "submit").status_code == 200

    # The branch's reviewer takes it and recommends; a risk officer decides.
    taken = _act(client, reviewer, case_id, "take")
    assert taken.status_code == 200 and taken.json()["state"] == "under_review"
    officer = login(client, risk)
    early = _act(client, officer, case_id, "approve", note="同意")
    assert early.status_code == 409 and early.json()["code"] == "invalid_transition"  # no recommendation yet
    recommended = _act(
        client, reviewer, case_id, "recommend", recommendation="approve", note="押品缺失属实，建议重组"
    )
    assert recommended.status_code == 200, recommended.text
    assert "approve" in client.get(f"/api/v1/cases/{case_id}", headers=officer).json()["can"]
    done = _act(client, officer, case_id, "approve", note="同意重组，按计划执行")
    assert done.status_code == 200, done.text
    final = done.json()
    assert final["state"] == "approved" and final["decided_by_id"] == str(risk.id)
    assert [s["action"] for s in final["steps"]] == [
        "create",
        "attach",
        "submit",
        "take",
        "recommend",
        "approve",
    ]
    assert final["attachments"][0]["sha256"] == sha256(report)
    download = client.get(final["attachments"][0]["url"], headers=reviewer)
    assert download.content == report and download.headers["content-security-policy"] == "sandbox"
    assert "attachment" in download.headers["content-disposition"]
    # The audit trail holds every change of the case.
    session.rollback()
    audited = session.scalars(
        select(AuditEvent.action).where(
            AuditEvent.entity_type == "referral_case", AuditEvent.entity_id == case_id
        )
    ).all()
    assert len(audited) >= 5
    # The borrower page shows it.
    page = client.get(f"/api/v1/borrowers/{bank.one.borrower.id}/overview", headers=reviewer).json()
    assert [c["id"] for c in page["cases"]] == [case_id]
    # Closed: no more attachments, no more moves.
    assert _attach(client, manager, case_id, documents.pdf(), "application/pdf").status_code == 409
    assert _act(client, manager, case_id, "withdraw").status_code in (403, 409)


def test_four_eyes(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    risk, risk2, compliance = _officers(session, bank)
    # A risk officer opens a case himself: he may neither take nor decide it.
    own = login(client, risk)
    case_id = _open(client, own, _restructuring(bank)).json()["id"]
    assert _act(client, own, case_id, "submit").status_code == 200
    refused = _act(client, own, case_id, "take")
    assert refused.status_code == 403 and "四眼" in refused.json()["detail"]
    second = login(client, risk2)
    assert _act(client, second, case_id, "take").status_code == 200
    assert (
        _act(client, second, case_id, "recommend", recommendation="approve", note="可行").status_code == 200
    )
    # The one who reviewed does not approve (审贷分离), nor does the owner, nor a reviewer or compliance.
    for who in (risk2, risk, bank.one.reviewer, compliance):
        answer = _act(client, login(client, who), case_id, "approve", note="同意")
        assert answer.status_code in (403, 404), (who.role, answer.text)
    assert _act(client, second, case_id, "reject").status_code in (403, 422)
    # And the database holds the same lines, whatever the code above it does.
    session.rollback()
    row = session.get_one(Case, uuid.UUID(case_id))
    row.decided_by_id = row.reviewer_id
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
    row = session.get_one(Case, uuid.UUID(case_id))
    row.decided_by_id = row.owner_id
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_escalations_go_to_their_department(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    risk, _, compliance = _officers(session, bank)
    manager = login(client, bank.one.manager)
    escalation = {
        "kind": "escalation",
        "routed_to": "legal",
        "borrower_id": str(bank.one.borrower.id),
        "title": "抵押设备疑被转移",
        "reason": "现场未见设备，需法律部门评估保全措施。",
    }
    case_id = _open(client, manager, escalation).json()["id"]
    # A draft is its owner's alone.
    assert client.get(f"/api/v1/cases/{case_id}", headers=login(client, bank.one.reviewer)).status_code == 404
    assert _act(client, manager, case_id, "submit").status_code == 200
    legal = login(client, compliance)
    assert client.get(f"/api/v1/cases/{case_id}", headers=legal).status_code == 200
    assert client.get(f"/api/v1/cases/{case_id}", headers=login(client, risk)).status_code == 404
    assert _act(client, login(client, bank.one.reviewer), case_id, "take").status_code == 403
    assert _act(client, legal, case_id, "take").status_code == 200
    # An escalation is decided by the officer who took it; a rejection says why.
    assert _act(client, legal, case_id, "reject").status_code == 422
    assert _act(client, legal, case_id, "approve", note="已启动诉前保全").json()["state"] == "approved"
    # Neither the other branch nor another manager sees it.
    for outsider in (bank.two.reviewer, bank.two.manager, bank.one.other_manager):
        assert client.get(f"/api/v1/cases/{case_id}", headers=login(client, outsider)).status_code == 404
    assert client.get("/api/v1/cases", headers=login(client, bank.two.reviewer)).json() == []
    # The officers read their branch's portfolio (not the other branch's) but do not review visits.
    assert client.get(f"/api/v1/visits/{bank.one.visit.id}", headers=legal).status_code == 200
    assert client.get(f"/api/v1/visits/{bank.two.visit.id}", headers=legal).status_code == 404
    assert client.get("/api/v1/review/queue", headers=legal).status_code == 403
    assert client.get("/api/v1/dashboard", headers=login(client, risk)).status_code == 200


def test_a_draft_is_checked_and_only_a_draft_is_edited(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    manager = login(client, bank.one.manager)
    no_maturity = {**_restructuring(bank), "kind": "extension", "terms": {}}
    assert _open(client, manager, no_maturity).status_code == 422
    no_plan = {**_restructuring(bank), "terms": {"grace_months": 3}}
    assert _open(client, manager, no_plan).status_code == 422
    assert _open(client, manager, _restructuring(bank, routed_to="legal")).status_code == 422
    other = make_borrower(session, branch=bank.one.branch)
    other_facility = make_facility(session, borrower=other, manager=bank.one.manager)
    session.commit()
    assert _open(client, manager, _restructuring(bank, facility_id=str(other_facility.id))).status_code == 422
    assert (
        _open(
            client, manager, _restructuring(bank, supporting_visit_ids=[str(bank.two.visit.id)])
        ).status_code
        == 422
    )
    assert (
        _open(
            client, manager, _restructuring(bank, origin_type="signal", origin_id=str(uuid.uuid4()))
        ).status_code
        == 422
    )
    past = (bank_today() - dt.timedelta(days=1)).isoformat()
    assert _open(client, manager, _restructuring(bank, due_on=past)).status_code == 422
    # Another branch's borrower: as if it did not exist.
    assert (
        _open(client, manager, _restructuring(bank, borrower_id=str(bank.two.borrower.id))).status_code == 404
    )
    # A manager of another facility sees no such borrower.
    assert _open(client, login(client, bank.one.other_manager), _restructuring(bank)).status_code == 404
    case_id = str(uuid.uuid4())
    assert _open(client, manager, _restructuring(bank), case_id).status_code == 201
    edited = _open(client, manager, _restructuring(bank, title="改：贷款重组"), case_id)
    assert edited.status_code == 200 and edited.json()["title"] == "改：贷款重组"
    # The same id from someone else is not theirs to edit.
    reviewer = login(client, bank.one.reviewer)
    assert _open(client, reviewer, _restructuring(bank), case_id).status_code == 409
    _act(client, manager, case_id, "submit")
    again = _open(client, manager, _restructuring(bank), case_id)
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"
    session.rollback()
    assert session.scalar(select(Case.title).where(Case.id == uuid.UUID(case_id))) == "改：贷款重组"


def test_attachments_are_checked_like_photos(
    client: TestClient, session: Session, settings: Settings
) -> None:
    bank = make_bank(session)
    manager = login(client, bank.one.manager)
    case_id = _open(client, manager, _restructuring(bank)).json()["id"]
    folder = settings.state_folder / "case-files"
    before = set(folder.rglob("*")) if folder.exists() else set()
    refused = {
        "script": (documents.pdf_with_script(), "application/pdf"),
        "launch": (documents.pdf_opening_a_launch_action(), "application/pdf"),
        "encrypted": (documents.encrypted_pdf(), "application/pdf"),
        "truncated": (documents.pdf()[:-200], "application/pdf"),
        "not a pdf": (jpeg(64, 64), "application/pdf"),
        "not a png": (jpeg(64, 64), "image/png"),
        "html": (b"<html><script>alert(1)</script></html>", "text/html"),
        "pdf with a zip behind": (documents.pdf() + _zip(), "application/pdf"),
    }
    for name, (data, media) in refused.items():
        answer = _attach(client, manager, case_id, data, media)
        assert answer.status_code == 422, (name, answer.text)
        assert answer.json()["code"] == "attachment_rejected", name
    # A hash that does not match what arrived.
    damaged = _attach(client, manager, case_id, documents.pdf(), "application/pdf", sha256="0" * 64)
    assert damaged.status_code == 422
    session.rollback()
    assert session.scalar(select(CaseAttachment.id)) is None
    assert (set(folder.rglob("*")) if folder.exists() else set()) == before  # nothing kept on disk either
    # A photo and a PDF are taken; a retry answers with the one kept; the same id with other bytes is 409.
    photo = jpeg(800, 600)
    attachment_id = str(uuid.uuid4())
    first = _attach(
        client, manager, case_id, photo, "image/jpeg", filename="现场.jpg", attachment_id=attachment_id
    )
    assert first.status_code == 201 and (first.json()["width"], first.json()["height"]) == (800, 600)
    retry = _attach(
        client, manager, case_id, photo, "image/jpeg", filename="现场.jpg", attachment_id=attachment_id
    )
    assert retry.status_code == 200 and retry.json()["id"] == attachment_id
    other = _attach(client, manager, case_id, jpeg(80, 60), "image/jpeg", attachment_id=attachment_id)
    assert other.status_code == 409
    assert (
        _attach(
            client, manager, case_id, documents.pdf(), "application/pdf", filename="../etc/passwd"
        ).status_code
        == 422
    )
    # Another branch cannot attach to (nor see) the case.
    assert (
        _attach(
            client, login(client, bank.two.manager), case_id, documents.pdf(), "application/pdf"
        ).status_code
        == 404
    )


def test_an_attachment_over_the_limit_is_refused_whole(
    client: TestClient, session: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank = make_bank(session)
    manager = login(client, bank.one.manager)
    case_id = _open(client, manager, _restructuring(bank)).json()["id"]
    monkeypatch.setattr(settings, "max_attachment_bytes", 2048)
    answer = _attach(client, manager, case_id, documents.pdf(pages=40), "application/pdf")
    assert answer.status_code == 413 and answer.json()["code"] == "attachment_too_large"


def _zip() -> bytes:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("payload.txt", "hidden")
    return out.getvalue()


def test_other_systems_read_cases_and_hear_of_their_decisions(client: TestClient, session: Session) -> None:
    """With cases:read a system of the bank (the credit system) reads its branches' cases — never a draft — and
    a decision is a webhook event (case.submitted, case.approved), written in the decision's transaction."""
    from api.integrations.models import Scope
    from tests.factories import make_service_account, service_login

    bank = make_bank(session)
    risk, _, _ = _officers(session, bank)
    _system, key = make_service_account(
        session, admin=bank.one.admin, branches=[bank.one.branch], scopes=[Scope.cases_read]
    )
    manager = login(client, bank.one.manager)
    draft_id = _open(client, manager, _restructuring(bank)).json()["id"]
    case_id = _open(client, manager, _restructuring(bank, title="二号")).json()["id"]
    _act(client, manager, case_id, "submit")
    reviewer = login(client, bank.one.reviewer)
    _act(client, reviewer, case_id, "take")
    _act(client, reviewer, case_id, "recommend", recommendation="reject", note="还款来源不足")
    assert _act(client, login(client, risk), case_id, "reject", note="不同意重组").status_code == 200
    headers = service_login(client, key)
    seen = client.get("/api/v1/cases", headers=headers)
    assert seen.status_code == 200 and [c["id"] for c in seen.json()] == [case_id]
    assert seen.json()[0]["can"] == []
    assert client.get(f"/api/v1/cases/{draft_id}", headers=headers).status_code == 404
    assert (
        client.post(f"/api/v1/cases/{case_id}/comments", json={"body": "x"}, headers=headers).status_code
        == 403
    )
    session.rollback()
    events = session.scalars(
        select(WebhookEvent.event_type)
        .where(WebhookEvent.entity_id == uuid.UUID(case_id))
        .order_by(WebhookEvent.created_at)
    ).all()
    assert events == ["case.submitted", "case.rejected"]
    # Without the scope, nothing.
    _, other = make_service_account(session, admin=bank.one.admin, branches=None, scopes=[Scope.visits_read])
    assert client.get("/api/v1/cases", headers=service_login(client, other)).status_code == 403


def test_two_officers_deciding_at_once_are_served_in_turn(
    app: Any, client: TestClient, session: Session, db_kind: str
) -> None:
    """The first decision holds the case's row; the second waits for it and is judged on its outcome (409),
    instead of overwriting it with a decision taken on what both had read."""
    import threading

    from api.cases import service as case_service
    from api.cases.schemas import CaseAction
    from api.errors import InvalidTransition

    if db_kind != "postgresql":
        pytest.skip("SQLite has one writer at a time: two decisions cannot interleave there")
    bank = make_bank(session)
    risk, risk2, _ = _officers(session, bank)
    manager = login(client, bank.one.manager)
    case_id = _open(client, manager, _restructuring(bank)).json()["id"]
    _act(client, manager, case_id, "submit")
    reviewer = login(client, bank.one.reviewer)
    _act(client, reviewer, case_id, "take")
    _act(client, reviewer, case_id, "recommend", recommendation="approve", note="可行")
    first: Session = app.state.sessionmaker()
    second: Session = app.state.sessionmaker()
    outcome: list[object] = []
    try:
        case_first = first.get_one(Case, uuid.UUID(case_id))
        case_service.act(
            first, user=first.get_one(User, risk.id), case=case_first, data=CaseAction(action="approve")
        )
        case_second = second.get_one(Case, uuid.UUID(case_id))  # read before the first commits: under review
        officer = second.get_one(User, risk2.id)

        def decide() -> None:
            try:
                case_service.act(
                    second, user=officer, case=case_second, data=CaseAction(action="reject", note="否")
                )
                outcome.append("decided")
            except InvalidTransition as exc:
                outcome.append(exc)

        waiting = threading.Thread(target=decide)
        waiting.start()
        waiting.join(timeout=1)
        assert waiting.is_alive()  # held by the first decision's lock
        first.commit()
        waiting.join(timeout=10)
        assert len(outcome) == 1 and isinstance(outcome[0], InvalidTransition)
    finally:
        second.rollback()
        first.close()
        second.close()
    session.rollback()
    assert session.get_one(Case, uuid.UUID(case_id)).state == "approved"
