from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict

from api.checklists.schemas import Severity


class DiscrepancyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    visit_id: uuid.UUID
    submission_id: uuid.UUID | None
    photo_id: uuid.UUID | None
    rule_key: str
    item_key: str
    severity: Severity
    expected: Any
    observed: Any
    explanation_zh: str
    explanation_en: str
    related_visit_id: uuid.UUID | None
    task_id: uuid.UUID | None
    created_at: dt.datetime
