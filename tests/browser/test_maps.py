"""Maps with real tiles (issue 12, item 4), in Debian's Chromium: the tiles around the day's sites kept on the
phone with the work package — in the tiles' datum, within the radius and zoom range, lowest zooms first up to
the size cap — and shown offline; the reviewer's map of the site, the check-in and the photos on tiles."""

from __future__ import annotations

import datetime as dt
import math
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from api.kit.geo import wgs84_to_gcj02
from tests.browser.test_journey import _api, _axe, _context, _poll, _shot, _sign_in
from tests.maps.tile_server import Provider, tile_png, tile_provider
from tests.sync.helpers import capture_photos, submission_body

# Chromium keeps the machine's clock: the server it talks to must too.
pytestmark = pytest.mark.real_clock

RADIUS_M, ZOOMS = 300, range(14, 17)


@pytest.fixture
def provider(live: dict[str, Any]) -> Iterator[Provider]:
    """A tile provider in GCJ-02 (as Amap's or Tencent's) behind the live server."""
    app = live["app"]
    before = app.state.settings
    with tile_provider() as running:
        app.state.settings = before.model_copy(
            update={
                "map_tile_url": running.template(),
                "map_attribution": "© 测试底图",
                "map_datum": "GCJ02",
                "map_offline_radius_m": RADIUS_M,
                "map_offline_min_zoom": ZOOMS[0],
                "map_offline_max_zoom": ZOOMS[-1],
            }
        )
        try:
            yield running
        finally:
            app.state.settings = before


def _tile_of(lat: float, lon: float, z: int) -> tuple[int, int]:
    n, rad = 2**z, math.radians(lat)
    x = math.floor((lon + 180) / 360 * n)
    y = math.floor((1 - math.log(math.tan(rad) + 1 / math.cos(rad)) / math.pi) / 2 * n)
    return min(n - 1, max(0, x)), min(n - 1, max(0, y))


def _tiles_around(lat: float, lon: float, z: int) -> list[str]:
    """What the phone should keep around one site: written out here, not imported from the app."""
    d_lat, d_lon = RADIUS_M / 111320, RADIUS_M / (111320 * max(0.01, math.cos(math.radians(lat))))
    (x0, y0), (x1, y1) = _tile_of(lat + d_lat, lon - d_lon, z), _tile_of(lat - d_lat, lon + d_lon, z)
    return [f"{z}/{x}/{y}" for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def _sites(live: dict[str, Any], username: str) -> list[tuple[float, float]]:
    with _api(live, username) as api:
        package = api.get("/api/v1/me/work-package").json()
    sites = []
    for entry in package["visits"]:
        subject = entry["visit"].get("collateral") or entry["visit"].get("project")
        if subject and subject.get("declared_site"):
            sites.append((subject["declared_site"]["wgs84_lat"], subject["declared_site"]["wgs84_lon"]))
    return sites


def test_the_days_sites_are_on_the_phone_offline(
    browser: Any, live: dict[str, Any], provider: Provider
) -> None:
    sites = _sites(live, "manager2")
    assert sites
    # In the tiles' datum: a GCJ-02 map draws a GPS position ~500 m off unless it is shifted.
    expected = {
        tile: z for z in ZOOMS for lat, lon in sites for tile in _tiles_around(*wgs84_to_gcj02(lat, lon), z)
    }
    with _api(live, "manager2") as api:
        visit = next(
            v
            for v in api.get("/api/v1/visits", params={"status": ["scheduled"]}).json()["items"]
            if v["subject_type"] == "collateral"
        )
        site = api.get(f"/api/v1/visits/{visit['id']}").json()["collateral"]["declared_site"]
    # The manager stands 80 m north of the site.
    context = _context(browser, live, phone=True, lat=site["wgs84_lat"] + 0.00072, lon=site["wgs84_lon"])
    page = context.new_page()
    _sign_in(page, "manager2")
    page.get_by_role("button", name="Download for offline").click()
    page.get_by_text(re.compile("visits downloaded")).wait_for()
    assert {hit.removeprefix("/tiles/").removesuffix(".png") for hit in provider.hits} == set(expected)
    assert set(provider.hits.values()) == {1}  # each asked of the provider once
    page.goto("/#/outbox")
    page.get_by_text(f"offline map: {len(expected)} tile(s)", exact=False).wait_for()

    # The phone's conversion is the server's.
    for lat, lon in [*sites, (39.9087, 116.3975), (22.5431, 114.0579), (48.8584, 2.2945)]:
        shifted = page.evaluate(
            f"import('/app/js/core/geo.js').then((geo) => geo.wgs84ToGcj02({lat}, {lon}))"
        )
        assert shifted == pytest.approx(list(wgs84_to_gcj02(lat, lon)), abs=1e-9)

    context.set_offline(True)
    page.goto(f"/#/visit/{visit['id']}")
    page.locator(".map-point.site").wait_for()
    _poll(page, "() => document.querySelectorAll('.leaflet-tile-loaded').length >= 4")
    sources = page.eval_on_selector_all(".leaflet-tile-loaded", "(tiles) => tiles.map((t) => t.src)")
    assert all(src.startswith("blob:") for src in sources)  # from the phone, not the network
    assert page.locator(".leaflet-control-scale").count() == 1
    assert "© 测试底图" in page.locator(".leaflet-control-attribution").inner_text()
    assert page.locator(".map-point.fix").count() == 1  # where the manager is, with the accuracy circle
    assert page.locator(".map-accuracy").count() == 1
    _axe(page, "visit with its map offline")
    _shot(page, "manager-visit-map")

    # The size cap: the lowest zoom first, so every site keeps its overview when space runs out.
    context.set_offline(False)
    lowest = [tile for tile, z in expected.items() if z == ZOOMS[0]]
    cap = sum(len(tile_png(*map(int, tile.split("/")))) for tile in lowest)
    app = live["app"]
    app.state.settings = app.state.settings.model_copy(update={"map_offline_max_mb": cap / 1024 / 1024})
    page.goto("/#/")
    page.get_by_role("button", name="Download for offline").click()
    page.get_by_text(re.compile("visits downloaded")).wait_for()
    page.goto("/#/outbox")
    page.get_by_text(f"offline map: {len(lowest)} tile(s)", exact=False).wait_for()
    context.close()


def test_the_reviewer_sees_the_check_in_and_photos_on_tiles(
    browser: Any, live: dict[str, Any], provider: Provider
) -> None:
    # manager1 inspects one of the collateral, photos taken 60–120 m from the declared site.
    with _api(live, "manager1") as api:
        visit = next(
            v
            for v in api.get("/api/v1/visits", params={"status": ["scheduled"]}).json()["items"]
            if v["subject_type"] == "collateral"
        )
        site = api.get(f"/api/v1/visits/{visit['id']}").json()["collateral"]["declared_site"]
        lat, lon = site["wgs84_lat"], site["wgs84_lon"]
        photos = capture_photos(seed=77, gps=(lat + 0.0006, lon + 0.0006))
        check_in = {
            "lat": lat + 0.0003,
            "lon": lon,
            "accuracy_m": 25.0,
            "fixed_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        body = submission_body(photos, check_in=check_in)
        assert (
            api.put(f"/api/v1/visits/{visit['id']}/submissions/{uuid.uuid4()}", json=body).status_code == 201
        )
        for photo in photos:
            answer = api.put(
                f"/api/v1/photos/{photo.id}",
                params={"visit_id": visit["id"], "item_key": photo.item_key, "sha256": photo.sha256},
                content=photo.data,
                headers={"Content-Type": "image/jpeg"},
            )
            assert answer.status_code in (200, 201), answer.text
    with _api(live, "reviewer1") as api:
        for _ in range(100):  # EXIF is read when the derivatives are made, just after the upload
            record = api.get(f"/api/v1/visits/{visit['id']}").json()
            if all(p["state"] == "processed" for p in record["photos"]):
                break
            time.sleep(0.1)
    context = _context(browser, live, phone=False)
    page = context.new_page()
    _sign_in(page, "reviewer1")
    page.get_by_role("heading", name="Review", exact=True).wait_for()
    page.goto(f"/#/review/{visit['id']}")
    page.locator(".map-point.site").wait_for()
    _poll(page, "() => document.querySelectorAll('.leaflet-tile-loaded').length >= 4")
    assert page.locator(".map-point.photo").count() == len(photos) == 3
    assert page.locator(".map-point.fix").count() == 1 and page.locator(".map-accuracy").count() == 1
    assert page.locator(".leaflet-control-scale").count() == 1
    # Every point is in view (the map is fitted to them).
    inside = page.evaluate(
        """() => {
          const box = document.querySelector('.map-view').getBoundingClientRect();
          return [...document.querySelectorAll('.map-point')].every((p) => {
            const r = p.getBoundingClientRect();
            return r.left >= box.left && r.right <= box.right && r.top >= box.top && r.bottom <= box.bottom;
          });
        }"""
    )
    assert inside
    _axe(page, "review visit with tiles")
    _shot(page, "reviewer-visit-map")
    context.close()
