"""The inspection report as PDF: one visit, or a batch (a branch and a period)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response

from api.audit import service as audit
from api.auth.dependencies import ExportsReader, SettingsDep, VisitsReader, granted
from api.auth.models import Role, User
from api.db import CommitFirstRoute, SessionDep, utcnow
from api.errors import Forbidden, prefers_english
from api.integrations.models import Scope
from api.reports import service
from api.visits.dependencies import ReadableVisitDep, VisitFilterDep

router = APIRouter(prefix="/api/v1", tags=["reports"], route_class=CommitFirstRoute)

PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}
}
Language = Annotated[
    Literal["zh", "en"] | None,
    Query(description="zh (贷后检查报告) or en; without it, Chinese unless Accept-Language prefers English."),
]


def seal_audit(request: Request) -> None:
    # Listed first, so the seal commits before the request's own snapshot is taken: the report prints the
    # newest position of the chain.
    audit.seal(request.app.state.engine, settings=request.app.state.settings)


Sealed = Annotated[None, Depends(seal_audit)]


def _language(request: Request, lang: str | None) -> str:
    return lang or ("en" if prefers_english(request) else "zh")


def _photos_too(user: User, session: SessionDep) -> None:
    """A report shows the photos: a system needs photos:read besides the scope of the endpoint."""
    if user.role == Role.service and not granted(session, Scope.photos_read):
        raise Forbidden(
            "A report holds photos: this needs photos:read too.",
            detail_zh="报告含照片，还需要 photos:read 权限。",
        )


def _pdf(document: bytes, name_en: str, name_zh: str) -> Response:
    disposition = f"attachment; filename=\"{name_en}\"; filename*=UTF-8''{quote(name_zh)}"
    return Response(document, media_type="application/pdf", headers={"Content-Disposition": disposition})


@router.get(
    "/visits/{visit_id}/report",
    response_class=Response,
    responses=PDF,
    summary="The inspection report (贷后检查报告) as PDF",
)
def visit_report(
    _sealed: Sealed,
    visit: ReadableVisitDep,
    request: Request,
    user: VisitsReader,
    session: SessionDep,
    settings: SettingsDep,
    lang: Language = None,
) -> Response:
    """Borrower, facility, the collateral or project with its declared data, the check-in on a plan of the
    site, declared against observed, every photo with its time, place and item, the findings and their
    tasks, the reviewer's decision and comments, and the audit chain position that seals the record.
    The same record gives the same bytes, except the generation time in the footer."""
    _photos_too(user, session)
    language = _language(request, lang)
    part = service.visit_report(session, visit=visit, settings=settings, lang=language)
    stamp = utcnow()
    document = service.pdf(service.html([part], lang=language, generated_at=part["when"](stamp)))
    day = visit.due_on.isoformat()
    return _pdf(
        document,
        f"inspection-report-{visit.id}.pdf",
        f"贷后检查报告-{part['record'].borrower.name}-{day}.pdf",
    )


@router.get(
    "/reports/visits",
    response_class=Response,
    responses=PDF,
    summary="Inspection reports of many visits in one PDF (a branch and a period)",
)
def batch_report(
    _sealed: Sealed,
    request: Request,
    user: ExportsReader,
    session: SessionDep,
    settings: SettingsDep,
    where: VisitFilterDep,
    lang: Language = None,
) -> Response:
    """The visit list's filters and scope, e.g. `branch_id` with `due_from`/`due_to` and `status=approved`;
    one report per visit, each starting on a new page, oldest due first. At most 50 visits (422 beyond)."""
    _photos_too(user, session)
    language = _language(request, lang)
    visits = service.batch_visits(session, user=user, where=where, settings=settings)
    parts = [service.visit_report(session, visit=visit, settings=settings, lang=language) for visit in visits]
    stamp = utcnow()
    when = parts[0]["when"] if parts else (lambda moment: moment.isoformat())
    document = service.pdf(service.html(parts, lang=language, generated_at=when(stamp)))
    day = stamp.strftime("%Y%m%d")
    return _pdf(document, f"inspection-reports-{day}.pdf", f"贷后检查报告-{day}.pdf")
