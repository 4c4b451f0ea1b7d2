"""Visit endpoints: list and read (scoped), issue, reassign, cancel, start, and run the scheduler."""

from __future__ import annotations

from fastapi import APIRouter, Query

from api.auth.dependencies import AdminUser, CurrentUser, SettingsDep, StaffUser, VisitsReader
from api.auth.models import Role
from api.db import CommitFirstRoute, SessionDep
from api.errors import Forbidden
from api.kit.cursor import Page
from api.visits import record, schemas, service
from api.visits.dependencies import ReadableVisitDep, VisitDep, VisitFilterDep
from api.visits.record import VisitRecord

router = APIRouter(prefix="/api/v1", tags=["visits"], route_class=CommitFirstRoute)


@router.get(
    "/visits", response_model=Page[schemas.VisitSummary], summary="List visits (scoped to the caller)"
)
def list_visits(
    user: VisitsReader,
    session: SessionDep,
    settings: SettingsDep,
    where: VisitFilterDep,
    cursor: str | None = Query(None, max_length=500),
    limit: int = Query(50, ge=1, le=500),
) -> Page[schemas.VisitSummary]:
    """Ordered by due date, then id. Managers see their own visits, reviewers their branch, admins all."""
    items, next_cursor = service.list_visits(
        session, user=user, settings=settings, where=where, cursor=cursor, limit=limit
    )
    return Page(items=items, next_cursor=next_cursor)


@router.post("/visits", response_model=schemas.VisitDetail, status_code=201, summary="Issue a visit by hand")
def create_visit(
    body: schemas.VisitCreate, user: StaffUser, session: SessionDep, settings: SettingsDep
) -> schemas.VisitDetail:
    visit = service.create_visit(session, user=user, data=body)
    return service.detail(session, visit=visit, settings=settings)


@router.get("/visits/{visit_id}", response_model=VisitRecord, summary="The whole inspection record")
def get_visit(visit: ReadableVisitDep, session: SessionDep, settings: SettingsDep) -> VisitRecord:
    """With the borrower, facility, subject and its declared site, the latest declared data, the pinned
    checklist version, and what came back: submissions, photo links, discrepancies, tasks and reviews."""
    return record.build(session, visit=visit, settings=settings)


@router.post(
    "/visits/{visit_id}/reassign", response_model=schemas.VisitDetail, summary="Reassign to a manager"
)
def reassign(
    visit: VisitDep, body: schemas.Reassign, user: StaffUser, session: SessionDep, settings: SettingsDep
) -> schemas.VisitDetail:
    service.reassign(session, visit=visit, manager_id=body.manager_id)
    return service.detail(session, visit=visit, settings=settings)


@router.post("/visits/{visit_id}/cancel", response_model=schemas.VisitDetail, summary="Cancel (admin)")
def cancel(
    visit: VisitDep, body: schemas.Cancel, user: AdminUser, session: SessionDep, settings: SettingsDep
) -> schemas.VisitDetail:
    service.cancel(session, visit=visit, reason=body.reason)
    return service.detail(session, visit=visit, settings=settings)


@router.post("/visits/{visit_id}/start", response_model=schemas.VisitDetail, summary="Open the visit on site")
def start(
    visit: VisitDep, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> schemas.VisitDetail:
    """Moves a scheduled visit to in_progress. Idempotent: calling it again changes nothing."""
    if user.role != Role.manager or visit.manager_id != user.id:
        raise Forbidden(
            "Only the assigned manager starts a visit.", detail_zh="只有被指派的客户经理可以开始检查。"
        )
    service.start(session, visit=visit)
    return service.detail(session, visit=visit, settings=settings)


@router.post(
    "/schedule", response_model=schemas.ScheduleReport, summary="Issue due visits by risk grade (admin)"
)
def run_schedule(admin: AdminUser, session: SessionDep, settings: SettingsDep) -> schemas.ScheduleReport:
    """Idempotent: running it twice issues nothing new."""
    return service.schedule(session, settings=settings)
