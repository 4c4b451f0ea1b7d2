"""What is hashed is what the database gives back, byte for byte: arbitrary JSON written through the real
write path verifies intact on both databases, and any edit, deletion or reordering is still named."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api.audit import service
from api.audit.models import AuditEvent
from api.demo import COLLATERAL_TEMPLATE
from api.portfolio.models import Collateral
from tests.factories import login, make_bank
from tests.sync.helpers import capture_photos, put_photo, submission_body

# Text as a client can send it: any Unicode but NUL and lone surrogates, which requests refuse.
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=300)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1e16, 1.1e76, -0.0, 5e-324, 1.7976931348623157e308, 2**53 + 1, -(2**63)])
    | TEXT
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT.filter(bool), inner, max_size=4),
    max_leaves=12,
)


def _newest(session: Session) -> AuditEvent:
    row = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()
    return row


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=JSON_VALUES)
def test_arbitrary_json_seals_and_verifies_exactly(app: FastAPI, session: Session, value: Any) -> None:
    collateral = session.scalars(select(Collateral).limit(1)).first()
    if collateral is None:
        collateral = make_bank(session).one.collateral
    collateral_id = collateral.id
    collateral.identifiers = {"evidence": value, "nonce": uuid.uuid4().hex}
    session.commit()
    service.seal(app.state.engine)
    session.rollback()
    verdict = service.verify(session)
    assert verdict.ok, verdict

    newest = _newest(session)
    assert newest.entity_id == str(collateral_id) and newest.after is not None
    original = newest.content
    session.execute(update(AuditEvent).where(AuditEvent.id == newest.id).values(content=original + " "))
    session.commit()
    edited = service.verify(session)
    assert not edited.ok and edited.first_bad_seq == newest.seq and "content" in (edited.problem or "")
    session.execute(update(AuditEvent).where(AuditEvent.id == newest.id).values(content=original))
    session.commit()
    assert service.verify(session).ok


def test_huge_numbers_in_answers_and_templates_keep_the_chain_intact(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    bank = make_bank(session)
    admin = login(client, bank.one.admin)
    definition = copy.deepcopy(COLLATERAL_TEMPLATE)
    definition["sections"][0]["items"][0]["help_en"] = "max below"
    for section in definition["sections"]:
        for item in section["items"]:
            if item["type"] == "number":
                item["max"] = 1.1e76
    created = client.post(
        "/api/v1/templates",
        json={"code": "huge", "subject_type": "collateral", "name_zh": "大", "name_en": "Huge",
              "definition": definition},
        headers=admin,
    )  # fmt: skip
    assert created.status_code == 201, created.text

    manager = login(client, bank.one.manager)
    photos = capture_photos(seed=5)
    for photo in photos:
        assert put_photo(client, manager, bank.one.visit.id, photo).status_code in (200, 201)
    body = submission_body(photos)
    body["answers"]["observed_quantity"] = {"value": 1e16}
    answer = client.put(
        f"/api/v1/visits/{bank.one.visit.id}/submissions/{uuid.uuid4()}", json=body, headers=manager
    )
    assert answer.status_code in (200, 201), answer.text

    service.seal(app.state.engine)
    session.rollback()
    verdict = service.verify(session)
    assert verdict.ok and verdict.checked > 5, verdict
