"""The risk dashboard endpoint."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth.dependencies import OversightUser, SettingsDep
from api.dashboard import schemas, service
from api.db import CommitFirstRoute, SessionDep

router = APIRouter(prefix="/api/v1", tags=["dashboard"], route_class=CommitFirstRoute)


@router.get(
    "/dashboard",
    response_model=schemas.Dashboard,
    summary="The risk dashboard (风险看板): visits, tasks, signals, findings, sites",
    description="For reviewers (their branch) and admins (the bank, or `branch_id`), filtered by manager, risk "
    "grade and period (this month or quarter in the bank's zone, or `date_from`/`date_to`). `links` gives the "
    "list behind each figure with the same filters.",
)
def dashboard(
    user: OversightUser,
    session: SessionDep,
    settings: SettingsDep,
    where: Annotated[schemas.DashboardFilter, Query()],
) -> schemas.Dashboard:
    return service.dashboard(session, user=user, settings=settings, where=where)
