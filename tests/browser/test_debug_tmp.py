import re
from typing import Any
from tests.browser.test_journey import _context, _plant_visit, _sign_in, _fill_checklist, _photo, PLANT


def test_debug(browser: Any, live: dict[str, Any]) -> None:
    visit = _plant_visit(live)
    site = visit["collateral"]["declared_site"]
    lat, lon = site["wgs84_lat"], site["wgs84_lon"]
    context = _context(browser, live, phone=True, lat=lat, lon=lon)
    page = context.new_page()
    page.on("console", lambda m: print("CONSOLE", m.type, m.text))
    page.on("pageerror", lambda e: print("PAGEERROR", e))
    page.on("requestfailed", lambda r: print("REQFAILED", r.url, r.failure))
    page.on("response", lambda r: print("RESP", r.request.method, r.url, r.status) if "/api/" in r.url else None)
    _sign_in(page, "manager1")
    page.get_by_role("link", name=re.compile(PLANT)).first.wait_for()
    page.goto(f"/#/visit/{visit['id']}")
    page.get_by_role("button", name="Check in").wait_for()
    _fill_checklist(page, [_photo(n, lat, lon) for n in (1, 2, 3)])
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url(re.compile("#/outbox"))
    page.wait_for_timeout(4000)
    print(page.inner_text("#app"))
