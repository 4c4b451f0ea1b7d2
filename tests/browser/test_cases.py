"""Cases and the contact log in Debian's Chromium (issue 14, items 4 and 5): a manager opens an escalation from
the borrower page; the demo's restructuring is reviewed by the branch's reviewer and approved by its risk
officer with a PDF attached (four eyes: the reviewer is not offered the approval); a manager records a meeting
offline on a visit, and it reaches the server with its commitment as a task."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_journey import _api, _axe, _context, _poll, _sign_in
from tests.cases.documents import pdf

pytestmark = pytest.mark.real_clock


def test_a_case_from_proposal_to_approval(browser: Any, live: dict[str, Any]) -> None:
    with _api(live, "manager2") as api:
        [restructuring] = [c for c in api.get("/api/v1/cases").json() if c["kind"] == "restructuring"]
    borrower_id = restructuring["borrower_id"]

    # The manager escalates to legal from the borrower page.
    context = _context(browser, live, phone=False)
    page = context.new_page()
    _sign_in(page, "manager2")
    page.get_by_role("link", name="Cases").wait_for()
    page.goto(f"/#/borrower/{borrower_id}")
    page.locator("a.button", has_text="Open a case").click()
    page.get_by_role("heading", name="Open a case").wait_for()
    page.get_by_label("Kind", exact=True).select_option("escalation")
    page.get_by_label("Routed to").select_option("legal")
    page.get_by_label("Title", exact=True).fill("抵押设备疑被转移")
    page.get_by_label("Reason", exact=True).fill("现场未见抵押设备，需评估诉前保全。")
    page.get_by_role("button", name="Save draft").click()
    page.get_by_role("heading", name="抵押设备疑被转移").wait_for()
    page.get_by_role("button", name="Submit").click()
    page.locator(".badge", has_text="Submitted").wait_for()
    context.close()

    # The branch's reviewer takes the restructuring and recommends it; approving is not offered to them.
    context = _context(browser, live, phone=False)
    page = context.new_page()
    _sign_in(page, "reviewer2")
    page.get_by_role("link", name="Cases").click()
    page.get_by_role("link", name=restructuring["title"]).click()
    page.get_by_role("button", name="Take under review").click()
    page.locator(".badge", has_text="Under review").wait_for()
    page.get_by_label("Review opinion").select_option("approve")
    page.get_by_label("Note").fill("押品缺失属实，经营现金流承压，建议按计划重组。")
    page.get_by_role("button", name="Give the review opinion").click()
    page.get_by_text(re.compile("Recommend approval — 押品缺失属实")).wait_for()
    assert page.get_by_role("button", name="Approve").count() == 0
    context.close()

    # The risk officer lands on the cases, attaches the borrower's statement and approves.
    context = _context(browser, live, phone=False)
    page = context.new_page()
    _sign_in(page, "risk2")
    page.get_by_role("heading", name="Cases").wait_for()
    assert page.get_by_role("link", name="抵押设备疑被转移").count() == 0  # legal's, not risk's
    page.get_by_role("link", name=restructuring["title"]).click()
    page.get_by_label("Choose a file (PDF or image)").set_input_files(
        files=[{"name": "三季度管理层报表.pdf", "mimeType": "application/pdf", "buffer": pdf(pages=2)}]
    )
    page.get_by_role("button", name="Attach", exact=True).click()
    page.locator("[data-attachment]", has_text="三季度管理层报表.pdf").wait_for()
    page.get_by_label("Note").fill("同意重组，按季度跟踪还款。")
    page.get_by_role("button", name="Approve").click()
    page.locator(".badge", has_text="Approved").wait_for()
    steps = page.locator("ol.timeline li").all_inner_texts()
    assert [s.split(" · ")[0] for s in steps] == [
        "Opened", "Submit", "Take under review", "Give the review opinion", "Attach", "Approve",
    ]  # fmt: skip
    _axe(page, "case")
    page.screenshot(path=str(SCREENSHOTS / "risk-officer-case.png"), full_page=True)
    context.close()
    with _api(live, "compliance2") as api:
        assert [c["title"] for c in api.get("/api/v1/cases").json()] == ["抵押设备疑被转移"]


def test_a_meeting_recorded_offline_reaches_the_server(browser: Any, live: dict[str, Any]) -> None:
    with _api(live, "manager2") as api:
        visit = next(
            v
            for v in api.get("/api/v1/visits", params={"status": ["scheduled"], "limit": 500}).json()["items"]
            if v["subject_type"] == "collateral"
        )
    context = _context(browser, live, phone=True)
    page = context.new_page()
    _sign_in(page, "manager2")
    page.get_by_role("button", name="Download for offline").click()
    page.get_by_text(re.compile("visits downloaded")).wait_for()
    context.set_offline(True)
    page.goto(f"/#/visit/{visit['id']}")
    page.get_by_role("link", name="Record a contact").click()
    page.get_by_role("heading", name="Record a contact").wait_for()
    page.get_by_label("Name").first.fill("沈国华")
    page.get_by_label("Title").first.fill("财务总监")
    page.get_by_label("What was said").fill("企业称新订单下月到位，同意提供订单清单。")
    due = (dt.datetime.now(ZoneInfo("Asia/Shanghai")).date() + dt.timedelta(days=10)).isoformat()
    page.get_by_label("Commitment").first.fill("提供在手订单清单")
    page.get_by_label("Due").first.fill(due)
    page.get_by_role("button", name="Save").click()
    # Back on the visit: the meeting waits in the outbox, and says so.
    page.locator("[data-contact] .badge", has_text="Waiting").wait_for()
    _axe(page, "visit with a contact")
    page.goto("/#/outbox")
    page.locator("[data-outbox=contact]", has_text="沈国华").wait_for()
    page.get_by_text(re.compile("1 part\\(s\\) waiting")).wait_for()
    context.set_offline(False)
    page.get_by_role("button", name="Sync now").click()
    page.get_by_text("Synced", exact=True).wait_for()
    with _api(live, "manager2") as api:
        [contact] = api.get("/api/v1/contacts", params={"visit_id": visit["id"]}).json()
        assert contact["people"][0] == {"name": "沈国华", "title": "财务总监"}
        task = api.get(f"/api/v1/tasks/{contact['commitments'][0]['task_id']}").json()
        assert task["due_on"] == due and task["opened_by_visit_id"] == visit["id"]
    _poll(page, "() => document.querySelector('[data-outbox=contact] [data-state=done]') !== null")
    context.close()
