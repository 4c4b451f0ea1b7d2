"""Loaders that enforce scope: a visit outside the caller's scope is a 404, decided here only."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Query

from api.auth.dependencies import CurrentUser, VisitsReader
from api.db import SessionDep
from api.kit.dates import IsoDate, IsoDateTime
from api.visits import service
from api.visits.models import Visit, VisitStatus


def valid_visit(visit_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Visit:
    return service.get_visit_for(session, user=user, visit_id=visit_id)


VisitDep = Annotated[Visit, Depends(valid_visit)]


def readable_visit(visit_id: uuid.UUID, user: VisitsReader, session: SessionDep) -> Visit:
    """For reading only: also a service account with visits:read, within its branches."""
    return service.get_visit_for(session, user=user, visit_id=visit_id)


ReadableVisitDep = Annotated[Visit, Depends(readable_visit)]


def visit_filter(
    status: Annotated[list[VisitStatus] | None, Query(description="Repeat for several.")] = None,
    branch_id: uuid.UUID | None = None,
    manager_id: uuid.UUID | None = None,
    subject_id: uuid.UUID | None = None,
    borrower_id: uuid.UUID | None = None,
    due_from: IsoDate | None = None,
    due_to: IsoDate | None = None,
    updated_since: Annotated[
        IsoDateTime | None,
        Query(description="RFC 3339, e.g. 2026-11-30T08:00:00+08:00 (without an offset it is read as UTC)."),
    ] = None,
    overdue: bool | None = None,
) -> service.VisitFilter:
    """The visit list's filters, the same for the list and the exports."""
    return service.VisitFilter(
        status=status,
        branch_id=branch_id,
        manager_id=manager_id,
        subject_id=subject_id,
        borrower_id=borrower_id,
        due_from=due_from,
        due_to=due_to,
        updated_since=updated_since,
        overdue=overdue,
    )


VisitFilterDep = Annotated[service.VisitFilter, Depends(visit_filter)]
