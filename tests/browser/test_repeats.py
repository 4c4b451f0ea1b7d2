"""Repeat groups in the field app (issue 12, item 2), in Debian's Chromium: a card per declared machine, each
judged as itself and read by the reviewer as "machine 4 of 6"; and a section the manager adds to, within its
min–max, a removed repeat taking its answers with it and the later ones moving up."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.test_journey import (
    _add_photos,
    _api,
    _axe,
    _context,
    _fill_checklist,
    _photo,
    _shot,
    _sign_in,
    _wait_all_done,
)

# Chromium keeps the machine's clock: the server it talks to must too.
pytestmark = pytest.mark.real_clock

SERIALS = [f"DMU65-2019-{n:04d}" for n in range(457, 463)]


def _machines_visit(live: dict[str, Any]) -> dict[str, Any]:
    with _api(live, "manager1") as api:
        for visit in api.get("/api/v1/visits", params={"status": ["scheduled"], "limit": 200}).json()[
            "items"
        ]:
            record: dict[str, Any] = api.get(f"/api/v1/visits/{visit['id']}").json()
            if (record.get("collateral") or {}).get("kind") == "equipment":
                return record
    raise AssertionError("the demo's six machines have no scheduled visit")


def test_a_card_per_declared_machine_each_judged_as_itself(browser: Any, live: dict[str, Any]) -> None:
    record = _machines_visit(live)
    site = record["collateral"]["declared_site"]
    lat, lon = site["wgs84_lat"], site["wgs84_lon"]
    context = _context(browser, live, phone=True, lat=lat, lon=lon)
    page = context.new_page()
    _sign_in(page, "manager1")
    page.get_by_role("button", name="Download for offline").click()
    page.get_by_text(re.compile("visits downloaded")).wait_for()
    page.goto(f"/#/visit/{record['id']}")
    headings = [f"Unit by unit · Machine {n} of 6 ({serial})" for n, serial in enumerate(SERIALS, start=1)]
    for heading in headings:
        page.get_by_role("heading", name=heading, exact=True).wait_for()
    assert page.get_by_role("button", name=re.compile("^Add a")).count() == 0  # declared: none to add
    _fill_checklist(page, [_photo(n, lat, lon) for n in (61, 62, 63)])
    fourth = f"Machine 4 of 6 ({SERIALS[3]})"
    page.get_by_label(f"{fourth} · Serial on the nameplate", exact=True).fill("DMU65-2019-9999")
    page.get_by_label(f"Machine 5 of 6 ({SERIALS[4]}) · Serial on the nameplate", exact=True).fill(SERIALS[4])
    page.get_by_role("radiogroup", name=f"{fourth} · The machine is there").get_by_role(
        "radio", name="Yes", exact=True
    ).click()
    _add_photos(page, f"Machine 2 of 6 ({SERIALS[1]}) · Photo of the machine", [_photo(64, lat, lon)])
    _axe(page, "visit with a card per machine")
    _shot(page, "manager-visit-repeats")
    page.get_by_role("button", name="Submit", exact=True).click()
    page.wait_for_url(re.compile("#/outbox"))
    _wait_all_done(page, 5)  # the submission and four photos
    context.close()

    with _api(live, "reviewer1") as api:
        checked = api.get(f"/api/v1/visits/{record['id']}", headers={"Accept-Language": "en"}).json()
    found = {d["item_key"]: d for d in checked["discrepancies"]}
    assert found["unit_serial[4]"]["explanation_en"].startswith(
        f"{fourth} · Serial on the nameplate: read \u201cDMU65-2019-9999\u201d on site, declared 设备序列号 {SERIALS[3]}"
    )
    assert "unit_serial[5]" not in found  # machine 5's own serial, read right
    assert checked["submissions"][-1]["body"]["repeats"] == {"units": SERIALS}
    assert {p["item_key"] for p in checked["photos"]} >= {"unit_photo[2]"}

    review = _context(browser, live, phone=False).new_page()
    _sign_in(review, "reviewer1")
    review.get_by_role("heading", name="Review", exact=True).wait_for()
    review.goto(f"/#/review/{record['id']}")
    review.get_by_role("cell", name=f"{fourth} · Serial on the nameplate", exact=True).wait_for()
    assert review.get_by_role("cell", name=f"设备序列号 {SERIALS[3]}", exact=True).count() == 1
    _axe(review, "review with a row per machine")


def _stores_template(live: dict[str, Any]) -> None:
    """A collateral checklist the manager adds stores to (one to three), sorted first so new visits get it."""
    definition = {
        "sections": [
            {"key": "site", "title_zh": "现场", "title_en": "On site", "items": [
                {"key": "check_in", "type": "location", "label_zh": "签到定位", "label_en": "Check-in location",
                 "rule": {"key": "site_distance", "params": {}}},
            ]},
            {"key": "stores", "title_zh": "仓库盘点", "title_en": "Stores",
             "repeat": {"min": 1, "max": 3, "label_zh": "仓库", "label_en": "Store"},
             "items": [
                {"key": "stock", "type": "integer", "label_zh": "库存", "label_en": "Stock", "unit": "吨"},
            ]},
        ]
    }  # fmt: skip
    with _api(live, "admin") as api:
        made = api.post(
            "/api/v1/templates",
            json={"code": "a_stores", "subject_type": "collateral", "name_zh": "仓储盘点", "name_en": "Stock take",
                  "definition": definition},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        assert api.post(f"/api/v1/template-versions/{made.json()['id']}/publish").status_code == 200


def test_stores_the_manager_adds_and_removes(browser: Any, live: dict[str, Any]) -> None:
    _stores_template(live)
    with _api(live, "manager1") as api:
        mine = api.get("/api/v1/visits", params={"limit": 500}).json()["items"]
        subject = next(v for v in mine if v["subject_type"] == "collateral")
        record = api.get(f"/api/v1/visits/{subject['id']}").json()
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    with _api(live, "reviewer1") as api:
        made = api.post(
            "/api/v1/visits",
            json={"subject_type": "collateral", "subject_id": record["collateral"]["id"], "due_on": today},
        )
        assert made.status_code == 201, made.text
        visit_id = made.json()["id"]
    site = record["collateral"]["declared_site"]
    context = _context(browser, live, phone=True, lat=site["wgs84_lat"], lon=site["wgs84_lon"])
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    _sign_in(page, "manager1")
    page.get_by_role("button", name="Download for offline").click()
    page.get_by_text(re.compile("visits downloaded")).wait_for()
    page.goto(f"/#/visit/{visit_id}")
    page.get_by_role("heading", name="Stores · Store 1 of 1", exact=True).wait_for()
    assert page.get_by_role("button", name="Remove Store 1").is_disabled()  # the least the template takes
    add = page.get_by_role("button", name="Add a Store")
    add.click()
    page.get_by_role("heading", name="Stores · Store 2 of 2", exact=True).wait_for()
    page.get_by_role("button", name="Add a Store").click()
    page.get_by_role("heading", name="Stores · Store 3 of 3", exact=True).wait_for()
    assert page.get_by_role("button", name="Add a Store").is_disabled()  # the most it takes
    for n, stock in ((1, "10"), (2, "20"), (3, "30")):
        page.get_by_label(f"Store {n} of 3 · Stock", exact=True).fill(stock)
    page.get_by_role("button", name="Remove Store 2").click()
    page.get_by_role("heading", name="Stores · Store 2 of 2", exact=True).wait_for()
    assert page.get_by_label("Store 1 of 2 · Stock", exact=True).input_value() == "10"
    assert page.get_by_label("Store 2 of 2 · Stock", exact=True).input_value() == "30"  # moved up
    page.get_by_label("Store 2 of 2 · Stock", exact=True).fill("")
    page.get_by_role("button", name="Check in").click()
    page.get_by_text(re.compile("Checked in")).wait_for()
    page.get_by_role("button", name="Submit", exact=True).click()
    page.get_by_text("Store 2 of 2 · Stock", exact=False).first.wait_for()
    assert page.get_by_role("alert").filter(has_text="required").count() >= 1
    page.get_by_label("Store 2 of 2 · Stock", exact=True).fill("35")
    _axe(page, "visit with stores added")
    page.get_by_role("button", name="Submit", exact=True).click()
    page.wait_for_url(re.compile("#/outbox"))
    _wait_all_done(page, 1)
    context.close()
    with _api(live, "reviewer1") as api:
        body = api.get(f"/api/v1/visits/{visit_id}").json()["submissions"][-1]["body"]
    assert body["repeats"] == {"stores": ["", ""]}
    assert {k: v["value"] for k, v in body["answers"].items() if k.startswith("stock")} == {
        "stock[1]": 10,
        "stock[2]": 35,
    }
