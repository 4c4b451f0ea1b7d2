"""The risk dashboard (issue 14, item 3), in Debian's Chromium under the app's real Content-Security-Policy:
the demo bank's 苏州 branch as its reviewer sees it on a tablet — figures linking to their lists, signals by
indicator and the findings trend as SVG charts, sites on the map, filters in the URL."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_journey import PASSWORD, _api, _axe, _context, _poll, _sign_in

pytestmark = pytest.mark.real_clock


def test_a_reviewer_sees_what_needs_attention(browser: Any, live: dict[str, Any]) -> None:
    with _api(live, "reviewer2") as api:
        board = api.get("/api/v1/dashboard").json()
    assert {row["indicator"] for row in board["signals"]} >= {
        "revenue_drop",
        "leverage",
        "negative_cash_flow",
    }
    # A tablet, the app's own CSP in force (no bypass): Chartist's labels must not break it.
    context = browser.new_context(
        viewport={"width": 1024, "height": 1366}, locale="en-US", base_url=str(live["url"])
    )
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto("/")
    # As _sign_in does: the service worker takes the page first, so it does not reload under the sign-in.
    _poll(page, "() => !!navigator.serviceWorker && navigator.serviceWorker.controller !== null")
    page.get_by_label("Language").select_option("en")
    page.get_by_role("heading", name="Post-loan field inspection").wait_for()  # the form repainted in English
    page.get_by_label("Username").fill("reviewer2")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Risk dashboard").click()
    page.get_by_role("heading", name="Risk dashboard").wait_for()
    signals = sum(row["open"] for row in board["signals"])
    figure = page.locator("a.figure", has_text="Early-warning signals")
    assert figure.locator("strong").inner_text() == str(signals)
    assert page.locator("a.figure", has_text="Visits overdue").locator("strong").inner_text() == str(
        board["visits"]["overdue"]
    )
    page.locator(".ct-bar").first.wait_for(state="attached")  # Chartist drew the bars (SVG lines)
    assert page.locator("svg.ct-chart-bar").count() == 2
    assert page.locator(".map-point").count() == len(board["sites"])

    # A filter is in the URL; the figure opens the list behind it.
    page.get_by_label("Risk grade").select_option("special_mention")
    page.wait_for_url(re.compile(r"risk_grade=special_mention"))
    page.get_by_role("heading", name="Risk dashboard").wait_for()
    page.goto("/#/dashboard")
    page.locator("a.figure", has_text="Early-warning signals").click()
    page.get_by_role("heading", name="Early-warning signals", exact=True).wait_for()
    page.locator("li.signal").first.wait_for()
    assert page.locator("li.signal").count() == signals
    assert page.locator("li.signal", has_text="Revenue down on last year").count() == 1
    assert violations == [], "\n".join(violations)
    context.close()

    # axe-core is injected as an inline script, which the real policy refuses: checked without it.
    context = _context(browser, live, phone=False)
    page = context.new_page()
    _sign_in(page, "reviewer2")
    page.get_by_role("link", name="Risk dashboard").click()
    page.locator(".ct-bar").first.wait_for(state="attached")
    _axe(page, "dashboard")
    page.screenshot(path=str(SCREENSHOTS / "reviewer-dashboard.png"), full_page=True)
    context.close()


def test_the_borrower_page_brings_it_together(browser: Any, live: dict[str, Any], tmp_path: Any) -> None:
    """From a signal to the borrower: facilities with the proposed grade (decided here), figures with their
    trend, signals, visits and tasks on one screen; the visits exported to Excel in one click."""
    context = _context(browser, live, phone=False)
    page = context.new_page()
    _sign_in(page, "reviewer2")
    page.get_by_role("link", name="Risk dashboard").click()
    page.locator("a.figure", has_text="Early-warning signals").click()
    page.locator("li.signal", has_text="Collateral coverage").get_by_role(
        "link", name="苏州宏图冷链物流有限公司"
    ).click()
    page.get_by_role("heading", name="苏州宏图冷链物流有限公司").wait_for()
    page.get_by_role("heading", name="Figures (quarterly)").wait_for()
    assert page.locator(".figures-table thead th").count() == 8  # the label, six quarters, the trend
    assert page.locator("svg.trend").count() == 6
    assert page.locator("li.signal.open").count() >= 1
    with _api(live, "reviewer2") as api:
        [open_one] = api.get("/api/v1/grade-proposals", params={"state": "proposed"}).json()
    names = {"normal": "Normal", "special_mention": "Special mention", "substandard": "Substandard",
             "doubtful": "Doubtful", "loss": "Loss"}  # fmt: skip
    before, after = names[open_one["current_grade"]], names[open_one["proposed_grade"]]
    proposal = page.get_by_role("cell", name=re.compile(f"{before} → {after}"))
    proposal.wait_for()
    _axe(page, "borrower page")
    page.screenshot(path=str(SCREENSHOTS / "reviewer-borrower.png"), full_page=True)
    proposal.get_by_role("button", name="Accept").click()
    page.get_by_role("cell", name=after, exact=True).wait_for()
    with page.expect_download() as downloading:
        page.get_by_role("button", name="Export the visits (Excel)").click()
    saved = tmp_path / "visits.xlsx"
    downloading.value.save_as(saved)
    assert saved.read_bytes()[:4] == b"PK\x03\x04"
    with _api(live, "reviewer2") as api:
        proposals = api.get("/api/v1/grade-proposals", params={"state": "accepted"}).json()
    assert [p["borrower_name"] for p in proposals] == ["苏州宏图冷链物流有限公司"]
    context.close()
