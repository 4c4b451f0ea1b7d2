from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from api.exports.formats import Format
from api.exports.models import ExportState
from api.kit.dates import IsoAwareDateTime, IsoDate
from api.visits.models import VisitStatus
from api.visits.service import VisitFilter


class VisitFilterIn(BaseModel):
    """The visit list's filters, as a body (they are query parameters on GET /visits)."""

    model_config = ConfigDict(extra="forbid")

    status: list[VisitStatus] | None = Field(None, max_length=10)
    branch_id: uuid.UUID | None = None
    manager_id: uuid.UUID | None = None
    subject_id: uuid.UUID | None = None
    borrower_id: uuid.UUID | None = None
    due_from: IsoDate | None = None
    due_to: IsoDate | None = None
    updated_since: IsoAwareDateTime | None = None
    overdue: StrictBool | None = None  # `0` is not `false` in a JSON body

    def visit_filter(self) -> VisitFilter:
        return VisitFilter(**{name: getattr(self, name) for name in type(self).model_fields})


class ExportJobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Format = "csv"
    filters: VisitFilterIn = Field(default_factory=VisitFilterIn)


class ExportJobPublic(BaseModel):
    id: uuid.UUID
    format: str
    filters: VisitFilterIn
    state: ExportState
    created_at: dt.datetime
    finished_at: dt.datetime | None
    expires_at: dt.datetime | None
    size: int | None
    sha256: str | None = Field(description="Of the file, to check the download.")
    error: str | None
    download_url: str | None = Field(
        description="While `done`: a signed link that needs no token, valid until `expires_at`."
    )
