"""The inspection report, made from the visit record the API serves (visits.record) through an HTML
template and WeasyPrint.

Deterministic: the same record gives the same bytes, except the generation time printed in the footer (and
passed in, so tests can fix it). Photos are embedded from the store, stamped like a watermark camera's at
480 px (about 280 dpi in the report's grid; photos.watermark); the template reaches nothing else — WeasyPrint's fetcher is given
`data:` URLs only, so no text in a record can make the server fetch a URL.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from sqlalchemy.orm import Session
from sqlmodel import col, select

from api.audit.models import AuditEvent
from api.auth.models import User
from api.checklists import conditions
from api.checklists.repeats import expand
from api.checklists.schemas import Item
from api.config import Settings
from api.errors import AppError, Unprocessable
from api.kit.geo import haversine_m
from api.photos import service as photo_service
from api.photos.models import Photo
from api.visits import service as visit_service
from api.visits.models import Visit
from api.visits.record import VisitRecord
from api.visits.service import VisitFilter

TEMPLATES = Path(__file__).resolve().parent / "templates"

WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "贷后现场检查报告", "borrower": "借款企业", "credit_code": "统一社会信用代码",
        "address": "地址", "contact": "联系人", "facility": "贷款", "amount": "金额", "term": "期限",
        "risk_grade": "风险分类", "subject": "检查对象", "collateral": "押品", "project": "项目",
        "declared_site": "申报位置", "declared_value": "申报价值", "quantity": "数量", "identifiers": "标识",
        "visit": "检查任务", "due_on": "应完成日期", "status": "状态", "manager": "客户经理",
        "check_in": "现场签到", "accuracy": "精度", "distance": "距申报位置", "fixed_at": "定位时间",
        "no_check_in": "未签到", "map": "位置示意图", "site": "申报位置", "photo_points": "照片位置",
        "answers": "申报与现场核实", "item": "检查项", "declared": "申报", "observed": "现场",
        "note": "备注", "photos": "现场照片", "taken_at": "拍摄时间", "place": "拍摄位置",
        "not_ready": "照片处理中", "findings": "发现问题", "severity": "级别", "explanation": "说明",
        "task": "跟进任务", "no_findings": "未发现问题", "reviews": "复核意见", "decision": "结论",
        "comment": "意见", "no_reviews": "尚未复核", "audit": "审计链", "audit_position": "审计链位置",
        "audit_none": "尚未封存", "generated": "生成时间", "page": "第", "of": "页，共", "pages": "页",
        "notes": "现场记录", "submitted_at": "提交时间", "yes": "是", "no": "否", "approve": "通过",
        "return": "退回", "scale": "比例尺",
    },
    "en": {
        "title": "Post-loan Site Inspection Report", "borrower": "Borrower", "credit_code": "Credit code",
        "address": "Address", "contact": "Contact", "facility": "Facility", "amount": "Amount",
        "term": "Term", "risk_grade": "Risk grade", "subject": "Subject", "collateral": "Collateral",
        "project": "Project", "declared_site": "Declared site", "declared_value": "Declared value",
        "quantity": "Quantity", "identifiers": "Identifiers", "visit": "Visit", "due_on": "Due on",
        "status": "Status", "manager": "Relationship manager", "check_in": "Check-in",
        "accuracy": "accuracy", "distance": "from the declared site", "fixed_at": "Fixed at",
        "no_check_in": "No check-in", "map": "Positions", "site": "Declared site",
        "photo_points": "Photo positions", "answers": "Declared and observed", "item": "Item",
        "declared": "Declared", "observed": "Observed", "note": "Note", "photos": "Photos",
        "taken_at": "Taken", "place": "Place", "not_ready": "photo still processing",
        "findings": "Findings", "severity": "Severity", "explanation": "Explanation", "task": "Task",
        "no_findings": "No findings", "reviews": "Review", "decision": "Decision", "comment": "Comment",
        "no_reviews": "Not reviewed yet", "audit": "Audit chain", "audit_position": "Audit chain position",
        "audit_none": "not sealed yet", "generated": "Generated", "page": "Page", "of": "of", "pages": "",
        "notes": "Notes on site", "submitted_at": "Submitted", "yes": "yes", "no": "no",
        "approve": "approved", "return": "returned", "scale": "Scale",
    },
}  # fmt: skip


# The bank's words for the values a report shows (the API's enum values stay as they are).
NAMES: dict[str, dict[str, str]] = {
    "zh": {
        "normal": "正常", "special_mention": "关注", "substandard": "次级", "doubtful": "可疑", "loss": "损失",
        "scheduled": "待检查", "in_progress": "检查中", "submitted": "已提交", "approved": "已通过",
        "returned": "已退回", "cancelled": "已取消", "critical": "重大", "major": "较大", "minor": "一般",
        "open": "待处理", "resolved": "已解决", "waived": "已豁免", "real_estate": "房地产",
        "land_use_right": "土地使用权", "equipment": "机器设备", "vehicle": "车辆", "inventory": "存货",
        "receivable": "应收账款", "other": "其他", "project_finance": "项目贷款", "corporate_loan": "流动资金贷款",
    },
    "en": {
        "normal": "normal", "special_mention": "special mention", "substandard": "substandard",
        "doubtful": "doubtful", "loss": "loss", "scheduled": "scheduled", "in_progress": "in progress",
        "submitted": "submitted", "approved": "approved", "returned": "returned", "cancelled": "cancelled",
        "critical": "critical", "major": "major", "minor": "minor", "open": "open", "resolved": "resolved",
        "waived": "waived", "real_estate": "real estate", "land_use_right": "land-use right",
        "equipment": "equipment", "vehicle": "vehicle", "inventory": "inventory", "receivable": "receivable",
        "other": "other", "project_finance": "project finance", "corporate_loan": "corporate loan",
    },
}  # fmt: skip


@dataclass
class MapPoint:
    x: float
    y: float
    kind: str  # site, check_in, photo
    radius: float = 0.0


@dataclass
class SiteMap:
    """A plan of the declared site, the check-in (with its accuracy) and the photo positions, in metres
    around the site, drawn as SVG: the report needs no map tiles and no network."""

    width: int = 480
    height: int = 300
    points: list[MapPoint] = field(default_factory=list)
    scale_px: float = 0.0
    scale_label: str = ""


def site_map(
    site: tuple[float, float], check_in: dict[str, Any] | None, photos: list[tuple[float, float]]
) -> SiteMap:
    lat0, lon0 = site

    def metres(lat: float, lon: float) -> tuple[float, float]:
        return (lon - lon0) * 111_320 * math.cos(math.radians(lat0)), (lat - lat0) * 110_540

    raw: list[tuple[float, float, str, float]] = [(0.0, 0.0, "site", 0.0)]
    if check_in is not None:
        x, y = metres(check_in["lat"], check_in["lon"])
        raw.append((x, y, "check_in", float(check_in.get("accuracy_m") or 0.0)))
    raw += [(*metres(lat, lon), "photo", 0.0) for lat, lon in photos]
    half = max(100.0, *(max(abs(x), abs(y)) + r for x, y, _k, r in raw)) * 1.15
    plan = SiteMap()
    per_metre = min(plan.width, plan.height) / (2 * half)
    plan.points = [
        MapPoint(plan.width / 2 + x * per_metre, plan.height / 2 - y * per_metre, kind, r * per_metre)
        for x, y, kind, r in raw
    ]
    target = half / 2  # a bar about a quarter of the width, on a round number
    step = 10 ** math.floor(math.log10(target))
    metres_bar = max(m * step for m in (1, 2, 5) if m * step <= target)
    plan.scale_px = metres_bar * per_metre
    plan.scale_label = f"{metres_bar / 1000:g} km" if metres_bar >= 1000 else f"{metres_bar:g} m"
    return plan


def audit_position(session: Session, *, visit_id: Any) -> AuditEvent | None:
    """The newest sealed audit event of the visit: its place in the chain seals the record as reported."""
    return session.scalar(
        select(AuditEvent)
        .where(
            AuditEvent.entity_type == "visit",
            AuditEvent.entity_id == str(visit_id),
            col(AuditEvent.seq).is_not(None),
        )
        .order_by(col(AuditEvent.seq).desc())
        .limit(1)
    )


REPORT_STAMPED_PX = 480


def _embedded(session: Session, settings: Settings, photo: Photo, kind: str) -> str | None:
    """The photo as the report shows it: by default stamped like a watermark camera's (480 px, made once
    and kept); `thumbnail` or `preview` plain."""
    if kind == "stamped":
        if photo.preview_sha256 is None:
            return None
        key = photo_service.stamped_copy(session, settings=settings, photo=photo, width=REPORT_STAMPED_PX)
    else:
        made = photo_service.derivative(photo, kind)
        if made is None:
            return None
        _digest, key = made
    try:
        data = photo_service.photo_store(settings).objects.read_bytes(key)
        return "data:image/jpeg;base64," + base64.b64encode(data).decode()
    except FileNotFoundError:
        return None


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def context(
    session: Session,
    *,
    record: VisitRecord,
    settings: Settings,
    lang: str,
    manager_name: str,
    image: str = "stamped",
) -> dict[str, Any]:
    """Everything the template shows, worked out here so the template only lays it out. `image`: which
    derivative is embedded: `stamped` (the product's), `thumbnail` or `preview` (bench/report_pdf.py)."""
    zone = ZoneInfo(settings.timezone)
    words = WORDS[lang]

    def when(moment: dt.datetime | None) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "—"

    subject = record.collateral or record.project
    assert subject is not None
    site = (subject.declared_site.wgs84_lat, subject.declared_site.wgs84_lon)
    latest = record.submissions[-1] if record.submissions else None
    check_in = latest.body.check_in.model_dump() if latest and latest.body.check_in else None
    kept = {p.id for p in record.photos}
    rows = {p.id: p for p in session.scalars(select(Photo).where(col(Photo.id).in_(kept)))} if kept else {}
    items = {
        item.key: item for section in record.template_version.definition.sections for item in section.items
    }
    label = "label_zh" if lang == "zh" else "label_en"
    photos, positions = [], []
    for photo in record.photos:
        gps = photo.exif.get("gps") if isinstance(photo.exif.get("gps"), dict) else None
        fix = gps or photo.device_fix
        place = (float(fix["lat"]), float(fix["lon"])) if fix and "lat" in fix and "lon" in fix else None
        if place is not None:
            positions.append(place)
        taken = photo.exif.get("taken_at") or (
            photo.device_taken_at.isoformat() if photo.device_taken_at else None
        )
        item = items.get(photo.item_key)
        photos.append(
            {
                "item": getattr(item, label) if item else photo.item_key,
                "taken_at": when(dt.datetime.fromisoformat(taken)) if taken else "—",
                "place": f"{place[0]:.5f}, {place[1]:.5f}" if place else "—",
                "distance_m": round(haversine_m(*site, *place)) if place else None,
                "image": _embedded(session, settings, rows[photo.id], image) if photo.id in rows else None,
                "sha256": photo.sha256[:16],
            }
        )
    declared = {
        d.field: _declared_text(d.value_number if d.value_number is not None else d.value_text, d.unit)
        for d in record.declared
    }
    answers = []
    answered = latest.body.answers if latest else {}
    # Hidden by skip logic: not asked on site, not in the report.
    definition = expand(record.template_version.definition, latest.body.repeats if latest else {})
    shown = conditions.shown_items(definition, {key: answer.value for key, answer in answered.items()})
    for section in definition.sections:
        for item in section.items:
            if item.type in ("photo", "signature", "location") or item.key not in shown:
                continue
            answer = answered.get(item.key)
            bound = "—"
            if item.binds_to:
                # The latest declaration of the field, else the subject's own column of that name.
                own = getattr(subject, item.binds_to, None)
                bound = declared.get(item.binds_to) or _declared_text(own, getattr(subject, "unit", ""))
            answers.append(
                {
                    "item": getattr(item, label),
                    "declared": bound,
                    "observed": _answer_text(answer.value if answer else None, item, words, lang),
                    "note": (answer.note or "") if answer else "",
                    "differs": any(f.item_key == item.key for f in record.discrepancies),
                }
            )
    audit = audit_position(session, visit_id=record.id)
    tasks = {task.id: task for task in record.tasks}
    return {
        "lang": lang,
        "w": words,
        "name": lambda value: NAMES[lang].get(str(value), str(value)),
        "record": record,
        "subject": subject,
        "subject_kind": words["collateral"] if record.collateral else words["project"],
        "manager_name": manager_name,
        "check_in": check_in,
        "check_in_at": when(latest.body.check_in.fixed_at) if latest and latest.body.check_in else "—",
        "check_in_distance_m": round(haversine_m(*site, check_in["lat"], check_in["lon"]))
        if check_in
        else None,
        "submitted_at": when(record.submitted_at),
        "notes": latest.body.notes if latest else "",
        "map": site_map(site, check_in, positions),
        "answers": answers,
        "photos": photos,
        "findings": [
            {
                "severity": finding.severity.value,
                "explanation": finding.explanation_zh if lang == "zh" else finding.explanation_en,
                "task": tasks.get(finding.task_id) if finding.task_id else None,
            }
            for finding in record.discrepancies
        ],
        "reviews": [
            {
                "decision": words[review.decision.value],
                "comment": review.comment,
                "at": when(review.decided_at),
            }
            for review in record.reviews
        ],
        "audit": audit,
        "audit_at": when(audit.recorded_at) if audit else "",
        "when": when,
    }


def _declared_text(value: Any, unit: str) -> str:
    if value is None or isinstance(value, dict | list):
        return "—"
    if isinstance(value, decimal.Decimal):
        value = value.normalize() if value == value.to_integral() else value
        value = f"{value:f}"
    return f"{value} {unit}".strip()


def _answer_text(value: Any, item: Item, words: dict[str, str], lang: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return words["yes"] if value else words["no"]
    choices: dict[str, str] = {
        choice.value: (choice.label_zh if lang == "zh" else choice.label_en) for choice in item.choices
    }
    if isinstance(value, list):
        return "、".join(choices.get(v, str(v)) for v in value)
    if isinstance(value, str) and value in choices:
        return choices[value]
    return f"{value} {item.unit}".strip()


def html(contexts: list[dict[str, Any]], *, lang: str, generated_at: str) -> str:
    return (
        _environment()
        .get_template("visit_report.html")
        .render(reports=contexts, lang=lang, w=WORDS[lang], generated_at=generated_at)
    )


class ReportUnavailable(AppError):
    status = 503
    code = "report_unavailable"
    title_zh = "报告生成组件未安装"
    title_en = "The report renderer is not installed"


def pdf(document: str) -> bytes:
    try:
        import weasyprint  # imported here: it loads Pango, which only the report needs
    except OSError as exc:
        raise ReportUnavailable(
            "The server lacks Pango (apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk).",
            detail_zh="服务器缺少 Pango 组件（apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk）。",
        ) from exc

    stylesheet = weasyprint.CSS(filename=str(TEMPLATES / "report.css"))
    fetcher = weasyprint.URLFetcher(allowed_protocols={"data"}, allow_redirects=False)
    rendered: bytes = weasyprint.HTML(string=document, url_fetcher=fetcher).write_pdf(
        stylesheets=[stylesheet]
    )
    return rendered


MOST_VISITS_PER_BATCH = 50


def visit_report(
    session: Session, *, visit: Visit, settings: Settings, lang: str, image: str = "stamped"
) -> dict[str, Any]:
    """One visit's part of a report: its record as the API serves it, laid out for the template."""
    from api.visits import record as visit_record

    manager = session.get(User, visit.manager_id)
    record = visit_record.build(session, visit=visit, settings=settings)
    return context(
        session,
        record=record,
        settings=settings,
        lang=lang,
        manager_name=manager.display_name if manager else "",
        image=image,
    )


def batch_visits(session: Session, *, user: User, where: VisitFilter, settings: Settings) -> list[Visit]:
    """The visits of a batch report: the visit list's filters and scope, oldest due first; refused when
    there are more than one report should hold (narrow the filters, e.g. to a branch and a month)."""
    query = visit_service.filtered(visit_service.scope_visits(select(Visit), user), where, settings)
    visits = list(
        session.scalars(query.order_by(col(Visit.due_on), col(Visit.id)).limit(MOST_VISITS_PER_BATCH + 1))
    )
    if len(visits) > MOST_VISITS_PER_BATCH:
        raise Unprocessable(
            f"More than {MOST_VISITS_PER_BATCH} visits match; narrow the filters (a branch, a period, a status).",
            detail_zh=f"符合条件的检查超过 {MOST_VISITS_PER_BATCH} 个；请缩小筛选范围（分支机构、期间、状态）。",
        )
    return visits
