"""The first few rows of each of many owners in one query: the newest repayment status of every facility, the
three newest approved visits of every subject, the last contacts with every borrower — a window over the
owners' rows instead of one query per owner."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import func
from sqlalchemy.orm import Session, aliased
from sqlmodel import col, select


def first_per(
    session: Session,
    model: Any,
    owner: Any,
    owner_ids: Collection[uuid.UUID],
    order: tuple[Any, ...],
    *,
    where: tuple[Any, ...] = (),
    keep: int = 1,
) -> list[Any]:
    """The first `keep` rows of each owner in `order`, ranked first: every owner's first row, then every
    owner's second..., so grouping them by owner keeps each owner's rows in `order`."""
    if not owner_ids:
        return []
    rank = func.row_number().over(partition_by=col(owner), order_by=order).label("rank")
    ranked = select(model, rank).where(col(owner).in_(owner_ids), *where).subquery()
    return list(
        session.scalars(select(aliased(model, ranked)).where(ranked.c.rank <= keep).order_by(ranked.c.rank))
    )
