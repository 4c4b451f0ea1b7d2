"""Loaders that enforce scope: a visit outside the caller's scope is a 404, decided here only."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from api.auth.dependencies import CurrentUser
from api.db import SessionDep
from api.visits import service
from api.visits.models import Visit


def valid_visit(visit_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Visit:
    return service.get_visit_for(session, user=user, visit_id=visit_id)


VisitDep = Annotated[Visit, Depends(valid_visit)]
