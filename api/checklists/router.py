"""Checklist templates: everyone reads; admins draft, publish and retire."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from api.auth.dependencies import AdminUser, CurrentUser
from api.checklists import service
from api.checklists.schemas import (
    DefinitionSummary,
    DraftUpdate,
    TemplateCreate,
    TemplatePublic,
    TemplateVersionPublic,
)
from api.db import CommitFirstRoute, SessionDep

router = APIRouter(prefix="/api/v1", tags=["checklists"], route_class=CommitFirstRoute)


@router.get("/templates", response_model=list[TemplatePublic], summary="Checklist templates (检查清单模板)")
def list_templates(user: CurrentUser, session: SessionDep) -> list[TemplatePublic]:
    return [service.template_public(session, t) for t in service.list_templates(session)]


@router.post("/templates", response_model=TemplateVersionPublic, status_code=201, summary="Create a template")
def create_template(body: TemplateCreate, admin: AdminUser, session: SessionDep) -> TemplateVersionPublic:
    """Creates the template with version 1 as a draft."""
    return service.version_public(session, service.create_template(session, data=body))


@router.post(
    "/template-checks",
    response_model=DefinitionSummary,
    summary="Check a definition without saving it",
    description="The checks of saving and publishing (keys, conditions on earlier items, repeats, each rule's "
    "item type and parameters), for the template builder as the admin types: 200 with a summary, or 422 with "
    "every problem and where it is (`errors[].field`, e.g. `definition.sections.1.items.2`).",
)
def check_definition(body: DraftUpdate, admin: AdminUser) -> DefinitionSummary:
    items = body.definition.items()
    return DefinitionSummary(
        sections=len(body.definition.sections),
        items=len(items),
        repeated_sections=sum(1 for section in body.definition.sections if section.repeat),
        with_conditions=sum(1 for item in items if item.visible_if),
        with_rules=sum(1 for item in items if item.rule),
    )


@router.get("/templates/{template_id}", response_model=TemplatePublic, summary="A template and its versions")
def get_template(template_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> TemplatePublic:
    return service.template_public(session, service.get_template(session, template_id))


@router.put("/templates/{template_id}/draft", response_model=TemplateVersionPublic, summary="Edit the draft")
def save_draft(
    template_id: uuid.UUID, body: DraftUpdate, admin: AdminUser, session: SessionDep
) -> TemplateVersionPublic:
    """Edits the open draft; when the newest version is published or retired, starts a new draft version."""
    version = service.save_draft(session, template_id=template_id, definition=body.definition)
    return service.version_public(session, version)


@router.get(
    "/template-versions/{version_id}", response_model=TemplateVersionPublic, summary="A template version"
)
def get_version(version_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> TemplateVersionPublic:
    return service.version_public(session, service.get_version(session, version_id))


@router.post(
    "/template-versions/{version_id}/publish", response_model=TemplateVersionPublic, summary="Publish"
)
def publish(version_id: uuid.UUID, admin: AdminUser, session: SessionDep) -> TemplateVersionPublic:
    return service.version_public(session, service.publish(session, version_id=version_id))


@router.post("/template-versions/{version_id}/retire", response_model=TemplateVersionPublic, summary="Retire")
def retire(version_id: uuid.UUID, admin: AdminUser, session: SessionDep) -> TemplateVersionPublic:
    return service.version_public(session, service.retire(session, version_id=version_id))
