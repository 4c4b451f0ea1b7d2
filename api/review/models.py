from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Enum, ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, UTCDateTime, new_id, utcnow


class Decision(enum.StrEnum):
    approve = "approve"
    return_ = "return"


class VisitReview(Base):
    __tablename__ = "visit_review"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visit.id"), index=True)
    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("submission.id"))
    reviewer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_user.id"))
    decision: Mapped[Decision] = mapped_column(
        Enum(Decision, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
