"""Each rule at its boundaries: just inside and just outside every threshold."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any

import pytest

from api.checklists.schemas import Item, ItemRule, Severity
from api.config import Settings
from api.photos.models import Photo
from api.rules import engine
from api.rules.engine import Finding, Site

pytestmark = pytest.mark.calendar

SETTINGS = Settings()
SITE = Site(31.2304, 121.4737, "上海")


def north_of(site: Site, metres: float) -> tuple[float, float]:
    return site.lat + metres / 111_195.0, site.lon


def east_of(lat: float, lon: float, metres: float) -> tuple[float, float]:
    return lat, lon + metres / (111_195.0 * math.cos(math.radians(lat)))


def fix(lat: float, lon: float, accuracy: float = 10) -> dict[str, Any]:
    return {"lat": lat, "lon": lon, "accuracy_m": accuracy}


@pytest.mark.parametrize(("metres", "passes"), [(290, True), (310, False), (2100, False)])
def test_site_distance_threshold(metres: float, passes: bool) -> None:
    outcome = engine.site_distance(
        fix=fix(*north_of(SITE, metres)), site=SITE, item_key="check_in", item_rule=None, settings=SETTINGS
    )
    if passes:
        assert outcome is True
    else:
        assert isinstance(outcome, Finding)
        assert outcome.severity == Severity.major
        assert outcome.observed["distance_m"] == pytest.approx(metres, rel=0.01)


def test_site_distance_explains_in_both_languages() -> None:
    outcome = engine.site_distance(
        fix=fix(*north_of(SITE, 2100)), site=SITE, item_key="check_in", item_rule=None, settings=SETTINGS
    )
    assert isinstance(outcome, Finding)
    assert outcome.explanation_zh == "签到位置距申报地址 2.1 公里"
    assert outcome.explanation_en == "check-in 2.1 km from the declared site"


@pytest.mark.parametrize(("accuracy", "verdict"), [(99, True), (101, "unverified")])
def test_a_poor_fix_is_location_unverified_not_a_distance_verdict(accuracy: float, verdict: object) -> None:
    outcome = engine.site_distance(
        fix=fix(SITE.lat, SITE.lon, accuracy),
        site=SITE,
        item_key="check_in",
        item_rule=None,
        settings=SETTINGS,
    )
    if verdict is True:
        assert outcome is True
    else:
        assert isinstance(outcome, Finding) and "unverified" in outcome.explanation_en
        assert "distance_m" not in outcome.observed


def test_no_fix_is_unverified_and_item_parameters_win() -> None:
    none = engine.site_distance(fix=None, site=SITE, item_key="check_in", item_rule=None, settings=SETTINGS)
    assert isinstance(none, Finding) and none.observed is None
    strict = ItemRule(key="site_distance", severity=Severity.critical, params={"max_m": 100})
    outcome = engine.site_distance(
        fix=fix(*north_of(SITE, 150)), site=SITE, item_key="c", item_rule=strict, settings=SETTINGS
    )
    assert isinstance(outcome, Finding) and outcome.severity == Severity.critical


def _photo(**values: Any) -> Photo:
    defaults: dict[str, Any] = {
        "id": uuid.uuid4(),
        "visit_id": uuid.uuid4(),
        "item_key": "photo_overview",
        "exif": {},
        "gps_lat": None,
        "gps_lon": None,
        "taken_at": None,
        "device_fix": None,
        "device_taken_at": None,
    }
    return Photo(**{**defaults, **values})


@pytest.mark.parametrize(
    ("site", "sign"),
    [
        (Site(-33.8688, 151.2093, "Sydney"), "south"),
        (Site(40.7128, -74.0060, "New York"), "west"),
        (Site(-22.9068, -43.1729, "Rio"), "south-west"),
    ],
)
def test_photo_location_in_other_hemispheres(site: Site, sign: str) -> None:
    inside = _photo(gps_lat=east_of(site.lat, site.lon, 480)[0], gps_lon=east_of(site.lat, site.lon, 480)[1])
    outside = _photo(gps_lat=east_of(site.lat, site.lon, 520)[0], gps_lon=east_of(site.lat, site.lon, 520)[1])
    assert engine.photo_location(photo=inside, site=site, item_rule=None, settings=SETTINGS) is True
    finding = engine.photo_location(photo=outside, site=site, item_rule=None, settings=SETTINGS)
    assert isinstance(finding, Finding) and finding.observed["source"] == "exif"


def test_photo_location_falls_back_to_the_phone_and_else_cannot_judge() -> None:
    far = north_of(SITE, 900)
    by_device = _photo(device_fix={"lat": far[0], "lon": far[1], "accuracy_m": 5})
    finding = engine.photo_location(photo=by_device, site=SITE, item_rule=None, settings=SETTINGS)
    assert isinstance(finding, Finding) and finding.observed["source"] == "device"
    assert engine.photo_location(photo=_photo(), site=SITE, item_rule=None, settings=SETTINGS) is None


START = dt.datetime(2026, 11, 29, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


@pytest.mark.parametrize(("hours_before", "passes"), [(23.5, True), (24.5, False)])
def test_photo_time_threshold(hours_before: float, passes: bool) -> None:
    photo = _photo(taken_at=START - dt.timedelta(hours=hours_before))
    outcome = engine.photo_time(photo=photo, visit_start=START, item_rule=None, settings=SETTINGS)
    assert (outcome is True) if passes else isinstance(outcome, Finding)


def test_photo_time_without_an_offset_is_read_in_the_banks_zone() -> None:
    # 11:00 local on the 28th in Shanghai is 03:00 UTC: 23 h before the start, inside the window.
    inside = _photo(exif={"taken_at_local": "2026-11-28T11:00:00"})
    assert engine.photo_time(photo=inside, visit_start=START, item_rule=None, settings=SETTINGS) is True
    # Read as UTC it would have been 15 h later; read right, 09:00 local is 25 h before: outside.
    outside = _photo(exif={"taken_at_local": "2026-11-28T09:00:00"})
    finding = engine.photo_time(photo=outside, visit_start=START, item_rule=None, settings=SETTINGS)
    assert isinstance(finding, Finding) and finding.observed["source"] == "exif_local"


def test_photo_time_with_an_offset_and_without_any_time() -> None:
    new_york = dt.timezone(dt.timedelta(hours=-5))
    taken = dt.datetime(2026, 11, 27, 22, 0, tzinfo=new_york)  # 03:00 UTC on the 28th
    assert (
        engine.photo_time(photo=_photo(taken_at=taken), visit_start=START, item_rule=None, settings=SETTINGS)
        is True
    )
    assert engine.photo_time(photo=_photo(), visit_start=START, item_rule=None, settings=SETTINGS) is None


def _number_item(**rule_params: Any) -> Item:
    return Item(
        key="qty",
        type="number",
        label_zh="数量",
        label_en="Quantity",
        binds_to="quantity",
        rule=ItemRule(key="value_tolerance", params=rule_params),
    )


@pytest.mark.parametrize(
    ("params", "observed", "passes"),
    [
        ({"mode": "relative", "tolerance": 0.1, "sides": "below"}, 91, True),
        ({"mode": "relative", "tolerance": 0.1, "sides": "below"}, 89, False),
        ({"mode": "relative", "tolerance": 0.1, "sides": "below"}, 150, True),
        ({"mode": "relative", "tolerance": 0.1, "sides": "both"}, 111, False),
        ({"mode": "absolute", "tolerance": 10, "sides": "below"}, 90.5, True),
        ({"mode": "absolute", "tolerance": 10, "sides": "below"}, 89.5, False),
        ({"mode": "absolute", "tolerance": 5, "sides": "above"}, 80, True),
        ({"mode": "absolute", "tolerance": 5, "sides": "above"}, 106, False),
    ],
)
def test_value_tolerance(params: dict[str, Any], observed: float, passes: bool) -> None:
    outcome = engine.value_tolerance(item=_number_item(**params), observed=observed, declared=(100.0, "台"))
    assert (outcome is True) if passes else isinstance(outcome, Finding)


def test_value_tolerance_needs_a_declaration() -> None:
    assert engine.value_tolerance(item=_number_item(tolerance=0.1), observed=5, declared=None) is None


def test_expected_answer_single_and_list() -> None:
    present = Item(
        key="p",
        type="boolean",
        label_zh="在场",
        label_en="Present",
        rule=ItemRule(key="expected_answer", severity=Severity.critical, params={"expected": True}),
    )
    finding = engine.expected_answer(item=present, observed=False)
    assert isinstance(finding, Finding) and finding.severity == Severity.critical
    assert "answered \u201cno\u201d" in finding.explanation_en
    assert engine.expected_answer(item=present, observed=True) is True
    condition = Item(
        key="c",
        type="choice",
        label_zh="状况",
        label_en="Condition",
        choices=[
            {"value": "good", "label_zh": "良好", "label_en": "Good"},
            {"value": "poor", "label_zh": "较差", "label_en": "Poor"},
        ],
        rule=ItemRule(key="expected_answer", params={"expected": ["good"]}),
    )
    poor = engine.expected_answer(item=condition, observed="poor")
    assert isinstance(poor, Finding) and "较差" in poor.explanation_zh


def test_required_evidence() -> None:
    item = Item(
        key="e",
        type="photo",
        label_zh="证据",
        label_en="Evidence",
        required=False,
        min_photos=0,
        rule=ItemRule(key="required_evidence", params={"min_photos": 2, "note_required": True}),
    )
    assert isinstance(engine.required_evidence(item=item, answer={"photos": ["a"], "note": "x"}), Finding)
    assert isinstance(engine.required_evidence(item=item, answer={"photos": ["a", "b"]}), Finding)
    assert engine.required_evidence(item=item, answer={"photos": ["a", "b"], "note": "见照片"}) is True
