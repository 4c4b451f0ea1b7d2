"""Publishing checks that every rule fits its item — the item type it judges, the parameters it reads, values
it can use — and the template builder asks the same checks without saving (POST /template-checks)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.demo import COLLATERAL_TEMPLATE, PROJECT_TEMPLATE
from tests.factories import login, make_bank


def _with_rule(item: dict[str, Any], rule: dict[str, Any]) -> dict[str, Any]:
    return {
        "sections": [{"key": "s", "title_zh": "部分", "title_en": "Part", "items": [{**item, "rule": rule}]}]
    }


BOOLEAN = {"key": "present", "type": "boolean", "label_zh": "在位", "label_en": "There"}
CHOICE = {
    "key": "state", "type": "choice", "label_zh": "状态", "label_en": "State",
    "choices": [{"value": "good", "label_zh": "好", "label_en": "Good"},
                {"value": "poor", "label_zh": "差", "label_en": "Poor"}],
}  # fmt: skip
PHOTO = {"key": "overview", "type": "photo", "label_zh": "全景", "label_en": "Overview"}
COUNT = {"key": "count", "type": "integer", "label_zh": "数量", "label_en": "Count", "binds_to": "quantity"}


@pytest.mark.parametrize(
    ("definition", "says"),
    [
        (_with_rule(BOOLEAN, {"key": "photo_location"}), "photo_location judges photo items, not boolean"),
        (_with_rule(PHOTO, {"key": "photo_location", "params": {"radius": 300}}), "no parameter 'radius'"),
        (_with_rule(PHOTO, {"key": "photo_location", "params": {"max_m": -5}}), "max_m cannot be -5"),
        (_with_rule(PHOTO, {"key": "photo_time", "params": {"max_age_hours": "24"}}), "cannot be '24'"),
        (_with_rule(BOOLEAN, {"key": "expected_answer", "params": {"expected": "yes"}}), "not a possible answer"),
        (_with_rule(CHOICE, {"key": "expected_answer", "params": {"expected": ["good", "broken"]}}),
         "not a possible answer"),
        (_with_rule(COUNT, {"key": "value_tolerance", "params": {"tolerance": 1, "mode": "percent"}}),
         "mode cannot be 'percent'"),
        (_with_rule(COUNT, {"key": "expected_answer", "params": {"expected": 2.5}}), "not a possible answer"),
        (_with_rule(PHOTO, {"key": "required_evidence", "params": {"note_required": "yes"}}), "cannot be 'yes'"),
    ],
)  # fmt: skip
def test_a_rule_that_does_not_fit_its_item_is_refused(
    client: TestClient, session: Session, definition: dict[str, Any], says: str
) -> None:
    headers = login(client, make_bank(session).one.admin)
    answer = client.post("/api/v1/template-checks", json={"definition": definition}, headers=headers)
    assert answer.status_code == 422
    messages = [error["message"] for error in answer.json()["errors"]]
    assert any(says in message for message in messages), messages
    assert answer.json()["errors"][0]["field"].startswith("body.definition.sections.0.items.0")
    made = client.post(
        "/api/v1/templates",
        json={
            "code": "fit",
            "subject_type": "collateral",
            "name_zh": "模板",
            "name_en": "T",
            "definition": definition,
        },
        headers=headers,
    )
    assert made.status_code == 422  # saving refuses it the same way


def test_the_demo_checklists_pass_and_are_summed_up(client: TestClient, session: Session) -> None:
    headers = login(client, make_bank(session).one.admin)
    for definition, repeated in ((COLLATERAL_TEMPLATE, 1), (PROJECT_TEMPLATE, 0)):
        answer = client.post("/api/v1/template-checks", json={"definition": definition}, headers=headers)
        assert answer.status_code == 200, answer.text
        summary = answer.json()
        assert summary["sections"] == len(definition["sections"])  # type: ignore[arg-type]
        assert summary["items"] == sum(len(s["items"]) for s in definition["sections"])  # type: ignore[attr-defined]
        assert summary["repeated_sections"] == repeated and summary["with_rules"] > 3


def test_only_admins_check_templates(client: TestClient, session: Session) -> None:
    headers = login(client, make_bank(session).one.manager)
    body = {"definition": copy.deepcopy(PROJECT_TEMPLATE)}
    assert client.post("/api/v1/template-checks", json=body, headers=headers).status_code == 403
