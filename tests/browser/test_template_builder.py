"""The template builder (issue 12, item 6), in Debian's Chromium: an admin builds a checklist with a condition,
a rule and a repeated section, sees the server's checks as they type and the form in a phone-sized frame,
exports it as JSON, publishes it, and imports the file back."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_journey import _api, _axe, _context, _shot, _sign_in

pytestmark = pytest.mark.real_clock


def _item(page: Any, section: int, item: int) -> Any:
    return page.locator(".builder-section").nth(section).locator(".builder-item").nth(item)


def _fill(scope: Any, label: str, value: str) -> None:
    scope.get_by_label(label, exact=True).fill(value)


def test_an_admin_builds_previews_and_publishes_a_checklist(
    browser: Any, live: dict[str, Any], tmp_path: Path
) -> None:
    context = _context(browser, live, phone=False)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    _sign_in(page, "admin")
    page.get_by_role("link", name="Checklist templates").click()
    page.get_by_role("heading", name="Checklist templates").wait_for()
    assert page.get_by_role("cell", name=re.compile("collateral|押品", re.I)).count() >= 1
    _axe(page, "templates")
    page.get_by_role("link", name="New template").click()
    page.get_by_role("heading", name="New template").wait_for()
    head = page.locator("section.card").first
    _fill(head, "Code", "a_crane")
    _fill(head, "Name (Chinese)", "塔吊检查")
    _fill(head, "Name (English)", "Crane check")
    head.get_by_label("Inspects").select_option("project")

    site = page.locator(".builder-section").nth(0)
    site.get_by_role("button", name="Add an item").click()
    working = _item(page, 0, 1)
    _fill(working, "Key (lower-case letters, digits, _)", "crane_active")
    _fill(working, "Label (Chinese)", "塔吊在作业")
    _fill(working, "Label (English)", "Crane working")
    site.get_by_role("button", name="Add an item").click()
    fine = _item(page, 0, 2)
    _fill(fine, "Key (lower-case letters, digits, _)", "crane_ok")
    _fill(fine, "Label (Chinese)", "塔吊状态正常")
    _fill(fine, "Label (English)", "Crane in order")
    fine.get_by_label("Rule", exact=True).select_option("expected_answer")
    fine = _item(page, 0, 2)  # the form is rebuilt when its shape changes
    fine.get_by_role("button", name="Add a condition").click()
    fine = _item(page, 0, 2)
    assert fine.get_by_label("Earlier item").input_value() == "crane_active"

    page.get_by_role("button", name="Add a section").click()
    stores = page.locator(".builder-section").nth(1)
    stores.get_by_label("Repeat", exact=True).select_option("added")
    stores = page.locator(".builder-section").nth(1)
    _fill(stores, "Least", "1")
    _fill(stores, "Most", "2")
    _fill(stores, "Unit name (English)", "Crane")
    check = page.locator(".check")
    check.get_by_text(
        "Checked: 2 section(s), 4 item(s) (1 with conditions, 2 with rules, 1 repeated section(s))"
    ).wait_for()

    # The phone frame shows the form as the manager will: the condition holds only once answered.
    frame = page.locator(".phone-frame")
    frame.get_by_role("radiogroup", name="Crane working").wait_for()
    assert frame.get_by_role("radiogroup", name="Crane in order").is_hidden()
    frame.get_by_role("radiogroup", name="Crane working").get_by_role("radio", name="Yes").click()
    frame.get_by_role("radiogroup", name="Crane in order").wait_for()
    frame.get_by_role("heading", name="Part 2 · Crane 1 of 1").wait_for()
    assert frame.evaluate("(f) => getComputedStyle(f).width") == "360px"  # a phone's width inside the frame

    # A key that is not a key: the server's check says where, and saving is refused the same way.
    _fill(_item(page, 0, 2), "Key (lower-case letters, digits, _)", "Crane OK")
    check.get_by_text(re.compile(r"Section 1 \(site\) · Item 3")).wait_for()
    assert "should match pattern" in check.inner_text()
    _fill(_item(page, 0, 2), "Key (lower-case letters, digits, _)", "crane_ok")
    check.get_by_text(re.compile("^Checked:")).wait_for()
    _axe(page, "template builder")
    _shot(page, "admin-template-builder")

    with page.expect_download() as downloading:
        page.get_by_role("button", name="Export JSON").click()
    exported = tmp_path / "crane.json"
    downloading.value.save_as(exported)
    document = json.loads(exported.read_text(encoding="utf-8"))
    assert document["code"] == "a_crane" and document["subject_type"] == "project"
    items = document["definition"]["sections"][0]["items"]
    assert [i["key"] for i in items] == ["check_in", "crane_active", "crane_ok"]
    assert items[2]["visible_if"] == {"all": [{"item": "crane_active", "op": "equals", "value": True}]}
    assert items[2]["rule"] == {"key": "expected_answer", "params": {"expected": True}}

    page.get_by_role("button", name="Publish").click()
    page.get_by_text("Version 1 published").wait_for()
    with _api(live, "admin") as api:
        made = next(t for t in api.get("/api/v1/templates").json() if t["code"] == "a_crane")
        assert [v["status"] for v in made["versions"]] == ["published"]
        published = api.get(f"/api/v1/template-versions/{made['versions'][0]['id']}").json()
    assert published["definition"]["sections"][1]["repeat"]["max"] == 2
    assert (
        published["definition"]["sections"][0]["items"][2]["visible_if"]["all"][0]["item"] == "crane_active"
    )

    # The file imported again, as another template.
    document["code"] = "a_crane_copy"
    exported.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    page.goto("/#/templates")
    page.get_by_role("heading", name="Checklist templates").wait_for()
    page.get_by_label("Import JSON").set_input_files(str(exported))
    page.get_by_role("heading", name="New template").wait_for()
    assert page.locator("section.card").first.get_by_label("Code").input_value() == "a_crane_copy"
    assert page.locator(".builder-item").count() == 4
    page.locator(".check").get_by_text(re.compile("^Checked: 2 section")).wait_for()
    context.close()
