"""Template life cycle: draft → published (immutable) → retired.

Editing a published version drafts a new version; visits keep the version they were issued with.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session
from sqlmodel import col, select

from api.checklists.models import ChecklistTemplate, TemplateVersion, VersionStatus
from api.checklists.schemas import (
    Definition,
    TemplateCreate,
    TemplatePublic,
    TemplateVersionPublic,
    VersionSummary,
)
from api.db import utcnow
from api.errors import Conflict, InvalidTransition, NotFound
from api.portfolio.models import SubjectType


class TemplateCodeTaken(Conflict):
    code = "template_code_taken"
    title_zh = "模板代码已存在"
    title_en = "Template code already exists"


def _not_found() -> NotFound:
    return NotFound("No such checklist template.", detail_zh="检查清单模板不存在。")


def get_template(session: Session, template_id: uuid.UUID) -> ChecklistTemplate:
    template = session.get(ChecklistTemplate, template_id)
    if template is None:
        raise _not_found()
    return template


def get_version(session: Session, version_id: uuid.UUID) -> TemplateVersion:
    version = session.get(TemplateVersion, version_id)
    if version is None:
        raise NotFound("No such template version.", detail_zh="模板版本不存在。")
    return version


def create_template(session: Session, *, data: TemplateCreate) -> TemplateVersion:
    if session.scalar(select(ChecklistTemplate.id).where(ChecklistTemplate.code == data.code)):
        raise TemplateCodeTaken(f"Template {data.code!r} exists.", detail_zh=f"模板 {data.code!r} 已存在。")
    template = ChecklistTemplate(
        code=data.code, subject_type=data.subject_type, name_zh=data.name_zh, name_en=data.name_en
    )
    session.add(template)
    session.flush()
    version = TemplateVersion(
        template_id=template.id,
        version=1,
        status=VersionStatus.draft,
        definition=data.definition.model_dump(mode="json"),
    )
    session.add(version)
    session.flush()
    return version


def save_draft(session: Session, *, template_id: uuid.UUID, definition: Definition) -> TemplateVersion:
    """Update the open draft, or start a new draft version after the newest one."""
    get_template(session, template_id)
    newest = session.scalar(
        select(TemplateVersion)
        .where(TemplateVersion.template_id == template_id)
        .order_by(col(TemplateVersion.version).desc())
        .limit(1)
    )
    if newest is not None and newest.status == VersionStatus.draft:
        newest.definition = definition.model_dump(mode="json")
        session.flush()
        return newest
    version = TemplateVersion(
        template_id=template_id,
        version=(newest.version if newest else 0) + 1,
        status=VersionStatus.draft,
        definition=definition.model_dump(mode="json"),
    )
    session.add(version)
    session.flush()
    return version


def publish(session: Session, *, version_id: uuid.UUID) -> TemplateVersion:
    version = get_version(session, version_id)
    if version.status != VersionStatus.draft:
        raise InvalidTransition(
            f"Only a draft can be published; this version is {version.status.value}.",
            detail_zh="只有草稿可以发布。",
        )
    Definition.model_validate(version.definition)
    version.status = VersionStatus.published
    version.published_at = utcnow()
    session.flush()
    return version


def retire(session: Session, *, version_id: uuid.UUID) -> TemplateVersion:
    version = get_version(session, version_id)
    if version.status != VersionStatus.published:
        raise InvalidTransition(
            "Only a published version can be retired.", detail_zh="只有已发布的版本可以停用。"
        )
    version.status = VersionStatus.retired
    version.retired_at = utcnow()
    session.flush()
    return version


_PUBLISHED_DEFINITIONS: dict[uuid.UUID, Definition] = {}


def pinned_definition(session: Session, *, version_id: uuid.UUID) -> Definition:
    """The checklist a visit pinned. Published versions never change, so each process parses one once."""
    cached = _PUBLISHED_DEFINITIONS.get(version_id)
    if cached is not None:
        return cached
    version = get_version(session, version_id)
    definition = Definition.model_validate(version.definition)
    if version.status != VersionStatus.draft and len(_PUBLISHED_DEFINITIONS) < 10_000:
        _PUBLISHED_DEFINITIONS[version_id] = definition
    return definition


def current_version_for(session: Session, *, subject_type: SubjectType) -> TemplateVersion | None:
    """The newest published version of the first template for this subject type (what scheduling issues)."""
    return session.scalar(
        select(TemplateVersion)
        .join(ChecklistTemplate, col(ChecklistTemplate.id) == col(TemplateVersion.template_id))
        .where(
            ChecklistTemplate.subject_type == subject_type, TemplateVersion.status == VersionStatus.published
        )
        .order_by(ChecklistTemplate.code, col(TemplateVersion.version).desc())
        .limit(1)
    )


def version_public(session: Session, version: TemplateVersion) -> TemplateVersionPublic:
    template = get_template(session, version.template_id)
    return TemplateVersionPublic(
        id=version.id,
        version=version.version,
        status=version.status,
        created_at=version.created_at,
        published_at=version.published_at,
        retired_at=version.retired_at,
        template_id=template.id,
        code=template.code,
        subject_type=template.subject_type,
        name_zh=template.name_zh,
        name_en=template.name_en,
        definition=Definition.model_validate(version.definition),
    )


def template_public(session: Session, template: ChecklistTemplate) -> TemplatePublic:
    versions = session.scalars(
        select(TemplateVersion)
        .where(TemplateVersion.template_id == template.id)
        .order_by(col(TemplateVersion.version))
    )
    return TemplatePublic(
        id=template.id,
        code=template.code,
        subject_type=template.subject_type,
        name_zh=template.name_zh,
        name_en=template.name_en,
        versions=[VersionSummary.model_validate(v) for v in versions],
    )


def list_templates(session: Session) -> list[ChecklistTemplate]:
    return list(session.scalars(select(ChecklistTemplate).order_by(ChecklistTemplate.code)))
