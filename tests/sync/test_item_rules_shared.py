"""The phone checks a submission against the pinned template before it may be sent (pwa/js/rules/validate.js); the
server checks it again (api.sync.service._check_item). One set of cases runs through both: the same items
get the same problems, in the same words, so the phone never sends what the server would refuse."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from api.checklists.schemas import Definition, Item
from api.config import Settings
from api.sync import schemas
from api.sync.exceptions import SubmissionInvalid
from api.sync.service import _check_item, validate

ROOT = Path(__file__).resolve().parent.parent.parent
FIX = {"lat": 31.23, "lon": 121.47, "accuracy_m": 12.0, "fixed_at": "2026-11-30T02:00:00+00:00"}
CHOICES = [{"value": v, "label_zh": v, "label_en": v} for v in ("good", "fair", "poor")]


def _item(key: str, type_: str, **extra: Any) -> dict[str, Any]:
    return {"key": key, "type": type_, "label_zh": key, "label_en": key, **extra}


def _photos(n: int) -> list[str]:
    return [str(uuid.UUID(int=i + 1)) for i in range(n)]


# (item, answer or None, check-in or None)
CASES: list[tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]] = [
    (_item("present", "boolean"), {"value": True}, None),
    (_item("present", "boolean"), None, None),
    (_item("present", "boolean"), {"value": 1}, None),
    (_item("present", "boolean"), {"value": "true"}, None),
    (_item("present", "boolean", required=False), None, None),
    (_item("qty", "number", min=0, max=100), {"value": 50}, None),
    (_item("qty", "number", min=0, max=100), {"value": -1}, None),
    (_item("qty", "number", min=0, max=100), {"value": 100.5}, None),
    (_item("qty", "number", min=0.5), {"value": 0.25}, None),
    (_item("qty", "number"), {"value": "12"}, None),
    (_item("qty", "number"), {"value": True}, None),
    (_item("qty", "number"), {"value": ""}, None),
    (_item("qty", "number", required=False), {"value": ""}, None),
    (_item("state", "choice", choices=CHOICES), {"value": "fair"}, None),
    (_item("state", "choice", choices=CHOICES), {"value": "broken"}, None),
    (_item("state", "choice", choices=CHOICES), None, None),
    (_item("remarks", "text"), {"value": "正常"}, None),
    (_item("remarks", "text"), {"value": "字" * 4001}, None),
    (_item("remarks", "text"), {"value": 12}, None),
    (_item("remarks", "text", required=False), None, None),
    (_item("remarks", "text"), {"value": "x", "photos": _photos(1)}, None),
    (_item("overview", "photo", min_photos=2, max_photos=5), {"photos": _photos(2)}, None),
    (_item("overview", "photo", min_photos=2, max_photos=5), {"photos": _photos(1)}, None),
    (_item("overview", "photo", min_photos=2, max_photos=5), {"photos": _photos(6)}, None),
    (_item("overview", "photo", min_photos=2, max_photos=5), None, None),
    (_item("overview", "photo"), {"photos": []}, None),
    (_item("overview", "photo", required=False, max_photos=3), None, None),
    (_item("overview", "photo", required=False, max_photos=3), {"photos": _photos(4)}, None),
    (_item("overview", "photo"), {"value": "x", "photos": _photos(1)}, None),
    (_item("site", "location"), None, FIX),
    (_item("site", "location"), None, None),
    (_item("site", "location", required=False), None, None),
    (_item("site", "location"), {"value": {"lat": 31.2, "lon": 121.4, "accuracy_m": 5}}, None),
    (_item("site", "location"), {"value": {"lat": 91, "lon": 121.4, "accuracy_m": 5}}, FIX),
    (_item("site", "location"), {"value": "here"}, FIX),
    (_item("units", "integer", unit="台", min=1, max=20), {"value": 6}, None),
    (_item("units", "integer", unit="台", min=1, max=20), {"value": 6.0}, None),
    (_item("units", "integer", unit="台", min=1, max=20), {"value": 6.5}, None),
    (_item("units", "integer", unit="台", min=1, max=20), {"value": 0}, None),
    (_item("units", "integer", unit="台", min=1, max=20), {"value": 21}, None),
    (_item("units", "integer"), {"value": "6"}, None),
    (_item("units", "integer"), {"value": False}, None),
    (_item("insured_until", "date"), {"value": "2027-03-31"}, None),
    (_item("insured_until", "date"), {"value": "2027-02-29"}, None),
    (_item("insured_until", "date"), {"value": "20270331"}, None),
    (_item("insured_until", "date"), {"value": "2027-3-31"}, None),
    (_item("insured_until", "date"), {"value": "0000-01-01"}, None),
    (_item("insured_until", "date"), {"value": 20270331}, None),
    (_item("insured_until", "date", required=False), None, None),
    (_item("security", "multi_choice", choices=CHOICES), {"value": ["good", "poor"]}, None),
    (_item("security", "multi_choice", choices=CHOICES), {"value": []}, None),
    (_item("security", "multi_choice", choices=CHOICES, required=False), {"value": []}, None),
    (_item("security", "multi_choice", choices=CHOICES), {"value": ["good", "good"]}, None),
    (_item("security", "multi_choice", choices=CHOICES), {"value": ["broken"]}, None),
    (_item("security", "multi_choice", choices=CHOICES), {"value": "good"}, None),
    (_item("security", "multi_choice", choices=CHOICES), {"value": [1]}, None),
    (_item("serial", "barcode"), {"value": "SN-DMU65-2021-0042"}, None),
    (_item("serial", "barcode"), {"value": "X" * 201}, None),
    (_item("serial", "barcode"), {"value": 42}, None),
    (_item("serial", "barcode"), None, None),
    (_item("acknowledged", "signature"), {"photos": _photos(1)}, None),
    (_item("acknowledged", "signature"), {"photos": _photos(2)}, None),
    (_item("acknowledged", "signature"), None, None),
    (_item("acknowledged", "signature", required=False), None, None),
    (_item("acknowledged", "signature"), {"value": "x", "photos": _photos(1)}, None),
]


def _server(
    item: dict[str, Any], answer: dict[str, Any] | None, check_in: dict[str, Any] | None
) -> list[list[str]]:
    body = schemas.SubmissionIn.model_validate({"answers": {}, "check_in": check_in})
    parsed = schemas.Answer.model_validate(answer) if answer is not None else None
    return [[p.item, p.en, p.zh] for p in _check_item(Item.model_validate(item), parsed, body)]


PHONE = """
import { checkItem } from "./pwa/js/rules/validate.js";
let input = "";
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const cases = JSON.parse(input);
  const out = cases.map(([item, answer, checkIn]) => checkItem(item, answer, checkIn).map((p) => [p.item, p.en, p.zh]));
  process.stdout.write(JSON.stringify(out));
});
"""


def test_the_phone_and_the_server_find_the_same_problems() -> None:
    if shutil.which("node") is None:
        pytest.fail("node is not installed (make installs Debian's nodejs)")
    # The phone reads the template as the work package gives it: every default filled in.
    cases = [(Item.model_validate(item).model_dump(mode="json"), answer, fix) for item, answer, fix in CASES]
    done = subprocess.run(
        ["node", "--input-type=module", "-e", PHONE],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=True,
    )
    phone = json.loads(done.stdout)
    server = [_server(item, answer, fix) for item, answer, fix in CASES]
    assert sum(1 for problems in server if problems) >= 30  # the cases do find problems
    for case, mine, theirs in zip(CASES, phone, server, strict=True):
        assert mine == theirs, f"{case[0]['key']} {case[1]}: phone {mine} != server {theirs}"


WHOLE = """
import { readFileSync } from "node:fs";
import { checkSubmission } from "./pwa/js/rules/validate.js";
let input = "";
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const { definition, bodies } = JSON.parse(input);
  process.stdout.write(JSON.stringify(bodies.map((body) => checkSubmission(definition, body).map((p) => [p.item, p.en, p.zh]))));
});
"""


def test_skip_logic_reads_the_same_on_the_phone_and_the_server(settings: Settings) -> None:
    """Whole bodies against a template with conditions: a hidden item is neither required nor checked, and
    an answer sent for one is refused, naming it — the same problems on both sides."""
    cases = json.loads((ROOT / "tests" / "checklists" / "condition_cases.json").read_text(encoding="utf-8"))
    definition = Definition.model_validate(cases["definition"])
    bodies: list[dict[str, Any]] = [
        {"answers": {"active": {"value": False}, "state": {"value": "good"}, "workers": {"value": 3}}},
        {"answers": {"active": {"value": True}, "state": {"value": "good"}, "workers": {"value": 3}}},
        {"answers": {"active": {"value": False}, "crane": {"value": True}, "state": {"value": "good"}, "workers": {"value": 3}}},
        {"answers": {"active": {"value": True}, "crane": {"value": True}, "crane_ok": {"value": "yes"}, "state": {"value": "poor"}, "workers": {"value": 60}}},
        {"answers": {"state": {"value": "fair"}, "damage": {"value": "裂缝"}, "not_good": {"value": "x"}, "workers": {"value": 0}, "active": {"value": True}, "crane": {"value": False}, "idle": {"value": True}}},
    ]  # fmt: skip
    done = subprocess.run(
        ["node", "--input-type=module", "-e", WHOLE],
        input=json.dumps({"definition": definition.model_dump(mode="json"), "bodies": bodies}),
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=True,
    )  # fmt: skip
    phone = json.loads(done.stdout)
    for body, mine in zip(bodies, phone, strict=True):
        try:
            validate(definition, schemas.SubmissionIn.model_validate(body), settings)
            theirs: list[list[str]] = []
        except SubmissionInvalid as refused:
            theirs = [[p["item"], p["message"], p["message_zh"]] for p in refused.extra["items"]]
        assert mine == theirs, f"{body}: phone {mine} != server {theirs}"
    assert any(
        p[:2] == ["crane", "is hidden by its condition on earlier answers: send no answer for it"]
        for p in phone[2]
    )
    assert [p[0] for p in phone[1]] == ["crane"]  # shown now, and required
    assert phone[0] == [] and phone[4] == []
