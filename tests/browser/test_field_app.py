"""The field app a manager can trust, in Debian's Chromium: the template's rules checked on the phone before
submitting, a photo removed; a photo the server refused replaced; two managers on one phone; and axe-core
over every screen on the way (a manager's and a reviewer's)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.test_journey import (
    _add_photos,
    _answer,
    _api,
    _axe,
    _context,
    _fill_checklist,
    _photo,
    _poll,
    _shot,
    _sign_in,
    _wait_all_done,
    _wait_thumbnails,
)
from tests.photos.images import encode, picture
from tests.sync.helpers import capture_photos, submission_body

# Chromium keeps the machine's clock: the server it talks to must too.
pytestmark = pytest.mark.real_clock


def _collateral_visits(live: dict[str, Any], username: str) -> list[dict[str, Any]]:
    """The manager's collateral visits still to be done, as the API gives them, in a stable order."""
    with _api(live, username) as api:
        listed = api.get("/api/v1/visits", params={"status": ["scheduled", "in_progress"]}).json()["items"]
        records = [
            api.get(f"/api/v1/visits/{v['id']}").json() for v in listed if v["subject_type"] == "collateral"
        ]
    return sorted(records, key=lambda r: r["id"])


def _site(record: dict[str, Any]) -> tuple[float, float]:
    site = record["collateral"]["declared_site"]
    return site["wgs84_lat"], site["wgs84_lon"]


def test_the_templates_rules_are_checked_on_the_phone(browser: Any, live: dict[str, Any]) -> None:
    """Fault 2's first half and item 5: the app refuses to submit what the server would refuse (too many
    photos, a required answer missing), names the item, clears the message as soon as it is fixed, and a
    photo can be removed before submitting."""
    record = _collateral_visits(live, "manager1")[0]
    lat, lon = _site(record)
    context = _context(browser, live, phone=True, lat=lat, lon=lon)
    page = context.new_page()
    _sign_in(page, "manager1")
    page.locator("a.visit").first.wait_for()
    _axe(page, "visits")
    page.goto(f"/#/visit/{record['id']}")
    page.get_by_role("button", name="Check in").wait_for()
    assert page.get_by_text(
        "Count what is there, in the unit of the declared figure"
    ).is_visible()  # help text
    _fill_checklist(page, [_photo(n, lat, lon) for n in (31, 32, 33)])
    _add_photos(page, "Nameplate or title document", [_photo(n, lat, lon) for n in range(34, 39)])  # 6 of 5
    assert page.get_by_role("button", name="Take another").nth(1).is_disabled()
    page.get_by_label("Observed quantity").fill("")
    # Skip logic: "who occupies it" is asked only when a third party occupies the collateral.
    occupant = page.get_by_label("Who occupies it, and how")
    assert not occupant.is_visible()
    _answer(page, "Occupied by a third party", "Yes")
    occupant.fill("隔壁物流公司临时堆货")
    _axe(page, "visit form")
    _answer(page, "Occupied by a third party", "No")
    assert not occupant.is_visible()  # hidden again: not checked, not sent
    # Several of the choices, a date, and a note on an item.
    security = page.get_by_role("group", name="Security on site")
    security.get_by_role("checkbox", name="CCTV").click()
    security.get_by_role("checkbox", name="Guard").click()
    assert security.get_by_role("checkbox", name="Guard").get_attribute("aria-checked") == "true"
    page.get_by_label("Insurance valid until").fill("2027-03-31")
    page.locator('[data-item="condition"] summary').click()
    page.locator('[data-item="condition"]').get_by_label("Note", exact=True).fill("东侧墙面有轻微渗水")
    # The borrower's representative signs on the screen.
    pad = page.get_by_role("img", name="Borrower's representative signs")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 30)
    page.mouse.down()
    for step in range(1, 12):
        page.mouse.move(box["x"] + 20 + step * 20, box["y"] + 30 + (step % 3) * 15)
    page.mouse.up()
    page.get_by_role("button", name="Keep signature").click()
    page.get_by_role("img", name="Borrower's representative signs signature").wait_for()

    page.get_by_role("button", name="Submit").click()
    page.get_by_text("2 thing(s) to fix, marked below").wait_for()
    assert "#/visit/" in page.url
    assert page.locator("#error-photo_identifier").inner_text() == "takes at most 5 photo(s)"
    assert page.locator("#error-observed_quantity").inner_text() == "is required"
    invalid = page.locator(".item.invalid").evaluate_all("nodes => nodes.map((n) => n.dataset.item)")
    assert invalid == ["observed_quantity", "photo_identifier"], invalid
    _axe(page, "visit form with errors")
    _shot(page, "manager-visit-rules")

    # Fixed, each message goes at once.
    page.get_by_label("Observed quantity").fill("18650")
    assert page.locator("#error-observed_quantity").inner_text() == ""
    page.get_by_role("button", name="Remove photo: Nameplate or title document photo 6").click()
    _poll(page, "() => document.querySelector('#error-photo_identifier').textContent === ''")
    _wait_thumbnails(page, "Nameplate or title document", 5)
    assert page.locator(".item.invalid").count() == 0

    page.get_by_role("button", name="Submit").click()
    page.wait_for_url(re.compile("#/outbox"))
    _wait_all_done(page, 9)  # the submission, 2 + 5 photos and the signature
    _axe(page, "outbox")
    with _api(live, "manager1") as api:
        (submission,) = api.get(f"/api/v1/visits/{record['id']}/submissions").json()
    assert len(submission["body"]["answers"]["photo_identifier"]["photos"]) == 5
    assert "occupant" not in submission["body"]["answers"]
    answers = submission["body"]["answers"]
    assert answers["security_measures"]["value"] == ["cctv", "guard"]
    assert answers["insured_until"]["value"] == "2027-03-31"
    assert answers["condition"] == {"value": "good", "note": "东侧墙面有轻微渗水", "photos": []}
    (signature_id,) = answers["borrower_ack"]["photos"]
    with _api(live, "manager1") as api:
        signature = api.get(f"/api/v1/photos/{signature_id}").json()
    assert signature["format"] == "PNG" and signature["item_key"] == "borrower_ack"
    assert submission["state"] == "complete"
    context.close()


def test_a_photo_the_server_refused_is_replaced(browser: Any, live: dict[str, Any]) -> None:
    """A truncated JPEG the server refuses: the visit opens again with that photo marked; the manager
    removes it, takes another and submits again; the server takes the new submission in place of the
    incomplete one (no conflict). Then the reviewer's screens, with axe."""
    record = _collateral_visits(live, "manager1")[0]
    lat, lon = _site(record)
    context = _context(browser, live, phone=True, lat=lat, lon=lon)
    page = context.new_page()
    _sign_in(page, "manager1")
    page.locator("a.visit").first.wait_for()
    page.goto(f"/#/visit/{record['id']}")
    page.get_by_role("button", name="Check in").wait_for()
    good = _photo(41, lat, lon)
    broken = _photo(42, lat, lon)[:6000]  # the camera app crashed while saving
    _fill_checklist(page, [_photo(40, lat, lon), good, broken])
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url(re.compile("#/outbox"))
    _poll(page, "() => !!document.querySelector('[data-outbox=photo] [data-state=failed]')", 30)
    refused = page.locator("[data-outbox=photo]:has([data-state=failed])").inner_text()
    assert "The JPEG ends before its end-of-image marker (truncated)." in refused, refused
    assert "Open the visit, remove or retake this photo and submit again" in refused
    _poll(page, "() => document.querySelector('p[role=status]').textContent.includes('1 part(s) refused')")
    _axe(page, "outbox with a refused photo")
    _shot(page, "manager-outbox-photo-refused")

    page.get_by_role("link", name="Open and fix").click()
    page.get_by_text("The server refused this submission").wait_for()
    assert page.locator(".thumb.refused").count() == 1
    assert page.locator(".item.invalid").evaluate_all("nodes => nodes.map((n) => n.dataset.item)") == [
        "photo_identifier"
    ]
    _axe(page, "visit refused")
    page.get_by_role("button", name="Remove photo: Nameplate or title document photo 1").click()
    _poll(page, "() => !document.querySelector('.thumb.refused')")
    # The retake comes from an app that strips EXIF: the reviewer sees the phone's own fix and time instead.
    _add_photos(page, "Nameplate or title document", [encode(picture(800, 600, seed=43), "JPEG", quality=90)])
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url(re.compile("#/outbox"))
    _poll(page, "() => document.querySelector('p[role=status]').textContent === 'Synced'", 30)
    with _api(live, "manager1") as api:
        submissions = api.get(f"/api/v1/visits/{record['id']}/submissions").json()
        photo_ids = [p["id"] for p in api.get(f"/api/v1/visits/{record['id']}").json()["photos"]]
    assert [(s["state"], s["conflict"]) for s in submissions] == [("incomplete", False), ("complete", False)]
    assert len(photo_ids) == 3  # the broken one was never kept
    context.close()

    # The reviewer's screens.
    desk = _context(browser, live, phone=False)
    review = desk.new_page()
    _sign_in(review, "reviewer1")
    review.locator("a.visit").first.wait_for()
    _axe(review, "review queue")
    review.goto(f"/#/review/{record['id']}")
    review.get_by_role("button", name="Approve").wait_for()
    review.locator("figure img").first.wait_for()
    check_in = review.locator('tr[data-item="check_in"]').inner_text()
    assert re.search(r"\d+\.\d{6}, \d+\.\d{6} ±12 m · \d+ m from the declared site", check_in), check_in
    captions = review.locator("figcaption strong").all_inner_texts()
    assert "Nameplate or title document · photo 1" in captions, captions
    assert not any("photo_identifier" in caption for caption in captions)
    retake = review.locator("figure", has_text="Nameplate or title document · photo 1").inner_text()
    assert re.search(r"Taken .+ \(by the phone\)", retake) and re.search(
        r"Place \d+\.\d{5}, \d+\.\d{5} ±12 m \(by the phone\)", retake
    ), retake
    _shot(review, "reviewer-visit-phone-fix")
    assert not re.search(r"\d{4}-\d\d-\d\dT", review.locator("main").inner_text())  # no raw ISO times
    _axe(review, "review visit")
    review.goto("/#/tasks")
    review.locator("h1").wait_for()
    _axe(review, "tasks (reviewer)")
    desk.close()


DATABASES = "async () => (await indexedDB.databases()).map((d) => d.name).sort()"


def test_a_shared_phone_keeps_each_managers_work_apart(browser: Any, live: dict[str, Any]) -> None:
    """Fault 3: manager1 leaves unsent work on a phone and signs out; manager2 signs in on it and never
    sees, sends or exports it; manager1 signs in again and it uploads, intact."""
    first = _collateral_visits(live, "manager1")[-1]
    lat, lon = _site(first)
    borrower = first["borrower"]["name"]
    context = _context(browser, live, phone=True, lat=lat, lon=lon, background_sync=False)
    page = context.new_page()
    _sign_in(page, "manager1")
    page.locator("a.visit").first.wait_for()
    context.set_offline(True)
    page.goto(f"/#/visit/{first['id']}")
    page.get_by_role("button", name="Check in").wait_for()
    photos = [_photo(n, lat, lon) for n in (51, 52, 53)]
    _fill_checklist(page, photos)
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url(re.compile("#/outbox"))
    page.get_by_role("link", name="Sign out").click()
    assert "4 part(s)" in page.get_by_role("dialog").inner_text()
    _axe(page, "sign-out warning")
    page.get_by_role("dialog").get_by_role("button", name="Sign out anyway").click()
    page.get_by_role("button", name="Sign in").wait_for()
    _axe(page, "sign in")

    # manager2 on the same phone, online: nothing of manager1's is seen, sent or exported.
    context.set_offline(False)
    sent: list[str] = []
    page.on("request", lambda r: sent.append(f"{r.method} {r.url} {r.post_data or ''}"))
    _sign_in(page, "manager2")
    page.locator("a.visit").first.wait_for()
    assert borrower not in page.content()
    page.goto("/#/outbox")
    page.get_by_text("Nothing to sync").wait_for()
    assert page.locator("[data-outbox]").count() == 0
    with page.expect_download() as download:
        page.get_by_role("button", name="Export the outbox").click()
    assert json.loads(Path(download.value.path()).read_text()) == []
    page.get_by_role("link", name="Tasks").click()
    page.locator("h1").wait_for()
    _axe(page, "tasks (manager)")
    assert borrower not in page.content()
    page.get_by_role("link", name="Sign out").click()  # nothing of manager2's unsent: no warning
    page.get_by_role("button", name="Sign in").wait_for()
    assert not [line for line in sent if first["id"] in line], sent
    assert len(page.evaluate(DATABASES)) == 3  # the phone's own, and one per manager

    # manager1 again: the work waited, intact, and now uploads.
    _sign_in(page, "manager1")
    page.locator("a.visit").first.wait_for()
    page.goto("/#/outbox")
    page.get_by_role("button", name="Sync now").click()
    _wait_all_done(page, 4)
    with _api(live, "manager1") as api:
        held = {p["sha256"] for p in api.get(f"/api/v1/visits/{first['id']}").json()["photos"]}
    assert held == {hashlib.sha256(p).hexdigest() for p in photos}
    context.close()


def test_last_times_photos_are_on_the_phone_offline(browser: Any, live: dict[str, Any]) -> None:
    """Issue 12's before/after for the manager: the visit of a subject inspected and approved before brings
    that inspection's photos of each item, kept on the phone with the package, shown offline beside the
    camera button so the manager frames the same views."""
    with _api(live, "manager1") as api:  # one of manager1's collateral, whatever earlier tests did with it
        mine = [v for v in api.get("/api/v1/visits", params={"limit": 500}).json()["items"]]
        subject = next(v for v in mine if v["subject_type"] == "collateral")
        record = api.get(f"/api/v1/visits/{subject['id']}").json()
    lat, lon = _site(record)
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()

    def issue(api: Any, days: int) -> str:
        due = (today + dt.timedelta(days=days)).isoformat()
        made = api.post(
            "/api/v1/visits",
            json={"subject_type": "collateral", "subject_id": record["collateral"]["id"], "due_on": due},
        )
        assert made.status_code == 201, made.text
        return str(made.json()["id"])

    with _api(live, "reviewer1") as api:
        earlier = issue(api, 0)
    photos = capture_photos(seed=41, gps=(lat, lon))
    with _api(live, "manager1") as api:
        body = submission_body(photos)
        assert api.put(f"/api/v1/visits/{earlier}/submissions/{uuid.uuid4()}", json=body).status_code == 201
        for photo in photos:
            answer = api.put(
                f"/api/v1/photos/{photo.id}",
                params={"visit_id": earlier, "item_key": photo.item_key, "sha256": photo.sha256},
                content=photo.data,
                headers={"Content-Type": "image/jpeg"},
            )
            assert answer.status_code in (200, 201), answer.text
    with _api(live, "reviewer1") as api:
        for _ in range(100):  # the derivatives are made just after the upload is acknowledged
            if all(api.get(f"/api/v1/photos/{p.id}").json()["state"] == "processed" for p in photos):
                break
            time.sleep(0.1)
        assert api.post(f"/api/v1/visits/{earlier}/review", json={"decision": "approve"}).status_code == 200
        next_visit = issue(api, 30)
    context = _context(browser, live, phone=True, lat=lat, lon=lon)
    page = context.new_page()
    _sign_in(page, "manager1")
    page.get_by_role("button", name="Download for offline").click()
    page.get_by_text(re.compile("visits downloaded")).wait_for()
    context.set_offline(True)
    page.goto(f"/#/visit/{next_visit}")
    page.get_by_text(re.compile("Last inspection's photos")).first.wait_for()
    overview = page.get_by_role("img", name=re.compile("^Overview of the collateral last time"))
    _poll(
        page,
        "() => [...document.querySelectorAll('.thumbs.previous img')].filter((i) => i.naturalWidth > 0).length === 3",
    )
    assert overview.count() == 2
    assert page.get_by_role("img", name=re.compile("^Nameplate or title document last time")).count() == 1
    _axe(page, "visit form with last time's photos")
    _shot(page, "manager-last-time-photos")
    context.close()
