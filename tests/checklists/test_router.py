from __future__ import annotations

import copy
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.demo import COLLATERAL_TEMPLATE
from tests.factories import login, make_bank


def _create(client: TestClient, headers: dict[str, str], **overrides: Any) -> Any:
    body = {
        "code": "warehouse_check",
        "subject_type": "collateral",
        "name_zh": "仓库检查",
        "name_en": "Warehouse check",
        "definition": COLLATERAL_TEMPLATE,
        **overrides,
    }
    return client.post("/api/v1/templates", json=body, headers=headers)


def test_draft_publish_edit_retire(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    admin = login(client, bank.one.admin)
    draft = _create(client, admin)
    assert draft.status_code == 201
    assert draft.json()["status"] == "draft"
    template_id, v1 = draft.json()["template_id"], draft.json()["id"]

    published = client.post(f"/api/v1/template-versions/{v1}/publish", headers=admin)
    assert published.json()["status"] == "published"

    # Editing a published template never touches it: a new draft version appears.
    changed = copy.deepcopy(COLLATERAL_TEMPLATE)
    changed["sections"][0]["items"][1]["label_zh"] = "押品是否仍在原处"
    edit = client.put(f"/api/v1/templates/{template_id}/draft", json={"definition": changed}, headers=admin)
    assert edit.json()["version"] == 2
    assert edit.json()["status"] == "draft"
    v1_now = client.get(f"/api/v1/template-versions/{v1}", headers=admin).json()
    assert v1_now["definition"]["sections"][0]["items"][1]["label_zh"] == "押品是否在场"

    # Editing again updates the same draft.
    again = client.put(f"/api/v1/templates/{template_id}/draft", json={"definition": changed}, headers=admin)
    assert again.json()["id"] == edit.json()["id"]

    assert client.post(f"/api/v1/template-versions/{v1}/retire", headers=admin).json()["status"] == "retired"
    versions = client.get(f"/api/v1/templates/{template_id}", headers=admin).json()["versions"]
    assert [(v["version"], v["status"]) for v in versions] == [(1, "retired"), (2, "draft")]


def test_illegal_transitions_answer_409(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    admin = login(client, bank.one.admin)
    v1 = _create(client, admin).json()["id"]
    retire_draft = client.post(f"/api/v1/template-versions/{v1}/retire", headers=admin)
    assert retire_draft.status_code == 409
    assert retire_draft.json()["code"] == "invalid_transition"
    client.post(f"/api/v1/template-versions/{v1}/publish", headers=admin)
    assert client.post(f"/api/v1/template-versions/{v1}/publish", headers=admin).status_code == 409


def test_definitions_are_validated(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    admin = login(client, bank.one.admin)
    broken = copy.deepcopy(COLLATERAL_TEMPLATE)
    broken["sections"][1]["items"].append(broken["sections"][1]["items"][0])  # duplicate key
    answer = _create(client, admin, definition=broken)
    assert answer.status_code == 422
    assert "used twice" in answer.text
    no_choices = copy.deepcopy(COLLATERAL_TEMPLATE)
    no_choices["sections"][0]["items"][2]["choices"] = []
    assert _create(client, admin, definition=no_choices).status_code == 422
    assert _create(client, admin, code="Bad Code!").status_code == 422


def test_code_is_unique_and_only_admins_write(client: TestClient, session: Session) -> None:
    bank = make_bank(session)
    assert _create(client, login(client, bank.one.reviewer)).status_code == 403
    admin = login(client, bank.one.admin)
    assert _create(client, admin).status_code == 201
    duplicate = _create(client, admin)
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "template_code_taken"
