from __future__ import annotations

import itertools

import pytest

from api.errors import InvalidTransition
from api.visits.models import Visit, VisitStatus
from api.visits.service import ALLOWED, transition

LEGAL = {
    ("scheduled", "in_progress"), ("scheduled", "submitted"), ("scheduled", "cancelled"),
    ("in_progress", "submitted"), ("in_progress", "cancelled"),
    ("submitted", "approved"), ("submitted", "returned"), ("submitted", "cancelled"),
    ("returned", "submitted"), ("returned", "cancelled"),
}  # fmt: skip


@pytest.mark.parametrize("start, end", list(itertools.product(VisitStatus, VisitStatus)))
def test_every_pair_of_states(start: VisitStatus, end: VisitStatus) -> None:
    visit = Visit(status=start)
    if (start.value, end.value) in LEGAL:
        transition(visit, end)
        assert visit.status == end
    else:
        with pytest.raises(InvalidTransition):
            transition(visit, end)
        assert visit.status == start


def test_approved_and_cancelled_are_final() -> None:
    assert ALLOWED[VisitStatus.approved] == frozenset()
    assert ALLOWED[VisitStatus.cancelled] == frozenset()
