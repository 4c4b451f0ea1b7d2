"""Rules of DESIGN.md, as plain functions over what was declared and what was observed.

`evaluate` returns findings (failed rules) and the (rule, item) pairs that were evaluated and passed:
a later approved visit that passes a rule resolves the open task of that rule. A rule that cannot be
judged (no declared figure, a photo with no location at all) is neither a finding nor a pass.
Thresholds come from the item's rule parameters, else from settings.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam
from sqlalchemy.orm import Session
from sqlmodel import col, select

from api.checklists.conditions import shown_items, visible
from api.checklists.repeats import declared_members, expand
from api.checklists.schemas import Definition, Item, ItemRule, ItemType, RuleKey, Severity
from api.config import Settings
from api.kit.geo import haversine_m, to_wgs84
from api.photos.inspection import phash_bands
from api.photos.models import PHOTOS_BY_ID, Photo
from api.portfolio import service as portfolio_service
from api.portfolio.models import Borrower, Collateral, Project, SubjectType
from api.sync.models import Submission
from api.visits.models import Visit

DEFAULT_SEVERITY = {
    RuleKey.site_distance: Severity.major,
    RuleKey.photo_location: Severity.major,
    RuleKey.photo_time: Severity.major,
    RuleKey.photo_reuse: Severity.critical,
    RuleKey.value_tolerance: Severity.major,
    RuleKey.expected_answer: Severity.major,
    RuleKey.required_evidence: Severity.minor,
    RuleKey.identifier_match: Severity.major,
}
BAND_BITS = 16
BANDS = 64 // BAND_BITS


@dataclass
class Finding:
    rule_key: str
    item_key: str
    severity: Severity
    expected: Any
    observed: Any
    explanation_zh: str
    explanation_en: str
    photo_id: uuid.UUID | None = None
    related_visit_id: uuid.UUID | None = None

    @property
    def finding_key(self) -> str:
        return f"{self.rule_key}:{self.item_key}:{self.photo_id or ''}"


@dataclass
class Evaluation:
    findings: list[Finding] = field(default_factory=list)
    passed: set[tuple[str, str]] = field(default_factory=set)


def distance_text(metres: float) -> tuple[str, str]:
    if metres >= 1000:
        km = f"{metres / 1000:.1f}"
        return f"{km} 公里", f"{km} km"
    return f"{metres:.0f} 米", f"{metres:.0f} m"


@dataclass(frozen=True)
class Site:
    lat: float
    lon: float
    address: str


def declared_site(session: Session, visit: Visit) -> Site | None:
    """The subject's declared site in WGS-84 (GCJ-02 and BD-09 sites are converted first)."""
    subject: Collateral | Project | None
    if visit.subject_type == SubjectType.collateral:
        subject = session.get(Collateral, visit.subject_id)
    elif visit.subject_type == SubjectType.project:
        subject = session.get(Project, visit.subject_id)
    else:
        subject = None
    if subject is None:
        return None
    lat, lon = to_wgs84(subject.site_lat, subject.site_lon, subject.site_datum.value)
    return Site(lat, lon, subject.address)


def _identifiers(session: Session, visit: Visit) -> dict[str, Any]:
    """The collateral's declared identifiers (certificate, serial, plate numbers); none for a project."""
    if visit.subject_type != SubjectType.collateral:
        return {}
    collateral = session.get(Collateral, visit.subject_id)
    return dict(collateral.identifiers) if collateral is not None else {}


def _severity(item_rule: ItemRule | None, rule: RuleKey) -> Severity:
    return item_rule.severity if item_rule and item_rule.severity else DEFAULT_SEVERITY[rule]


def _param(item_rule: ItemRule | None, name: str, default: float) -> float:
    if item_rule and name in item_rule.params:
        try:
            return float(item_rule.params[name])
        except (TypeError, ValueError):
            return default
    return default


# ---- site_distance ----


def site_distance(
    *,
    fix: dict[str, Any] | None,
    site: Site | None,
    item_key: str,
    item_rule: ItemRule | None,
    settings: Settings,
) -> Finding | bool | None:
    """A Finding, True when passed, None when it cannot be judged (no declared site)."""
    if site is None:
        return None
    severity = _severity(item_rule, RuleKey.site_distance)
    max_m = _param(item_rule, "max_m", settings.rules.site_distance_m)
    max_accuracy = _param(item_rule, "max_accuracy_m", settings.rules.fix_accuracy_m)
    expected = {"max_m": max_m, "max_accuracy_m": max_accuracy, "site": {"lat": site.lat, "lon": site.lon}}
    if fix is None:
        return Finding(
            "site_distance",
            item_key,
            severity,
            expected,
            None,
            "未签到定位，检查位置无法核实",
            "no check-in fix: location unverified",
        )
    accuracy = float(fix.get("accuracy_m") or 0)
    if accuracy > max_accuracy:
        return Finding(
            "site_distance",
            item_key,
            severity,
            expected,
            {"accuracy_m": accuracy, "lat": fix["lat"], "lon": fix["lon"]},
            f"定位精度 {accuracy:.0f} 米，超过 {max_accuracy:.0f} 米，位置无法核实",
            f"fix accuracy {accuracy:.0f} m is worse than {max_accuracy:.0f} m: location unverified",
        )
    metres = haversine_m(float(fix["lat"]), float(fix["lon"]), site.lat, site.lon)
    if metres > max_m:
        zh, en = distance_text(metres)
        return Finding(
            "site_distance",
            item_key,
            severity,
            expected,
            {"lat": fix["lat"], "lon": fix["lon"], "accuracy_m": accuracy, "distance_m": round(metres, 1)},
            f"签到位置距申报地址 {zh}",
            f"check-in {en} from the declared site",
        )
    return True


# ---- photos ----


def _photo_position(photo: Photo) -> tuple[float, float, str] | None:
    if photo.gps_lat is not None and photo.gps_lon is not None:
        return photo.gps_lat, photo.gps_lon, "exif"
    if photo.device_fix and "lat" in photo.device_fix and "lon" in photo.device_fix:
        return float(photo.device_fix["lat"]), float(photo.device_fix["lon"]), "device"
    return None


def photo_location(
    *, photo: Photo, site: Site | None, item_rule: ItemRule | None, settings: Settings
) -> Finding | bool | None:
    position = _photo_position(photo)
    if site is None or position is None:
        return None
    lat, lon, source = position
    max_m = _param(item_rule, "max_m", settings.rules.photo_distance_m)
    metres = haversine_m(lat, lon, site.lat, site.lon)
    if metres <= max_m:
        return True
    zh, en = distance_text(metres)
    source_zh = "照片GPS" if source == "exif" else "拍照时手机定位"
    source_en = "photo GPS" if source == "exif" else "phone location when the photo was taken"
    return Finding(
        "photo_location",
        photo.item_key,
        _severity(item_rule, RuleKey.photo_location),
        {"max_m": max_m},
        {"lat": lat, "lon": lon, "source": source, "distance_m": round(metres, 1)},
        f"{source_zh}距申报地址 {zh}",
        f"{source_en} {en} from the declared site",
        photo_id=photo.id,
    )


def photo_taken_at(photo: Photo, zone: str) -> tuple[dt.datetime, str] | None:
    """When the photo was taken: EXIF with offset; EXIF local time read in the bank's zone; else the phone."""
    if photo.taken_at is not None:
        return photo.taken_at, "exif"
    local = (photo.exif or {}).get("taken_at_local")
    if local:
        try:
            return dt.datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone)), "exif_local"
        except ValueError:
            pass
    if photo.device_taken_at is not None:
        return photo.device_taken_at, "device"
    return None


def photo_time(
    *, photo: Photo, visit_start: dt.datetime, item_rule: ItemRule | None, settings: Settings
) -> Finding | bool | None:
    taken = photo_taken_at(photo, settings.timezone)
    if taken is None:
        return None
    when, source = taken
    max_age = _param(item_rule, "max_age_hours", settings.rules.photo_age_hours)
    age_hours = (visit_start - when).total_seconds() / 3600
    if age_hours <= max_age:
        return True
    days = age_hours / 24
    return Finding(
        "photo_time",
        photo.item_key,
        _severity(item_rule, RuleKey.photo_time),
        {"max_age_hours": max_age, "visit_start": visit_start.isoformat()},
        {"taken_at": when.isoformat(), "source": source, "hours_before_visit": round(age_hours, 1)},
        f"照片拍摄于检查开始前 {days:.1f} 天",
        f"photo taken {days:.1f} days before the visit started",
        photo_id=photo.id,
    )


def _band_neighbours(band: int) -> list[int]:
    return [band] + [band ^ (1 << bit) for bit in range(BAND_BITS)]


# The statements run for every photo, built once (building one and its cache key costs more than running it).
_LOOK_ALIKES = (
    select(Photo)
    .where(
        col(Photo.phash).in_(bindparam("hashes", expanding=True)),
        col(Photo.visit_id) != bindparam("visit_id"),
    )
    .order_by(col(Photo.received_at))
    .limit(bindparam("most"))
)
_SAME_BYTES_ELSEWHERE = (
    select(Photo)
    .where(col(Photo.sha256) == bindparam("sha256"), col(Photo.visit_id) != bindparam("visit_id"))
    .order_by(col(Photo.received_at))
    .limit(1)
)


def similar_photos(
    session: Session,
    *,
    hashes: list[int],
    max_distance: int,
    exclude_visit: uuid.UUID,
    limit: int = 20,
    own: int | None = None,
) -> list[tuple[Photo, int]]:
    """Photos of other visits within `max_distance` bits of any of `hashes`, through the band index.

    Multi-index hashing: the 64 bits are four 16-bit bands, each indexed. Two hashes within 7 bits agree
    on at least one band up to one bit, so looking up every band and its 16 one-bit neighbours finds every
    candidate; the exact distance is then checked here. `own` is the hash of the one stored photo being
    judged: the lookup finds it too, and when it is the only photo with that hash it is left out here, so
    the everyday photo with no look-alike costs no second statement."""
    # For each band: which of our hashes each band value is within one bit of.
    near: list[dict[int, list[int]]] = [{} for _ in range(BANDS)]
    for value in hashes:
        for n, band in enumerate(phash_bands(value)):
            for neighbour in _band_neighbours(band):
                near[n].setdefault(neighbour, []).append(value)
    # One index-only lookup per band (a UNION, not an OR, so each uses its covering (band, hash) index).
    # The statement is plain SQL with integers we computed ourselves: at a million stored photos the
    # ORM's compiling and row processing cost more than the lookup. Each candidate is compared only with
    # the hashes whose band it came near; matches are then loaded whole.
    sql = " UNION ALL ".join(
        f"SELECT phash_b{n}, phash, {n} FROM photo WHERE phash_b{n} IN ({','.join(str(int(v)) for v in sorted(near[n]))})"
        for n in range(BANDS)
    )
    best: dict[int, int] = {}
    mask = 0xFFFFFFFFFFFFFFFF
    # Every stored photo with exactly the hash `own` comes back once from band 0 (its band equals our own).
    with_own_hash = 0
    # Thousands of rows at a million stored photos: fetched in one go, compared inline.
    for band_value, stored, band_no in session.connection().exec_driver_sql(sql).all():
        if stored is None or band_value is None:
            continue
        if band_no == 0 and stored == own:
            with_own_hash += 1
        wanted = near[band_no][band_value]
        if len(wanted) == 1:
            distance = ((stored ^ wanted[0]) & mask).bit_count()
        else:
            distance = min(((stored ^ w) & mask).bit_count() for w in wanted)
        if distance <= max_distance and distance < best.get(stored, 65):
            best[stored] = distance
    if own is not None and with_own_hash == 1:
        best.pop(own, None)  # only the photo being judged has it
    if not best:
        return []
    # The closest hashes first; a photo copied a hundred times must not load a hundred rows.
    closest = sorted(best, key=best.__getitem__)[:limit]
    rows = session.scalars(_LOOK_ALIKES, {"hashes": closest, "visit_id": exclude_visit, "most": limit * 4})
    matches = sorted(((photo, best[int(photo.phash or 0)]) for photo in rows), key=lambda pair: pair[1])
    return matches[:limit]


def photo_reuse(session: Session, *, photo: Photo, settings: Settings) -> Finding | bool | None:
    same = session.scalar(_SAME_BYTES_ELSEWHERE, {"sha256": photo.sha256, "visit_id": photo.visit_id})
    match: tuple[Photo, int] | None = (same, 0) if same is not None else None
    kind = "sha256"
    if match is None:
        if photo.phash is None:
            return None  # derivatives not made yet: judged when they are
        variants = photo.phash_variants or [photo.phash]
        found = similar_photos(
            session,
            hashes=variants,
            max_distance=settings.rules.photo_phash_distance,
            exclude_visit=photo.visit_id,
            own=photo.phash,
        )
        if not found:
            return True
        match, kind = found[0], "phash"
    other, distance = match
    other_visit = session.get(Visit, other.visit_id)
    borrower = session.get(Borrower, other_visit.borrower_id) if other_visit else None
    name = borrower.name if borrower else "?"
    how_zh = "完全相同" if kind == "sha256" else f"高度相似（差异 {distance} 位）"
    how_en = "identical" if kind == "sha256" else f"near-identical ({distance} bits apart)"
    return Finding(
        "photo_reuse",
        photo.item_key,
        Severity.critical,
        {"max_phash_distance": settings.rules.photo_phash_distance},
        {
            "match": kind,
            "distance": distance,
            "other_photo_id": str(other.id),
            "other_visit_id": str(other.visit_id),
            "other_borrower": name,
        },
        f"照片与另一次检查（{name}，检查任务 {other.visit_id}）的照片{how_zh}",
        f"photo is {how_en} to a photo of another visit ({name}, visit {other.visit_id})",
        photo_id=photo.id,
        related_visit_id=other.visit_id,
    )


# ---- answers against declarations ----


def _declared_number(
    session: Session, visit: Visit, field_name: str, as_of: dt.date
) -> tuple[float, str] | None:
    for subject_type, subject_id in (
        (visit.subject_type, visit.subject_id),
        (SubjectType.facility, visit.facility_id),
    ):
        for row in portfolio_service.latest_declarations(
            session, subject_type=subject_type, subject_id=subject_id, as_of=as_of
        ):
            if row.field == field_name and row.value_number is not None:
                return float(row.value_number), row.unit
    return None


def value_tolerance(
    *, item: Item, observed: Any, declared: tuple[float, str] | None
) -> Finding | bool | None:
    if (
        declared is None
        or observed is None
        or isinstance(observed, bool)
        or not isinstance(observed, int | float)
    ):
        return None
    rule = item.rule
    assert rule is not None
    value, unit = declared
    mode = str(rule.params.get("mode", "relative"))
    sides = str(rule.params.get("sides", "both"))
    tolerance = float(rule.params.get("tolerance", 0))
    gap = float(observed) - value
    allowed = tolerance * abs(value) if mode == "relative" else tolerance
    too_low = gap < -allowed and sides in ("both", "below")
    too_high = gap > allowed and sides in ("both", "above")
    if not (too_low or too_high):
        return True
    unit_text = unit or item.unit
    shown_tol = f"{tolerance:.0%}" if mode == "relative" else f"{tolerance:g}{unit_text}"
    direction_zh, direction_en = ("低于", "below") if too_low else ("高于", "above")
    return Finding(
        "value_tolerance",
        item.key,
        _severity(rule, RuleKey.value_tolerance),
        {"declared": value, "tolerance": tolerance, "mode": mode, "sides": sides, "unit": unit_text},
        {"value": observed},
        f"{item.label_zh}：实际 {observed:g}{unit_text}，{direction_zh}申报 {value:g}{unit_text}，超出容差 {shown_tol}",
        f"{item.label_en}: observed {observed:g}{unit_text} is {direction_en} the declared {value:g}{unit_text} "
        f"beyond the {shown_tol} tolerance",
    )


def _code(value: Any) -> str:
    """A code as a nameplate and a register both mean it: no spaces or dashes, one case, full-width
    characters as their ASCII selves (a phone's Chinese keyboard types Ｓ/Ｎ)."""
    import unicodedata

    text = unicodedata.normalize("NFKC", str(value))
    return "".join(ch for ch in text if ch not in " -_/\u3000").upper()


def identifier_match(*, item: Item, observed: Any, identifiers: dict[str, Any]) -> Finding | bool | None:
    """The code read on site against the collateral's declared identifiers (one, when the rule names it)."""
    rule = item.rule
    assert rule is not None
    if observed is None or observed == "":
        return None
    name = rule.params.get("identifier")
    if "member" in rule.params:  # one unit of a repeat over a declared list: its own code only
        declared = {name or "": rule.params["member"]}
    else:
        declared = {k: v for k, v in identifiers.items() if name is None or k == name}
    if not declared:
        return None
    values = [member for key in declared for member in declared_members(declared, key)]
    if any(_code(observed) == _code(value) for value in values):
        return True
    shown = "；".join(
        f"{k} {'、'.join(map(str, v)) if isinstance(v, list) else v}".strip() for k, v in declared.items()
    )
    return Finding(
        "identifier_match",
        item.key,
        _severity(rule, RuleKey.identifier_match),
        {"identifiers": declared},
        {"value": observed},
        f"{item.label_zh}：现场读取「{observed}」，与申报的{shown}不一致",
        f"{item.label_en}: read \u201c{observed}\u201d on site, declared {shown}",
    )


def expected_answer(*, item: Item, observed: Any) -> Finding | bool | None:
    rule = item.rule
    assert rule is not None
    expected = rule.params.get("expected")
    acceptable = expected if isinstance(expected, list) else [expected]
    if observed is None:
        return None
    if observed in acceptable:
        return True

    def shown(value: Any, english: bool) -> str:
        if isinstance(value, bool):
            return ("yes" if value else "no") if english else ("是" if value else "否")
        for choice in item.choices:
            if choice.value == value:
                return choice.label_en if english else choice.label_zh
        return str(value)

    return Finding(
        "expected_answer",
        item.key,
        _severity(rule, RuleKey.expected_answer),
        {"expected": expected},
        {"value": observed},
        f"{item.label_zh}：回答为「{shown(observed, False)}」，应为「{'/'.join(shown(v, False) for v in acceptable)}」",
        f"{item.label_en}: answered \u201c{shown(observed, True)}\u201d, expected "
        f"\u201c{' or '.join(shown(v, True) for v in acceptable)}\u201d",
    )


def required_evidence(*, item: Item, answer: dict[str, Any] | None) -> Finding | bool:
    rule = item.rule
    assert rule is not None
    minimum = int(rule.params.get("min_photos", item.min_photos or (1 if item.type == ItemType.photo else 0)))
    note_required = bool(rule.params.get("note_required", False))
    photos = len((answer or {}).get("photos") or [])
    note = ((answer or {}).get("note") or "").strip()
    if photos >= minimum and (note or not note_required):
        return True
    return Finding(
        "required_evidence",
        item.key,
        _severity(rule, RuleKey.required_evidence),
        {"min_photos": minimum, "note_required": note_required},
        {"photos": photos, "note": bool(note)},
        f"{item.label_zh}：证据不足（照片 {photos}/{minimum}{'，缺少说明' if note_required and not note else ''}）",
        f"{item.label_en}: not enough evidence ({photos}/{minimum} photos"
        f"{', no note' if note_required and not note else ''})",
    )


def units_inspected(
    *,
    definition: Definition,
    repeats: dict[str, list[str]],
    identifiers: Callable[[], dict[str, Any]],
    values: dict[str, Any],
    shown: set[str],
) -> list[tuple[Finding | bool, str]]:
    """Each section repeated over a declared list: every declared unit inspected (one repeat each)? A unit the
    phone did not list (the back office added it after the download, or it was dropped) is a finding.
    `definition` is the template's own (its repeated sections); `shown` the items shown of its expansion."""
    outcomes: list[tuple[Finding | bool, str]] = []
    for section in definition.sections:
        repeat = section.repeat
        if repeat is None or not repeat.over or not visible(section.visible_if, values, shown):
            continue
        declared = declared_members(identifiers(), repeat.over)
        missing = [member for member in declared if member not in set(repeats.get(section.key, []))]
        if not missing:
            outcomes.append((True, section.key))
            continue
        named = missing[:5]  # the explanation names five; `expected`/`observed` list every one
        more_zh = f" 等 {len(missing)} 个" if len(missing) > len(named) else ""
        more_en = f" and {len(missing) - len(named)} more" if len(missing) > len(named) else ""
        outcomes.append(
            (
                Finding(
                    "units_inspected",
                    section.key,
                    Severity.major,
                    {"units": declared},
                    {"units": list(repeats.get(section.key, []))},
                    f"{section.title_zh}：申报的{repeat.label_zh} {'、'.join(named)}{more_zh} 未检查"
                    f"（申报 {len(declared)} 个，检查 {len(declared) - len(missing)} 个）",
                    f"{section.title_en}: declared {repeat.label_en.lower()}(s) {', '.join(named)}{more_en} not inspected "
                    f"({len(declared) - len(missing)} of {len(declared)})",
                ),
                section.key,
            )
        )
    return outcomes


# ---- the whole submission ----


def evaluate(
    session: Session,
    *,
    settings: Settings,
    visit: Visit,
    submission: Submission,
    definition: Definition,
    only_photo: uuid.UUID | None = None,
    photos: Sequence[Photo] = (),
) -> Evaluation:
    """Every rule on the submission; with `only_photo`, just the rules of that one photo (it has just
    arrived, and the answers were judged when the submission came). `photos`: those of the manifest the
    caller has just read (not read again)."""
    body = submission.body
    result = Evaluation()
    original = definition

    def take(outcome: Finding | bool | None, rule: str, item_key: str) -> None:
        if isinstance(outcome, Finding):
            result.findings.append(outcome)
        elif outcome is True:
            result.passed.add((rule, item_key))

    site = declared_site(session, visit)
    repeats = body.get("repeats") or {}
    definition = expand(definition, repeats)
    items = {item.key: item for item in definition.items()}
    if only_photo is not None:
        _judge_photos(session, settings, visit, submission, items, site, [only_photo], result, known=photos)
        return result
    location_item = next((i for i in items.values() if i.rule and i.rule.key == RuleKey.site_distance), None)
    fix = body.get("check_in")
    if location_item is not None:
        value = (body.get("answers", {}).get(location_item.key) or {}).get("value")
        fix = value if isinstance(value, dict) and "lat" in value else fix
    take(
        site_distance(
            fix=fix,
            site=site,
            item_key=location_item.key if location_item else "",
            item_rule=location_item.rule if location_item else None,
            settings=settings,
        ),
        "site_distance",
        location_item.key if location_item else "",
    )

    as_of = visit.due_on
    # A hidden item was not asked: its rule has nothing to judge (skip logic, api/checklists/conditions.py).
    answers = body.get("answers", {})
    values = {key: (answer or {}).get("value") for key, answer in answers.items()}
    shown = shown_items(definition, values)
    declared: dict[str, Any] | None = None

    def identifiers() -> dict[str, Any]:
        """The collateral's declared identifiers, read once, and only when a rule needs them."""
        nonlocal declared
        if declared is None:
            declared = _identifiers(session, visit)
        return declared

    for item in items.values():
        if item.rule is None or item.key not in shown:
            continue
        answer = answers.get(item.key)
        observed = (answer or {}).get("value")
        if item.rule.key == RuleKey.value_tolerance and item.binds_to:
            take(
                value_tolerance(
                    item=item,
                    observed=observed,
                    declared=_declared_number(session, visit, item.binds_to, as_of),
                ),
                "value_tolerance",
                item.key,
            )
        elif item.rule.key == RuleKey.expected_answer:
            take(expected_answer(item=item, observed=observed), "expected_answer", item.key)
        elif item.rule.key == RuleKey.required_evidence:
            take(required_evidence(item=item, answer=answer), "required_evidence", item.key)
        elif item.rule.key == RuleKey.identifier_match:
            take(
                identifier_match(item=item, observed=observed, identifiers=identifiers()),
                "identifier_match",
                item.key,
            )

    for outcome, section_key in units_inspected(
        definition=original, repeats=repeats, identifiers=identifiers, values=values, shown=shown
    ):
        take(outcome, "units_inspected", section_key)

    photo_ids = [uuid.UUID(p["id"]) for p in body.get("photos", [])]
    _judge_photos(session, settings, visit, submission, items, site, photo_ids, result, known=photos)
    return result


def _photos(session: Session, photo_ids: list[uuid.UUID], known: Sequence[Photo]) -> list[Photo]:
    """The manifest's photos that are here, in its order. Those the caller has just read (`known`: the
    submission matched its manifest against them; a job, the photos it made derivatives of) are not read
    again."""
    held: dict[uuid.UUID, Photo] = {photo.id: photo for photo in known}
    others = [photo_id for photo_id in photo_ids if photo_id not in held]
    if others:
        held.update((photo.id, photo) for photo in session.scalars(PHOTOS_BY_ID, {"ids": others}))
    return [held[photo_id] for photo_id in photo_ids if photo_id in held]


def _judge_photos(
    session: Session,
    settings: Settings,
    visit: Visit,
    submission: Submission,
    items: dict[str, Item],
    site: Site | None,
    photo_ids: list[uuid.UUID],
    result: Evaluation,
    *,
    known: Sequence[Photo] = (),
) -> None:
    body = submission.body
    photos = _photos(session, photo_ids, known)
    started = body.get("device_started_at")
    visit_start = dt.datetime.fromisoformat(started) if started else submission.received_at
    photo_outcomes: dict[tuple[str, str], list[Finding | bool]] = {}
    for photo in photos:
        if photo.visit_id != visit.id:
            continue
        photo_item = items.get(photo.item_key)
        if photo_item is not None and photo_item.type == ItemType.signature:
            continue  # drawn on the screen: no place, time or reuse to judge
        rule_of_item = (
            photo_item.rule
            if photo_item and photo_item.rule and photo_item.rule.key == RuleKey.photo_location
            else None
        )
        for rule, outcome in (
            (
                "photo_location",
                photo_location(photo=photo, site=site, item_rule=rule_of_item, settings=settings),
            ),
            (
                "photo_time",
                photo_time(photo=photo, visit_start=visit_start, item_rule=None, settings=settings),
            ),
            ("photo_reuse", photo_reuse(session, photo=photo, settings=settings)),
        ):
            if outcome is None:
                continue
            if isinstance(outcome, Finding):
                result.findings.append(outcome)
            photo_outcomes.setdefault((rule, photo.item_key), []).append(outcome)
    for key, outcomes in photo_outcomes.items():
        if all(outcome is True for outcome in outcomes):
            result.passed.add(key)
