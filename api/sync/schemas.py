"""Shapes of a submission (what the device sends and what it is told), the work package and the feed."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.contacts.schemas import ContactPublic
from api.rules.schemas import DiscrepancyPublic
from api.sync.models import SubmissionState
from api.visits.schemas import VisitDetail

Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Fix(Strict):
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    accuracy_m: float = Field(ge=0, le=1_000_000, allow_inf_nan=False)
    fixed_at: AwareDatetime


class Answer(Strict):
    value: Any = Field(
        None, description="bool, number, choice value, text, or {lat, lon, accuracy_m} for a location item."
    )
    note: str | None = Field(None, max_length=4000)
    photos: list[uuid.UUID] = Field(default_factory=list, max_length=50)


class ManifestEntry(Strict):
    id: uuid.UUID
    sha256: Sha256Hex
    size: int = Field(gt=0)


class SubmissionIn(Strict):
    check_in: Fix | None = Field(None, description="The GPS fix at check-in (WGS-84).")
    answers: dict[Annotated[str, Field(max_length=64)], Answer] = Field(max_length=500)
    notes: str = Field("", max_length=20_000)
    replaces: uuid.UUID | None = Field(
        None,
        description="The submission this one takes the place of: the manager's last, still incomplete because "
        "the server refused one of its photos and the phone took another. Without it, a second submission "
        "for a submitted visit is flagged `visit_already_submitted`.",
    )
    repeats: dict[
        Annotated[str, Field(max_length=64)],
        Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=50)],
    ] = Field(
        default_factory=dict,
        max_length=50,
        description="The repeats of each repeated section, in order: the declared members the phone had (a "
        "section repeated over a declared list) or the manager's label for each one added (may be empty). "
        "Answers and photos of the n-th are keyed `item_key[n]`.",
    )
    device_started_at: AwareDatetime | None = None
    device_finished_at: AwareDatetime | None = None
    photos: list[ManifestEntry] = Field(
        default_factory=list, max_length=500, description="Every photo this submission refers to."
    )
    device: dict[str, str] = Field(
        default_factory=dict, max_length=20, description="App version, user agent…"
    )


class MissingPhoto(BaseModel):
    id: uuid.UUID
    item_key: str
    reason: str = Field(description="not_received, or sha256_mismatch when a photo arrived with other bytes.")


class SubmissionOut(BaseModel):
    id: uuid.UUID
    visit_id: uuid.UUID
    state: SubmissionState
    missing_photos: list[MissingPhoto]
    conflict: bool
    conflict_reasons: list[str] = Field(
        description="visit_cancelled, visit_approved, visit_reassigned, template_retired, visit_already_submitted"
    )
    visit_status: str = Field(description="The visit's state right after this submission was accepted.")
    received_at: dt.datetime
    completed_at: dt.datetime | None
    discrepancies: list[DiscrepancyPublic] = Field(
        default_factory=list, description="What the rules found so far."
    )


class SubmissionRecord(SubmissionOut):
    submitted_by_id: uuid.UUID
    body: SubmissionIn


class PreviousPhoto(BaseModel):
    id: uuid.UUID
    item_key: str
    thumbnail: str = Field(
        description="Link to the thumbnail; the app keeps it on the phone with the package."
    )


class PreviousVisit(BaseModel):
    visit_id: uuid.UUID
    approved_at: dt.datetime | None
    submitted_at: dt.datetime | None
    manager_name: str
    notes: str
    photos: list[PreviousPhoto] = Field(
        default_factory=list,
        description="The approved submission's photos (at most 30), so the manager frames the same views.",
    )


class ReturnedPhoto(BaseModel):
    id: uuid.UUID
    item_key: str
    sha256: str
    size: int
    thumbnail: str = Field(description="Link to the thumbnail (needs the manager's token).")


class ReturnedSubmission(BaseModel):
    """What a returned visit's last submission said, so the phone opens it pre-filled: its photos are on the
    server already and a resubmission lists them again without sending them."""

    submission_id: uuid.UUID
    body: SubmissionIn
    photos: list[ReturnedPhoto] = Field(description="The photos of the submission that the server holds.")
    marked_items: list[str] = Field(
        description="Items to change: those the reviewer marked, then those the rules found a discrepancy on."
    )
    findings: list[DiscrepancyPublic]


class PackageVisit(BaseModel):
    visit: VisitDetail
    previous_visit: PreviousVisit | None
    review_comment: str | None = Field(None, description="The reviewer's comment on a returned visit.")
    returned: ReturnedSubmission | None = Field(
        None, description="On a returned visit: the submission returned, to start from."
    )
    contacts: list[ContactPublic] = Field(
        default_factory=list,
        description="The last contacts with the borrower (沟通记录), newest first (≤ 5).",
    )


class WorkPackage(BaseModel):
    manager_id: uuid.UUID
    visits: list[PackageVisit]


class Change(BaseModel):
    seq: int
    entity_type: str = Field(description="visit, submission, photo or task")
    entity_id: uuid.UUID
    op: str = Field(
        description="created, updated, cancelled (a visit), reassigned (the new owner's row), removed (a "
        "tombstone: the record left your scope — reassigned to someone else), deleted (a tombstone: it is gone)"
    )
    visit_id: uuid.UUID | None
    recorded_at: dt.datetime


class ChangePage(BaseModel):
    items: list[Change]
    next_after: int = Field(description="Pass as `after` next time; equals `after` when nothing new.")
