"""Skip logic, one set of cases (condition_cases.json) through the server's rules and the phone's: each must
show exactly the items the file says. And the definition refuses conditions that cannot be evaluated."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from api.checklists.conditions import shown_items
from api.checklists.schemas import Definition

ROOT = Path(__file__).resolve().parent.parent.parent
CASES = json.loads((Path(__file__).with_name("condition_cases.json")).read_text(encoding="utf-8"))

PHONE = """
import { readFileSync } from "node:fs";
import { shownItems } from "./pwa/js/rules/conditions.js";
const { definition, cases } = JSON.parse(readFileSync(process.argv[1], "utf-8"));
process.stdout.write(JSON.stringify(cases.map((c) => [...shownItems(definition, c.answers)])));
"""


def _order(keys: set[str] | list[str]) -> list[str]:
    every = [item.key for item in Definition.model_validate(CASES["definition"]).items()]
    return [key for key in every if key in set(keys)]


def test_the_server_shows_what_the_cases_say() -> None:
    definition = Definition.model_validate(CASES["definition"])
    for case in CASES["cases"]:
        assert _order(shown_items(definition, case["answers"])) == _order(case["shown"]), case["name"]


def test_the_phone_shows_what_the_cases_say() -> None:
    if shutil.which("node") is None:
        pytest.fail("node is not installed (make installs Debian's nodejs)")
    done = subprocess.run(
        ["node", "--input-type=module", "-e", PHONE, str(Path(__file__).with_name("condition_cases.json"))],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=True,
    )  # fmt: skip
    for case, shown in zip(CASES["cases"], json.loads(done.stdout), strict=True):
        assert _order(shown) == _order(case["shown"]), case["name"]


def _with(condition: dict[str, Any], *, on_section: bool = False) -> dict[str, Any]:
    definition = json.loads(json.dumps(CASES["definition"]))
    target = definition["sections"][1] if on_section else definition["sections"][0]["items"][1]
    target["visible_if"] = {"all": [condition]}
    return definition


@pytest.mark.parametrize(
    ("condition", "on_section", "says"),
    [
        ({"item": "crane_ok", "op": "equals", "value": True}, False, "not an earlier item"),  # later item
        ({"item": "crane", "op": "equals", "value": True}, False, "not an earlier item"),  # itself
        (
            {"item": "crane_load", "op": "greater_than", "value": 1},
            True,
            "not an earlier item",
        ),  # own section
        ({"item": "nowhere", "op": "equals", "value": True}, False, "not an earlier item"),
        ({"item": "active", "op": "equals", "value": "yes"}, False, "not a possible answer"),
        ({"item": "active", "op": "greater_than", "value": 1}, False, "needs a number item"),
        ({"item": "state", "op": "one_of", "value": "good"}, True, "non-empty list"),
        ({"item": "state", "op": "equals", "value": "broken"}, True, "not a possible answer"),
        ({"item": "workers", "op": "equals", "value": True}, True, "not a possible answer"),
        ({"item": "state", "op": "equals", "value": ["good"]}, True, "not a possible answer"),  # not a 500
        ({"item": "state", "op": "one_of", "value": [{"a": 1}]}, True, "not a possible answer"),
    ],
)
def test_a_condition_that_cannot_be_evaluated_is_refused(
    condition: dict[str, Any], on_section: bool, says: str
) -> None:
    with pytest.raises(ValidationError, match=says):
        Definition.model_validate(_with(condition, on_section=on_section))


def test_a_condition_on_a_photo_or_text_item_is_refused() -> None:
    definition = json.loads(json.dumps(CASES["definition"]))
    definition["sections"][1]["items"][1]["visible_if"] = {
        "all": [{"item": "crane_photo", "op": "equals", "value": 1}]
    }
    with pytest.raises(ValidationError, match="yes/no, number, integer and choice"):
        Definition.model_validate(definition)
    definition["sections"][1]["items"][1]["visible_if"] = {"all": [], "any": []}
    with pytest.raises(ValidationError, match="at least one condition"):
        Definition.model_validate(definition)
