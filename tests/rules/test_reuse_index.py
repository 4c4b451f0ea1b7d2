"""The band index finds exactly what a linear scan finds."""

from __future__ import annotations

import random
import uuid

from sqlalchemy import insert
from sqlalchemy.orm import Session

from api.photos.inspection import hamming
from api.photos.models import Photo
from api.rules.engine import similar_photos
from tests.factories import hashed_photo_row, make_bank, make_visit


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def test_index_lookup_agrees_with_a_linear_scan(session: Session) -> None:
    bank = make_bank(session)
    other_visit = make_visit(session, collateral=bank.one.collateral, version=bank.version)
    session.commit()
    rng = random.Random(42)
    stored: dict[uuid.UUID, int] = {}
    rows = []
    for _ in range(2000):
        value = _signed(rng.getrandbits(64))
        row = hashed_photo_row(
            world=bank.one, visit_id=other_visit.id, phash=value, sha256=f"{rng.getrandbits(256):064x}"
        )
        stored[row["id"]] = value
        rows.append(row)
    session.execute(insert(Photo), rows)
    session.commit()
    values = list(stored.values())
    queries = []
    for n in range(60):
        base = values[rng.randrange(len(values))]
        flipped = base & 0xFFFFFFFFFFFFFFFF
        for bit in rng.sample(range(64), n % 9):  # 0..8 bits away: inside and outside the threshold
            flipped ^= 1 << bit
        queries.append(_signed(flipped))
    queries += [_signed(rng.getrandbits(64)) for _ in range(20)]
    for query in queries:
        expected = {pid for pid, value in stored.items() if hamming(value, query) <= 6}
        found = {
            photo.id
            for photo, _distance in similar_photos(
                session, hashes=[query], max_distance=6, exclude_visit=bank.one.visit.id, limit=10_000
            )
        }
        assert found == expected
    # Photos of the visit itself never count as reuse.
    assert similar_photos(session, hashes=values[:1], max_distance=6, exclude_visit=other_visit.id) == []


def test_the_photo_being_judged_is_left_out_but_its_twin_in_another_visit_is_found(session: Session) -> None:
    """`own` drops the judged photo's own hash only when no other stored photo has it: a twin elsewhere
    (the same picture sent again for another borrower) is still found at distance 0."""
    bank = make_bank(session)
    elsewhere = make_visit(session, collateral=bank.one.collateral, version=bank.version)
    session.commit()
    value = _signed(0x0123_4567_89AB_CDEF)
    mine = hashed_photo_row(world=bank.one, visit_id=bank.one.visit.id, phash=value, sha256="a" * 64)
    session.execute(insert(Photo), [mine])
    session.commit()

    def lookup() -> list[tuple[Photo, int]]:
        return similar_photos(
            session, hashes=[value], max_distance=6, exclude_visit=bank.one.visit.id, own=value
        )

    assert lookup() == []
    twin = hashed_photo_row(world=bank.one, visit_id=elsewhere.id, phash=value, sha256="b" * 64)
    session.execute(insert(Photo), [twin])
    session.commit()
    assert [(photo.id, distance) for photo, distance in lookup()] == [(twin["id"], 0)]
