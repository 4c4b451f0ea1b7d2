"""The contact log's API shapes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from api.contacts.models import Channel
from api.db import PUBLIC
from api.kit.dates import IsoDate, IsoDateTime

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ContactStrict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContactPerson(ContactStrict):
    name: Name
    title: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = Field(
        "", description="财务总监, 总经理, 出纳…"
    )


class CommitmentIn(ContactStrict):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
    due_on: IsoDate


class ContactIn(ContactStrict):
    """One meeting, call or message with the borrower's people, as the manager recorded it (offline too: the
    id is the phone's, so sending it again keeps one)."""

    borrower_id: uuid.UUID
    visit_id: uuid.UUID | None = Field(None, description="The visit it happened on, when it did.")
    occurred_at: IsoDateTime
    channel: Channel
    people: list[ContactPerson] = Field(min_length=1, max_length=20)
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
    commitments: list[CommitmentIn] = Field(
        default_factory=list, max_length=20, description="Each becomes a follow-up task due on its date."
    )

    @model_validator(mode="after")
    def _dates(self) -> ContactIn:
        if self.occurred_at.year < 2000:
            raise ValueError("occurred_at is before 2000")
        for commitment in self.commitments:
            if commitment.due_on < self.occurred_at.date() - dt.timedelta(days=1):
                raise ValueError("a commitment is due before the contact happened")
        return self


class CommitmentPublic(BaseModel):
    text: str
    due_on: dt.date
    task_id: uuid.UUID | None = None


class ContactPublic(BaseModel):
    model_config = PUBLIC

    id: uuid.UUID
    borrower_id: uuid.UUID
    visit_id: uuid.UUID | None
    recorded_by_id: uuid.UUID
    recorded_by_name: str = ""
    occurred_at: dt.datetime
    channel: Channel
    people: list[ContactPerson]
    summary: str
    commitments: list[CommitmentPublic]
    created_at: dt.datetime
