"""The borrower contact log (沟通记录)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.auth.dependencies import CurrentUser
from api.contacts import schemas, service
from api.db import CommitFirstRoute, SessionDep

router = APIRouter(prefix="/api/v1", tags=["contacts"], route_class=CommitFirstRoute)


@router.put(
    "/contacts/{contact_id}",
    response_model=schemas.ContactPublic,
    status_code=201,
    summary="Record a meeting, call or message with the borrower's people",
    responses={
        200: {"description": "Already recorded with this content (a retry).", "model": schemas.ContactPublic}
    },
)
def put_contact(
    contact_id: uuid.UUID, body: schemas.ContactIn, user: CurrentUser, session: SessionDep
) -> JSONResponse:
    """The id is the phone's: the same contact sent again answers 200; with other content 409. Each
    commitment becomes a follow-up task, due on its date, for the facility's manager."""
    contact, created = service.record(session, user=user, contact_id=contact_id, body=body)
    return JSONResponse(
        service.public(session, contact).model_dump(mode="json"), status_code=201 if created else 200
    )


@router.get("/contacts", response_model=list[schemas.ContactPublic], summary="The contact log, newest first")
def list_contacts(
    user: CurrentUser,
    session: SessionDep,
    borrower_id: uuid.UUID | None = None,
    visit_id: uuid.UUID | None = None,
) -> list[schemas.ContactPublic]:
    return [
        service.public(session, c)
        for c in service.list_contacts(session, user=user, borrower_id=borrower_id, visit_id=visit_id)
    ]


@router.get("/contacts/{contact_id}", response_model=schemas.ContactPublic, summary="One contact")
def get_contact(contact_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> schemas.ContactPublic:
    return service.public(session, service.get_contact_for(session, user=user, contact_id=contact_id))
