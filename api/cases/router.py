"""Referrals (案件): open a draft, move it through review to a decision, comment, attach documents."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from api.auth.dependencies import CasesReader, CurrentUser, SettingsDep
from api.cases import documents, schemas, service
from api.cases.models import CaseAttachment, CaseKind, CaseState, Department
from api.db import CommitFirstRoute, SessionDep
from api.errors import AppError, Unprocessable
from api.kit.clock import today_in
from api.object_store import object_store
from api.photos import service as photo_service
from api.photos import transfer

router = APIRouter(prefix="/api/v1", tags=["cases"], route_class=CommitFirstRoute)

# A file name as shown and offered on download: no folders, no control characters.
FILENAME = r"^[^/\\\x00-\x1f]{1,200}$"


class ClientGone(AppError):
    status = 400
    code = "client_disconnected"
    title_zh = "连接中断，上传未完成"
    title_en = "The connection dropped before the file was complete"


@router.get(
    "/cases", response_model=list[schemas.CasePublic], summary="Cases (案件): referrals and escalations"
)
def list_cases(
    user: CasesReader,
    session: SessionDep,
    settings: SettingsDep,
    state: Annotated[list[CaseState] | None, Query()] = None,
    kind: Annotated[list[CaseKind] | None, Query()] = None,
    routed_to: Department | None = None,
    borrower_id: uuid.UUID | None = None,
    mine: Annotated[bool | None, Query(description="Owned or under review by me.")] = None,
    open: Annotated[bool | None, Query(description="Not yet approved, rejected or withdrawn.")] = None,
) -> list[schemas.CasePublic]:
    """By due date. Managers see their borrowers' cases; reviewers their branch's; risk officers the branch's
    cases routed to risk; compliance officers those routed to legal and compliance. A draft is its owner's
    alone. A system reads them with the scope cases:read (its branches; never a draft)."""
    where = service.CaseFilter(
        state=state, kind=kind, routed_to=routed_to, borrower_id=borrower_id, mine=mine, open=open
    )
    today = today_in(settings.timezone)
    return [
        service.public(session, case, user=user, today=today)
        for case in service.list_cases(session, user=user, where=where)
    ]


@router.put(
    "/cases/{case_id}",
    response_model=schemas.CaseDetail,
    summary="Open a case as a draft, or change the draft",
    responses={
        200: {"description": "The draft was changed (or sent again as it was).", "model": schemas.CaseDetail}
    },
    status_code=201,
)
def put_case(
    case_id: uuid.UUID, body: schemas.CaseDraft, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> JSONResponse:
    """The id is the client's, so a retried request opens one case. An extension names the facility and the
    new maturity, a restructuring the facility and the repayment plan, an escalation where it goes (risk,
    legal or compliance). Supporting visits and figures must be the borrower's."""
    today = today_in(settings.timezone)
    case, created = service.put_draft(session, user=user, today=today, case_id=case_id, data=body)
    answer = service.detail(session, case, user=user, today=today)
    return JSONResponse(answer.model_dump(mode="json"), status_code=201 if created else 200)


@router.get("/cases/{case_id}", response_model=schemas.CaseDetail, summary="A case with its timeline")
def get_case(
    case_id: uuid.UUID, user: CasesReader, session: SessionDep, settings: SettingsDep
) -> schemas.CaseDetail:
    case = service.get_case_for(session, user=user, case_id=case_id)
    return service.detail(session, case, user=user, today=today_in(settings.timezone))


@router.post("/cases/{case_id}/actions", response_model=schemas.CaseDetail, summary="Move a case on")
def act(
    case_id: uuid.UUID,
    body: schemas.CaseAction,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> schemas.CaseDetail:
    """draft → submitted → under review → approved / rejected, or withdrawn by its owner before a decision.
    Who may do what is in the case's `can`; anything else answers 403 (not yours to do) or 409 (not now)."""
    case = service.get_case_for(session, user=user, case_id=case_id)
    service.act(session, user=user, case=case, data=body)
    return service.detail(session, case, user=user, today=today_in(settings.timezone))


@router.post(
    "/cases/{case_id}/comments", response_model=schemas.CaseDetail, status_code=201, summary="Comment"
)
def comment(
    case_id: uuid.UUID,
    body: schemas.CaseCommentIn,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> schemas.CaseDetail:
    case = service.get_case_for(session, user=user, case_id=case_id)
    service.comment(session, case=case, user=user, body=body.body)
    return service.detail(session, case, user=user, today=today_in(settings.timezone))


@router.put(
    "/cases/{case_id}/attachments/{attachment_id}",
    response_model=schemas.CaseAttachmentPublic,
    status_code=201,
    summary="Attach a supporting document (PDF or image)",
    responses={
        200: {"description": "Sent again: the attachment kept.", "model": schemas.CaseAttachmentPublic}
    },
)
async def put_attachment(
    case_id: uuid.UUID,
    attachment_id: uuid.UUID,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    filename: Annotated[str, Query(pattern=FILENAME, description="The name shown and offered on download.")],
    sha256: Annotated[str, Query(pattern="^[0-9a-fA-F]{64}$", description="Hex SHA-256 of the file.")],
    content_type: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """The body is the file. The same id with the same SHA-256 answers 200 with the kept attachment; a
    file that is not what it claims, damaged, encrypted or carrying scripts is refused and nothing is kept."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type not in documents.MEDIA_TYPES:
        raise documents.AttachmentRejected(
            f"Send the file with its Content-Type, one of {', '.join(documents.MEDIA_TYPES)}.",
            detail_zh=f"请以正确的 Content-Type 上传文件（{', '.join(documents.MEDIA_TYPES)}）。",
        )
    sha256 = sha256.lower()
    case = await run_in_threadpool(service.get_case_for, session, user=user, case_id=case_id)
    already = await run_in_threadpool(
        service.check_new_attachment,
        session,
        user=user,
        case=case,
        attachment_id=attachment_id,
        sha256=sha256,
    )
    if already is not None:
        return _attachment_answer(already, 200)
    await run_in_threadpool(session.commit)  # no lock held while the file streams in
    temp = photo_service.photo_store(settings).temp_path()
    try:
        size, digest = await transfer.receive_whole(
            temp, request.stream(), max_bytes=settings.max_attachment_bytes, too_large=documents.too_large
        )
    except ClientDisconnect as exc:
        raise ClientGone() from exc
    if digest != sha256:
        temp.unlink(missing_ok=True)
        raise Unprocessable(
            "The file's SHA-256 is not the one announced: it was damaged on the way. Send it again.",
            detail_zh="文件的 SHA-256 与声明不符：传输中已损坏，请重新上传。",
        )
    case = await run_in_threadpool(service.get_case_for, session, user=user, case_id=case_id)
    attachment = await run_in_threadpool(
        service.accept_attachment,
        session,
        settings=settings,
        user=user,
        case=case,
        attachment_id=attachment_id,
        filename=filename.strip(),
        media_type=media_type,
        path=temp,
        sha256=digest,
        size=size,
    )
    return _attachment_answer(attachment, 201)


def _attachment_answer(attachment: CaseAttachment, status: int) -> JSONResponse:
    shown = schemas.CaseAttachmentPublic.model_validate(attachment).model_copy(
        update={"url": service.attachment_url(attachment)}
    )
    return JSONResponse(shown.model_dump(mode="json"), status_code=status)


@router.get(
    "/cases/{case_id}/attachments/{attachment_id}",
    summary="Download an attachment",
    response_class=FileResponse,
)
def get_attachment(
    case_id: uuid.UUID,
    attachment_id: uuid.UUID,
    user: CasesReader,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    case = service.get_case_for(session, user=user, case_id=case_id)
    attachment = service.attachment_for(session, case=case, attachment_id=attachment_id)
    return object_store(settings, area="state").response(
        documents.key_of(attachment.sha256),
        media_type=attachment.media_type,
        filename=attachment.filename,
        range_header=None,
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "Cache-Control": "private, max-age=31536000, immutable",
            "ETag": f'"{attachment.sha256}"',
        },
    )
