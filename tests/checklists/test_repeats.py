"""Repeat groups: one set of cases (repeat_cases.json) through the server's expansion and the phone's — the
same keys, labels, conditions and rules, the same items shown; the definition refuses what cannot be
repeated; and a submission's repeats are checked, judged and found as the bank reads them ("设备 4/6")."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.orm import Session

from api.checklists.conditions import shown_items
from api.checklists.repeats import expand
from api.checklists.schemas import Definition
from api.sync.models import Submission
from tests.factories import login, make_bank
from tests.sync.helpers import capture_photos, put_photo, submission_body

ROOT = Path(__file__).resolve().parent.parent.parent
FILE = Path(__file__).with_name("repeat_cases.json")
CASES = json.loads(FILE.read_text(encoding="utf-8"))

PHONE = """
import { readFileSync } from "node:fs";
import { expand } from "./pwa/js/rules/repeats.js";
import { shownItems } from "./pwa/js/rules/conditions.js";
const { definition, cases } = JSON.parse(readFileSync(process.argv[1], "utf-8"));
process.stdout.write(JSON.stringify(cases.map((c) => {
  const expanded = expand(definition, c.repeats);
  return { expanded, shown: [...shownItems(expanded, c.answers)] };
})));
"""


def _outline(definition: dict[str, Any]) -> list[Any]:
    """What both sides must agree on: keys, titles, labels, conditions and rules, section by section."""
    return [
        [
            section["key"], section["title_zh"], section["title_en"],
            [
                [item["key"], item["label_zh"], item["label_en"], _conditions(item.get("visible_if")),
                 (item.get("rule") or {}).get("params")]
                for item in section["items"]
            ],
        ]
        for section in definition["sections"]
    ]  # fmt: skip


def _conditions(visibility: dict[str, Any] | None) -> Any:
    if not visibility:
        return None
    return [[[c["item"], c["op"], c["value"]] for c in visibility.get(part) or []] for part in ("all", "any")]


def _server(case: dict[str, Any]) -> tuple[list[Any], set[str]]:
    expanded = expand(Definition.model_validate(CASES["definition"]), case["repeats"])
    return _outline(expanded.model_dump(mode="json")), shown_items(expanded, case["answers"])


def test_the_server_expands_what_the_cases_say() -> None:
    for case in CASES["cases"]:
        outline, shown = _server(case)
        assert [item[0] for section in outline for item in section[3]] == case["keys"], case["name"]
        assert shown == set(case["shown"]), case["name"]
    outline, _ = _server(CASES["cases"][1])
    assert outline[1][1] == "逐台核查 · 设备 1/2（SN-1）"
    assert outline[2][3][1][1:3] == ["设备 2/2（SN-2） · 序列号", "Machine 2 of 2 (SN-2) · Serial"]
    assert outline[2][3][1][4] == {
        "identifier": "设备序列号",
        "member": "SN-2",
    }  # judged against its own unit
    assert outline[2][3][2][3] == [[["present[2]", "equals", False]], []]  # looks at its own repeat


def test_the_phone_expands_as_the_server_does() -> None:
    if shutil.which("node") is None:
        pytest.fail("node is not installed (make installs Debian's nodejs)")
    done = subprocess.run(
        ["node", "--input-type=module", "-e", PHONE, str(FILE)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=True,
    )  # fmt: skip
    for case, phone in zip(CASES["cases"], json.loads(done.stdout), strict=True):
        outline, shown = _server(case)
        assert _outline(phone["expanded"]) == outline, case["name"]
        assert set(phone["shown"]) == shown, case["name"]


def _definition(**changes: Any) -> dict[str, Any]:
    definition = json.loads(json.dumps(CASES["definition"]))
    for path, value in changes.items():
        section, field = path.split("__")
        definition["sections"][int(section)][field] = value
    return definition


@pytest.mark.parametrize(
    ("definition", "says"),
    [
        (_definition(**{"1__items": [{"key": "k" * 61, "type": "boolean", "label_zh": "a", "label_en": "a"}]}),
         "at most 60"),
        (_definition(**{"2__repeat": {"min": 4, "max": 3}}), "min is above max"),
        (_definition(**{"2__visible_if": {"all": [{"item": "present", "op": "equals", "value": True}]}}),
         "not an earlier item"),  # a later section cannot look at one repeat's answer
        (_definition(**{"1__items": [{"key": "here", "type": "location", "label_zh": "a", "label_en": "a",
                                      "rule": {"key": "site_distance"}}]}), "cannot be repeated"),
    ],
)  # fmt: skip
def test_what_cannot_be_repeated_is_refused(definition: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        Definition.model_validate(definition)


SERIALS = [f"DMU65-2019-{n:04d}" for n in range(457, 463)]


def _units(client: TestClient, session: Session) -> tuple[Any, dict[str, str]]:
    bank = make_bank(session)
    bank.one.collateral.identifiers = {"设备序列号": "|".join(SERIALS)}
    session.commit()
    return bank, login(client, bank.one.manager)


def _put(client: TestClient, headers: dict[str, str], visit_id: object, body: dict[str, Any]) -> Any:
    return client.put(f"/api/v1/visits/{visit_id}/submissions/{uuid.uuid4()}", json=body, headers=headers)


def test_each_machine_is_judged_as_itself(client: TestClient, session: Session) -> None:
    """Five of six machines listed (one added after the download), machine 4's serial read wrong, machine 2's
    photo on its own repeat: findings name the machine, the photo belongs to its repeat."""
    bank, headers = _units(client, session)
    photos = capture_photos()
    unit_photo = capture_photos(seed=9)[0]
    unit_photo.item_key = "unit_photo[2]"
    body = submission_body([*photos, unit_photo])
    body["repeats"] = {"units": SERIALS[:5]}
    for n, serial in enumerate(SERIALS[:5], start=1):
        body["answers"][f"unit_present[{n}]"] = {"value": True}
        body["answers"][f"unit_serial[{n}]"] = {"value": "DMU65-2019-9999" if n == 4 else serial.lower()}
    body["answers"]["unit_photo[2]"] = {"photos": [unit_photo.id]}
    answer = _put(client, headers, bank.one.visit.id, body)
    assert answer.status_code == 201, answer.text
    assert put_photo(client, headers, bank.one.visit.id, unit_photo).status_code == 201
    record = client.get(
        f"/api/v1/visits/{bank.one.visit.id}", headers=headers | {"Accept-Language": "zh-CN"}
    ).json()
    found = {d["item_key"]: d for d in record["discrepancies"]}
    assert found["unit_serial[4]"]["explanation_zh"].startswith(
        "设备 4/5（DMU65-2019-0460） · 铭牌序列号：现场读取「DMU65-2019-9999」"
    )
    assert "DMU65-2019-0462 未检查" in found["units"]["explanation_zh"]
    assert not any(key.startswith("unit_serial[") and key != "unit_serial[4]" for key in found)
    assert {p["item_key"] for p in record["photos"]} >= {"unit_photo[2]"}
    session.rollback()
    stored = session.get(Submission, uuid.UUID(answer.json()["id"]))
    assert stored is not None and stored.body["repeats"] == {"units": SERIALS[:5]}


@pytest.mark.parametrize(
    ("change", "item", "says"),
    [
        ({"answers": {"unit_present[6]": {"value": True}}}, "unit_present[6]", "not an item"),  # not listed
        ({"answers": {"unit_present": {"value": True}}}, "unit_present", "not an item"),  # which machine?
        ({"repeats": {"nowhere": ["x"]}}, "nowhere", "not a repeated section"),
        ({"repeats": {"units": ["A", "A"]}}, "units", "twice"),
        ({"answers": {"unit_present[1]": {"value": "yes"}}}, "unit_present[1]", "true or false"),
    ],
)
def test_repeats_that_do_not_fit_are_refused_by_name(
    client: TestClient, session: Session, change: dict[str, Any], item: str, says: str
) -> None:
    bank, headers = _units(client, session)
    body = submission_body(capture_photos())
    body["repeats"] = {"units": SERIALS[:5], **change.get("repeats", {})}
    body["answers"].update(change.get("answers", {}))
    answer = _put(client, headers, bank.one.visit.id, body | {"repeats": body["repeats"]})
    assert answer.status_code == 422, answer.text
    named = [p for p in answer.json()["items"] if p["item"] == item]
    assert named and says in named[0]["message"], answer.json()["items"]


def test_a_body_without_repeats_is_stored_and_digested_as_before(
    client: TestClient, session: Session
) -> None:
    from api.sync.models import Submission

    bank, headers = _units(client, session)
    body = submission_body(capture_photos())
    submission_id = str(uuid.uuid4())
    url = f"/api/v1/visits/{bank.one.visit.id}/submissions/{submission_id}"
    assert client.put(url, json=body, headers=headers).status_code == 201
    session.rollback()
    assert "repeats" not in session.get(Submission, uuid.UUID(submission_id)).body  # type: ignore[union-attr]
    assert client.put(url, json=body, headers=headers).status_code == 200  # the same submission again
