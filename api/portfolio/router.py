"""Portfolio endpoints: admins create and import; everyone reads within their scope."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, Request
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from api.auth.dependencies import AdminUser, PortfolioReader
from api.db import CommitFirstRoute, SessionDep, utcnow
from api.errors import AppError, NotFound
from api.kit import offload
from api.kit.cursor import Page
from api.kit.pagination import paginate, text_key, uuid_key
from api.monitoring import service as monitoring
from api.portfolio import imports, schemas, service
from api.portfolio.exceptions import ImportRejected
from api.portfolio.models import Borrower, Collateral, Declaration, Facility, Project

router = APIRouter(prefix="/api/v1", tags=["portfolio"], route_class=CommitFirstRoute)

MAX_IMPORT_BYTES = 20 * 1024 * 1024


class ImportTooLarge(AppError):
    status = 413
    code = "import_too_large"
    title_zh = "导入文件过大"
    title_en = "Import file too large"


@router.post(
    "/borrowers", response_model=schemas.BorrowerPublic, status_code=201, summary="Create a borrower"
)
def create_borrower(body: schemas.BorrowerCreate, admin: AdminUser, session: SessionDep) -> Borrower:
    return service.create_borrower(session, data=body)


@router.get("/borrowers", response_model=Page[schemas.BorrowerPublic], summary="Borrowers (借款企业)")
def list_borrowers(
    user: PortfolioReader,
    session: SessionDep,
    cursor: str | None = Query(None, max_length=500),
    limit: int = Query(50, ge=1, le=500),
) -> Page[schemas.BorrowerPublic]:
    query = service.scope_borrowers(select(Borrower), user)
    rows, next_cursor = paginate(
        session,
        query,
        kind="borrowers",
        keys=[text_key(col(Borrower.name)), uuid_key(col(Borrower.id))],
        cursor=cursor,
        limit=limit,
    )
    return Page(items=[schemas.BorrowerPublic.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/borrowers/{borrower_id}", response_model=schemas.BorrowerPublic, summary="A borrower")
def get_borrower(borrower_id: uuid.UUID, user: PortfolioReader, session: SessionDep) -> Borrower:
    return service.visible_borrower(session, user=user, borrower_id=borrower_id)


@router.post(
    "/facilities", response_model=schemas.FacilityPublic, status_code=201, summary="Create a facility"
)
def create_facility(body: schemas.FacilityCreate, admin: AdminUser, session: SessionDep) -> Facility:
    return service.create_facility(session, data=body)


@router.get("/facilities", response_model=Page[schemas.FacilityPublic], summary="Facilities (贷款)")
def list_facilities(
    user: PortfolioReader,
    session: SessionDep,
    cursor: str | None = Query(None, max_length=500),
    limit: int = Query(50, ge=1, le=500),
) -> Page[schemas.FacilityPublic]:
    query = service.scope_facilities(select(Facility), user)
    rows, next_cursor = paginate(
        session,
        query,
        kind="facilities",
        keys=[text_key(col(Facility.reference))],
        cursor=cursor,
        limit=limit,
    )
    return Page(items=[schemas.FacilityPublic.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/facilities/{facility_id}", response_model=schemas.FacilityPublic, summary="A facility")
def get_facility(facility_id: uuid.UUID, user: PortfolioReader, session: SessionDep) -> Facility:
    return service.visible_facility(session, user=user, facility_id=facility_id)


@router.get(
    "/facilities/{facility_id}/collateral",
    response_model=list[schemas.CollateralPublic],
    summary="Its collateral",
)
def facility_collateral(
    facility_id: uuid.UUID, user: PortfolioReader, session: SessionDep
) -> list[schemas.CollateralPublic]:
    facility = service.visible_facility(session, user=user, facility_id=facility_id)
    rows = session.scalars(
        select(Collateral).where(Collateral.facility_id == facility.id).order_by(Collateral.reference)
    )
    return [service.collateral_public(row) for row in rows]


@router.get(
    "/facilities/{facility_id}/projects", response_model=list[schemas.ProjectPublic], summary="Its projects"
)
def facility_projects(
    facility_id: uuid.UUID, user: PortfolioReader, session: SessionDep
) -> list[schemas.ProjectPublic]:
    facility = service.visible_facility(session, user=user, facility_id=facility_id)
    rows = session.scalars(
        select(Project).where(Project.facility_id == facility.id).order_by(Project.reference)
    )
    return [service.project_public(session, row) for row in rows]


@router.get(
    "/declarations",
    response_model=Page[schemas.DeclarationPublic],
    summary="Declared figures of a subject (history)",
)
def list_declarations(
    subject_id: uuid.UUID,
    user: PortfolioReader,
    session: SessionDep,
    cursor: str | None = Query(None, max_length=500),
    limit: int = Query(100, ge=1, le=500),
) -> Page[schemas.DeclarationPublic]:
    if not service.subject_visible(session, user=user, subject_id=subject_id):
        raise NotFound("No such subject.", detail_zh="申报对象不存在。")
    query = select(Declaration).where(Declaration.subject_id == subject_id)
    rows, next_cursor = paginate(
        session, query, kind="declarations", keys=[uuid_key(col(Declaration.id))], cursor=cursor, limit=limit
    )
    return Page(items=[schemas.DeclarationPublic.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.post(
    "/collateral", response_model=schemas.CollateralPublic, status_code=201, summary="Create collateral"
)
def create_collateral(
    body: schemas.CollateralCreate, admin: AdminUser, session: SessionDep
) -> schemas.CollateralPublic:
    return service.collateral_public(service.create_collateral(session, data=body))


@router.post("/projects", response_model=schemas.ProjectPublic, status_code=201, summary="Create a project")
def create_project(
    body: schemas.ProjectCreate, admin: AdminUser, session: SessionDep
) -> schemas.ProjectPublic:
    return service.project_public(session, service.create_project(session, data=body))


@router.post(
    "/milestones", response_model=schemas.MilestonePublic, status_code=201, summary="Add a milestone"
)
def create_milestone(
    body: schemas.MilestoneCreate, admin: AdminUser, session: SessionDep
) -> schemas.MilestonePublic:
    return schemas.MilestonePublic.model_validate(service.create_milestone(session, data=body))


@router.post(
    "/declarations", response_model=schemas.DeclarationPublic, status_code=201, summary="Record a declaration"
)
def create_declaration(body: schemas.DeclarationCreate, admin: AdminUser, session: SessionDep) -> Declaration:
    return service.create_declaration(session, data=body)


@router.post(
    "/imports/{kind}",
    response_model=schemas.ImportReport,
    summary="Import a CSV or Excel file (borrowers, facilities, collateral, projects, milestones, declarations, "
    "figures, project_figures, repayments)",
    openapi_extra={
        "requestBody": {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}
                },
            },
            "required": True,
        }
    },
)
async def import_csv(
    kind: str, request: Request, admin: AdminUser, session: SessionDep, dry_run: bool = False
) -> schemas.ImportReport:
    """Send the file as the raw body (`Content-Type: text/csv`, or the Excel type for an .xlsx workbook, whose
    first sheet is read). Every row is checked; with any bad row
    nothing is imported and the answer (422) lists each bad row with its line number and reason."""
    # The import writes on its own connection, in a process of its own (kit/offload.py): end the
    # transaction the sign-in check opened, so that no write lock is held while the file arrives.
    await run_in_threadpool(session.commit)
    raw = bytearray()
    async for chunk in request.stream():
        raw.extend(chunk)
        if len(raw) > MAX_IMPORT_BYTES:
            raise ImportTooLarge("The file is larger than 20 MB.", detail_zh="文件超过 20 MB。")
    imports.kind_of(kind)
    text = imports.decode_csv(bytes(raw))
    try:
        report = await offload.run(
            imports.run, gone=request.is_disconnected, database_url=request.app.state.settings.database_url,
            kind=kind, text=text, actor_id=admin.id, dry_run=dry_run, now=utcnow(),
        )  # fmt: skip
    except offload.Gone:
        raise imports.ClientGone() from None
    if report.errors:
        raise ImportRejected(extra={"report": report.model_dump(mode="json")})
    if kind in imports.MONITORING_KINDS and not dry_run:
        # New figures or repayment status: the borrowers' early-warning indicators, at once.
        await run_in_threadpool(_evaluate_imported, request, kind, text)
    return report


def _evaluate_imported(request: Request, kind: str, text: str) -> None:
    settings = request.app.state.settings
    with request.app.state.sessionmaker() as session:
        monitoring.evaluate_import(session, settings=settings, kind=kind, text=text)
        session.commit()
