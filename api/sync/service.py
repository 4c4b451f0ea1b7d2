"""Submissions from the field: validated against the pinned checklist, stored at once (even before
their photos), idempotent on the device's UUID, and flagged — never dropped — when the visit changed
while the phone was offline. Also the manager's offline work package."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam
from sqlalchemy.orm import Session, aliased
from sqlmodel import col, select

from api.auth.models import User
from api.checklists import service as checklist_service
from api.checklists.conditions import answer_number, shown_items, unanswered
from api.checklists.models import TemplateVersion, VersionStatus
from api.checklists.repeats import expand, repeat_problems
from api.checklists.schemas import PHOTO_TYPES, Definition, Item, ItemType
from api.config import Settings
from api.db import utcnow
from api.errors import NotFound
from api.kit.digests import json_sha256
from api.kit.races import RaceLost, take_turns
from api.kit.ranked import first_per
from api.photos.models import PHOTO_TURNS, PHOTOS_BY_ID, Photo
from api.rules.schemas import DiscrepancyPublic
from api.sync import schemas
from api.sync.exceptions import SubmissionIdConflict, SubmissionInvalid
from api.sync.models import ManifestPhoto, Submission, SubmissionState
from api.visits import service as visit_service
from api.visits.models import AWAITING_MANAGER, Visit, VisitStatus

if TYPE_CHECKING:
    from api.rules.models import Discrepancy


@dataclass(frozen=True)
class ItemProblem:
    item: str
    en: str
    zh: str

    def as_json(self) -> dict[str, str]:
        return {"item": self.item, "message": self.en, "message_zh": self.zh}


DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _is_date(value: Any) -> bool:
    """A calendar day written YYYY-MM-DD (only that form: the phone's rules read it the same way)."""
    if not isinstance(value, str) or not DATE.match(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _check_item(item: Item, answer: schemas.Answer | None, body: schemas.SubmissionIn) -> list[ItemProblem]:
    key = item.key
    value = answer.value if answer else None
    photos = answer.photos if answer else []
    problems: list[ItemProblem] = []

    def problem(en: str, zh: str) -> None:
        problems.append(ItemProblem(key, en, zh))

    if item.type not in PHOTO_TYPES and photos:
        problem("this item takes no photos", "该检查项不接受照片")
    if item.type in PHOTO_TYPES:
        # A signature is one picture: required means one, and never more.
        most = 1 if item.type == ItemType.signature else item.max_photos
        needed = (1 if item.type == ItemType.signature else max(item.min_photos, 1)) if item.required else 0
        if value is not None:
            problem("a photo item's answer is its photos", "拍照项只需提交照片")
        if len(photos) < needed and not (not item.required and not photos):
            problem(
                f"needs at least {needed} photo(s), got {len(photos)}",
                f"至少需要 {needed} 张照片，实际 {len(photos)} 张",
            )
        if len(photos) > most:
            problem(f"takes at most {most} photo(s)", f"最多 {most} 张照片")
        return problems
    if item.type == ItemType.location:
        if value is None:
            if item.required and body.check_in is None:
                problem("needs a location (or a check-in fix)", "需要定位（或签到定位）")
            return problems
        try:
            schemas.Fix.model_validate(
                {"fixed_at": body.check_in.fixed_at if body.check_in else utcnow(), **value}
            )
        except (ValueError, TypeError):
            problem("must be {lat, lon, accuracy_m} in WGS-84", "须为 WGS-84 的 {lat, lon, accuracy_m}")
        return problems
    if unanswered(value):
        if item.required:
            problem("is required", "为必填项")
        return problems
    if item.type == ItemType.boolean and not isinstance(value, bool):
        problem("must be true or false", "须为是或否")
    elif item.type in (ItemType.number, ItemType.integer):
        number = answer_number(value)
        if number is None and item.type == ItemType.number:
            problem("must be a number", "须为数字")
        elif number is None or (item.type == ItemType.integer and number != int(number)):
            problem("must be a whole number", "须为整数")
        elif item.min is not None and number < item.min:
            problem(f"must be at least {item.min:g}", f"不能小于 {item.min:g}")
        elif item.max is not None and number > item.max:
            problem(f"must be at most {item.max:g}", f"不能大于 {item.max:g}")
    elif item.type == ItemType.choice:
        allowed = [choice.value for choice in item.choices]
        if value not in allowed:
            problem(f"must be one of {', '.join(allowed)}", f"须为以下之一：{', '.join(allowed)}")
    elif item.type == ItemType.multi_choice:
        allowed = [choice.value for choice in item.choices]
        if not isinstance(value, list) or not all(isinstance(v, str) and v in allowed for v in value):
            problem(f"must be some of {', '.join(allowed)}", f"须为以下选项中的若干项：{', '.join(allowed)}")
        elif len(set(value)) != len(value):
            problem("lists a choice twice", "有重复的选项")
    elif item.type == ItemType.date and not _is_date(value):
        problem("must be a date (YYYY-MM-DD)", "须为日期（YYYY-MM-DD）")
    elif item.type == ItemType.barcode and (not isinstance(value, str) or len(value) > 200):
        problem(
            "must be the code read, as text of at most 200 characters", "须为读取到的编码（不超过 200 字）"
        )
    elif item.type == ItemType.text and (not isinstance(value, str) or len(value) > 4000):
        problem("must be text of at most 4,000 characters", "须为不超过 4000 字的文字")
    return problems


def validate(definition: Definition, body: schemas.SubmissionIn, settings: Settings) -> dict[uuid.UUID, str]:
    """Check the answers against the checklist; returns the item of each photo. Raises SubmissionInvalid."""
    values = {key: answer.value for key, answer in body.answers.items()}
    expanded = expand(definition, body.repeats)
    shown = shown_items(expanded, values)
    problems = [ItemProblem(*problem) for problem in repeat_problems(definition, body.repeats, values, shown)]
    items = {item.key: item for item in expanded.items()}
    problems += [
        ItemProblem(key, "not an item of this checklist", "不是本检查清单的检查项")
        for key in body.answers
        if key not in items
    ]
    for item in items.values():
        answer = body.answers.get(item.key)
        if item.key in shown:
            problems.extend(_check_item(item, answer, body))
        elif answer is not None and (not unanswered(answer.value) or answer.photos):
            problems.append(
                ItemProblem(
                    item.key,
                    "is hidden by its condition on earlier answers: send no answer for it",
                    "该检查项因前面的回答而不显示，不应提交回答",
                )
            )
    manifest = {entry.id: entry for entry in body.photos}
    if len(manifest) != len(body.photos):
        problems.append(ItemProblem("photos", "a photo is listed twice", "照片清单中有重复"))
    photo_items: dict[uuid.UUID, str] = {}
    for key, answer in body.answers.items():
        for photo_id in answer.photos:
            if photo_id in photo_items:
                problems.append(
                    ItemProblem(key, f"photo {photo_id} is used twice", f"照片 {photo_id} 被重复使用")
                )
            elif photo_id not in manifest:
                problems.append(
                    ItemProblem(
                        key, f"photo {photo_id} is not in the manifest", f"照片 {photo_id} 不在照片清单中"
                    )
                )
            photo_items[photo_id] = key
    for entry in body.photos:
        if entry.id not in photo_items:
            problems.append(
                ItemProblem(
                    "photos",
                    f"photo {entry.id} is not attached to any item",
                    f"照片 {entry.id} 未关联任何检查项",
                )
            )
        if entry.size > settings.max_photo_bytes:
            problems.append(
                ItemProblem(
                    "photos", f"photo {entry.id} is over the size limit", f"照片 {entry.id} 超过大小上限"
                )
            )
    if problems:
        raise SubmissionInvalid(
            f"{len(problems)} problem(s) with the answers.",
            detail_zh=f"检查结果有 {len(problems)} 处问题。",
            extra={"items": [p.as_json() for p in problems]},
        )
    return photo_items


def body_json(body: schemas.SubmissionIn) -> dict[str, Any]:
    """The body as stored and digested; `repeats` only when there are some, so a body sent before repeat groups
    existed keeps its digest (a phone's retry of it is the same submission, not a conflict)."""
    data = body.model_dump(mode="json")
    if not data["repeats"]:
        del data["repeats"]
    return data


def body_digest(body: schemas.SubmissionIn) -> str:
    return json_sha256(body_json(body))


def _conflicts(
    session: Session, visit: Visit, version_status: VersionStatus, user: User, replaces: uuid.UUID | None
) -> list[str]:
    reasons = []
    if visit.status == VisitStatus.cancelled:
        reasons.append("visit_cancelled")
    if visit.status == VisitStatus.approved:
        reasons.append("visit_approved")
    if visit.status == VisitStatus.submitted and not _replaces_own_incomplete(session, visit, user, replaces):
        reasons.append("visit_already_submitted")
    if visit.manager_id != user.id:
        reasons.append("visit_reassigned")
    if version_status == VersionStatus.retired:
        reasons.append("template_retired")
    return reasons


def _replaces_own_incomplete(session: Session, visit: Visit, user: User, replaces: uuid.UUID | None) -> bool:
    """The manager resubmits, naming their last submission, which still waits for a photo the server
    refused (the phone took another in its place): the new one takes its place, it is not a second capture."""
    if replaces is None:
        return False
    from api.review import service as review_service  # review imports this module

    last = review_service.latest_submission(session, visit_id=visit.id)
    return (
        last is not None
        and last.id == replaces
        and last.submitted_by_id == user.id
        and last.state == SubmissionState.incomplete
    )


@dataclass(frozen=True)
class Stored:
    """What `submit` wrote: the manifest, and the photos of it already here (read to tick them off, and
    handed to the rules so that they are not read again)."""

    manifest: list[ManifestPhoto]
    photos: list[Photo]


def _same_or_conflict(existing: Submission, visit_id: uuid.UUID, digest: str) -> Submission:
    if existing.visit_id != visit_id or existing.body_sha256 != digest:
        raise SubmissionIdConflict(
            "The first submission with this UUID had a different body; it is kept as it was.",
            detail_zh="此编号的首次提交内容不同，已按首次提交保存。",
        )
    return existing


# What storing a submission reads first — the visit, its checklist version's status (a retired version is a
# conflict) and the submission already stored under this UUID, if any — in one statement, not three lookups:
# every inspection runs it. Built once.
_SUBMITTING = (
    select(Visit, col(TemplateVersion.status), Submission)
    .join(TemplateVersion, col(TemplateVersion.id) == col(Visit.template_version_id))
    .outerjoin(Submission, col(Submission.id) == bindparam("submission_id"))
    .where(col(Visit.id) == bindparam("visit_id"))
)


def submit(
    session: Session,
    *,
    settings: Settings,
    user: User,
    visit_id: uuid.UUID,
    submission_id: uuid.UUID,
    body: schemas.SubmissionIn,
) -> tuple[Submission, Stored | None]:
    """Store a submission. A retry gets the first result; the same UUID with another body is a 409.
    Returns the submission and, when this call stored it, what it wrote (None for one stored before)."""
    visit_service.require_capturer(user)
    found = session.execute(_SUBMITTING, {"visit_id": visit_id, "submission_id": submission_id}).first()
    visit, version_status, existing = found if found is not None else (None, None, None)
    visit = visit_service.captured_by(session, user=user, visit=visit)
    assert version_status is not None  # the visit was found, and its version with it (a foreign key)
    digest = body_digest(body)
    if existing is not None:
        return _same_or_conflict(existing, visit_id, digest), None
    definition = checklist_service.pinned_definition(session, version_id=visit.template_version_id)
    photo_items = validate(definition, body, settings)
    reasons = _conflicts(session, visit, version_status, user, body.replaces)
    # The photos already here are looked up first, so that the submission and its manifest are written once,
    # in their final state (written incomplete and then completed, each write had its audit and feed rows).
    manifest = [
        ManifestPhoto(
            submission_id=submission_id,
            photo_id=entry.id,
            sha256=entry.sha256,
            size=entry.size,
            item_key=photo_items[entry.id],
            arrived=False,
        )
        for entry in body.photos
    ]
    # With a photo of it being kept, or judged once its derivatives exist: one waits for the other's commit.
    take_turns(session, namespace=PHOTO_TURNS, ids=[row.photo_id for row in manifest])
    arrived = _match_arrived_photos(session, visit_id=visit.id, rows=manifest)
    complete = all(row.arrived for row in manifest)
    status_after = VisitStatus.submitted if visit.status in AWAITING_MANAGER else visit.status
    submission = Submission(
        id=submission_id,
        visit_id=visit.id,
        branch_id=visit.branch_id,
        submitted_by_id=user.id,
        template_version_id=visit.template_version_id,
        body_sha256=digest,
        body=body_json(body),
        state=SubmissionState.complete if complete else SubmissionState.incomplete,
        completed_at=utcnow() if complete else None,
        conflict=bool(reasons),
        conflict_reasons=reasons,
        visit_status_after=status_after.value,
    )
    # No savepoint: the submission is the request's first write, so when another request (a retry, another
    # process) stores this UUID meanwhile, the primary key refuses this flush and the caller rolls the whole
    # transaction back (`stored_meanwhile`). One flush writes the submission, its manifest, the visit's
    # transition and their audit and feed rows.
    session.add(submission)
    session.add_all(manifest)
    if status_after != visit.status:
        visit_service.transition(visit, status_after)
        visit.submitted_at = utcnow()
    session.flush()
    return submission, Stored(manifest, arrived)


def stored_meanwhile(
    session: Session, *, visit_id: uuid.UUID, submission_id: uuid.UUID, body: schemas.SubmissionIn
) -> Submission:
    """The answer once `submit` lost the race for its UUID (its transaction rolled back): the submission the
    other request stored — or 409 when it had another body, or when none is to be found after all."""
    winner = session.get(Submission, submission_id)
    if winner is None:
        raise RaceLost()
    return _same_or_conflict(winner, visit_id, body_digest(body))


def _match_arrived_photos(session: Session, *, visit_id: uuid.UUID, rows: list[ManifestPhoto]) -> list[Photo]:
    """Tick off the photos already here (the rows are not in the session yet); returns those photos."""
    if not rows:
        return []
    photos = {
        photo.id: photo for photo in session.scalars(PHOTOS_BY_ID, {"ids": [row.photo_id for row in rows]})
    }
    for row in rows:
        photo = photos.get(row.photo_id)
        if photo is not None:
            _mark(row, photo, visit_id)
    return list(photos.values())


def _mark(row: ManifestPhoto, photo: Photo, visit_id: uuid.UUID) -> None:
    if photo.sha256 != row.sha256 or photo.size != row.size:
        row.mismatch = "sha256_mismatch"
        row.arrived = False
    elif photo.visit_id != visit_id:
        row.mismatch = "other_visit"
        row.arrived = False
    else:
        row.arrived, row.mismatch = True, None


def _recompute_state(session: Session, *, submission: Submission, rows: list[ManifestPhoto]) -> None:
    if all(row.arrived for row in rows) and submission.state != SubmissionState.complete:
        submission.state = SubmissionState.complete
        submission.completed_at = utcnow()
    session.flush()


# Every manifest that lists a photo, whole, with its submission: one statement (the everyday photo arrives
# before its submission and finds none). Built once: building it and its cache key on every call cost more
# than running it (~1 ms here, against a few hundredths of a millisecond for a statement built once).
_listing = aliased(ManifestPhoto)
_MANIFESTS_LISTING = (
    select(ManifestPhoto, Submission)
    .join(Submission, col(Submission.id) == col(ManifestPhoto.submission_id))
    .where(
        col(ManifestPhoto.submission_id).in_(
            select(col(_listing.submission_id)).where(col(_listing.photo_id) == bindparam("photo_id"))
        )
    )
    .order_by(col(ManifestPhoto.submission_id), col(ManifestPhoto.photo_id))
)


def photo_arrived(session: Session, *, photo: Photo) -> list[Submission]:
    """A photo was kept: tick it off every manifest that waits for it. Returns the submissions touched."""
    take_turns(session, namespace=PHOTO_TURNS, ids=[photo.id])  # with a submission being stored
    found = session.execute(_MANIFESTS_LISTING, {"photo_id": photo.id}).all()
    manifests: dict[uuid.UUID, tuple[Submission, list[ManifestPhoto]]] = {}
    for row, submission in found:
        manifests.setdefault(submission.id, (submission, []))[1].append(row)
    for submission, rows in manifests.values():
        for row in rows:
            if row.photo_id == photo.id:
                _mark(row, photo, submission.visit_id)
        _recompute_state(session, submission=submission, rows=rows)
    return [submission for submission, _rows in manifests.values()]


def out(
    session: Session,
    submission: Submission,
    *,
    stored: tuple[list[ManifestPhoto], list[Discrepancy]] | None = None,
) -> schemas.SubmissionOut:
    """The submission as the phone is answered. `stored`: its manifest and findings when this request has
    just written them (they are not read back)."""
    from api.rules import service as rules_service
    from api.rules.schemas import DiscrepancyPublic

    if stored is None:
        findings = rules_service.of_submission(session, submission_id=submission.id)
        rows: Iterable[ManifestPhoto] = session.scalars(
            select(ManifestPhoto)
            .where(ManifestPhoto.submission_id == submission.id, col(ManifestPhoto.arrived).is_(False))
            .order_by(col(ManifestPhoto.photo_id))
        )
    else:
        manifest, findings = stored
        rows = sorted((row for row in manifest if not row.arrived), key=lambda row: str(row.photo_id))
        findings = sorted(findings, key=lambda finding: (finding.created_at, str(finding.id)))
    return schemas.SubmissionOut(
        id=submission.id,
        visit_id=submission.visit_id,
        state=submission.state,
        missing_photos=[
            schemas.MissingPhoto(
                id=row.photo_id, item_key=row.item_key, reason=row.mismatch or "not_received"
            )
            for row in rows
        ],
        conflict=submission.conflict,
        conflict_reasons=list(submission.conflict_reasons),
        visit_status=submission.visit_status_after,
        received_at=submission.received_at,
        completed_at=submission.completed_at,
        discrepancies=[DiscrepancyPublic.model_validate(f) for f in findings],
    )


def record(session: Session, submission: Submission) -> schemas.SubmissionRecord:
    base = out(session, submission)
    return schemas.SubmissionRecord(
        **base.model_dump(),
        submitted_by_id=submission.submitted_by_id,
        body=schemas.SubmissionIn.model_validate(submission.body),
    )


def get_submission_for(session: Session, *, user: User, submission_id: uuid.UUID) -> Submission:
    submission = session.get(Submission, submission_id)
    if submission is None or (
        submission.submitted_by_id != user.id
        and not visit_service.can_see_visit(session, user=user, visit_id=submission.visit_id)
    ):
        raise NotFound("No such submission.", detail_zh="提交记录不存在。")
    return submission


def submissions_of(session: Session, *, visit: Visit) -> list[Submission]:
    return list(
        session.scalars(
            select(Submission)
            .where(col(Submission.visit_id) == visit.id)
            .order_by(col(Submission.received_at))
        )
    )


# ---- the offline work package ----


def work_package(session: Session, *, settings: Settings, user: User) -> schemas.WorkPackage:
    visits = list(
        session.scalars(
            select(Visit)
            .where(Visit.manager_id == user.id, col(Visit.status).in_(AWAITING_MANAGER))
            .order_by(col(Visit.due_on), col(Visit.id))
        )
    )
    contacts = recent_contacts(session, borrower_ids={v.borrower_id for v in visits})
    entries = []
    for visit in visits:
        entries.append(
            schemas.PackageVisit(
                visit=visit_service.detail(session, visit=visit, settings=settings),
                previous_visit=previous_visit(session, visit=visit),
                review_comment=review_comment(session, visit=visit),
                returned=returned_submission(session, visit=visit),
                contacts=contacts.get(visit.borrower_id, []),
            )
        )
    return schemas.WorkPackage(manager_id=user.id, visits=entries)


RECENT_CONTACTS = 5


def recent_contacts(session: Session, *, borrower_ids: set[uuid.UUID]) -> dict[uuid.UUID, list[Any]]:
    """The last few contacts with each borrower, for the manager to read on site before meeting them again.
    One query for the whole package; each borrower's newest first."""
    from api.contacts import service as contact_service
    from api.contacts.models import Contact

    rows = first_per(
        session,
        Contact,
        Contact.borrower_id,
        borrower_ids,
        (col(Contact.occurred_at).desc(),),
        keep=RECENT_CONTACTS,
    )
    found: dict[uuid.UUID, list[Any]] = {}
    for contact in rows:
        found.setdefault(contact.borrower_id, []).append(contact_service.public(session, contact))
    return found


def returned_submission(session: Session, *, visit: Visit) -> schemas.ReturnedSubmission | None:
    """A returned visit's last submission with its photos and the items to change."""
    from api.review import service as review_service
    from api.rules.models import Discrepancy

    review = review_service.last_return(session, visit=visit)
    submission = session.get(Submission, review.submission_id) if review else None
    if review is None or submission is None:
        return None
    body = schemas.SubmissionIn.model_validate(submission.body)
    manifest = [entry.id for entry in body.photos]
    held = list(session.scalars(select(Photo).where(col(Photo.id).in_(manifest)))) if manifest else []
    photos = [
        schemas.ReturnedPhoto(
            id=photo.id,
            item_key=photo.item_key,
            sha256=photo.sha256,
            size=photo.size,
            thumbnail=f"/api/v1/photos/{photo.id}/thumbnail",
        )
        for photo in held
        if photo.visit_id == visit.id
    ]
    findings = list(
        session.scalars(
            select(Discrepancy)
            .where(col(Discrepancy.submission_id) == submission.id)
            .order_by(col(Discrepancy.created_at), col(Discrepancy.id))
        )
    )
    marked = list(dict.fromkeys([*review.items, *(f.item_key for f in findings if f.item_key)]))
    return schemas.ReturnedSubmission(
        submission_id=submission.id,
        body=body,
        photos=photos,
        marked_items=marked,
        findings=[DiscrepancyPublic.model_validate(f) for f in findings],
    )


def review_comment(session: Session, *, visit: Visit) -> str | None:
    """The reviewer's comment on a returned visit."""
    from api.review import service as review_service

    return review_service.return_comment(session, visit=visit)


# Last time's photos in a work package: enough to frame the same views, few enough for a phone offline.
PREVIOUS_PHOTOS = 30


def previous_visit(session: Session, *, visit: Visit) -> schemas.PreviousVisit | None:
    earlier = session.scalar(
        select(Visit)
        .where(
            Visit.subject_id == visit.subject_id,
            Visit.status == VisitStatus.approved,
            Visit.id != visit.id,
        )
        .order_by(col(Visit.decided_at).desc())
        .limit(1)
    )
    if earlier is None:
        return None
    manager = session.get(User, earlier.manager_id)
    last = session.scalar(
        select(Submission)
        .where(Submission.visit_id == earlier.id)
        .order_by(col(Submission.received_at).desc())
        .limit(1)
    )
    body = last.body if last else {}
    notes = str(body.get("notes", ""))
    kept = [
        uuid.UUID(str(photo_id))
        for answer in (body.get("answers") or {}).values()
        for photo_id in ((answer or {}).get("photos") or [])
    ]
    photos: list[Photo] = (
        list(
            session.scalars(
                select(Photo)
                .where(col(Photo.id).in_(kept), col(Photo.thumbnail_sha256).is_not(None))
                .order_by(col(Photo.item_key), col(Photo.received_at), col(Photo.id))
                .limit(PREVIOUS_PHOTOS)
            )
        )
        if kept
        else []
    )
    return schemas.PreviousVisit(
        visit_id=earlier.id,
        approved_at=earlier.decided_at,
        submitted_at=earlier.submitted_at,
        manager_name=manager.display_name if manager else "",
        notes=notes[:500],
        photos=[
            schemas.PreviousPhoto(id=p.id, item_key=p.item_key, thumbnail=f"/api/v1/photos/{p.id}/thumbnail")
            for p in photos
        ],
    )


def package_etag(package: schemas.WorkPackage) -> str:
    return '"' + hashlib.sha256(package.model_dump_json().encode()).hexdigest()[:32] + '"'
