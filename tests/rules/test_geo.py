"""Datum conversions against the reference values published with the widely used coordtransform library."""

from __future__ import annotations

import pytest

from api.kit.geo import bd09_to_gcj02, gcj02_to_bd09, gcj02_to_wgs84, haversine_m, to_wgs84, wgs84_to_gcj02


def test_wgs84_to_gcj02_reference_point() -> None:
    lat, lon = wgs84_to_gcj02(39.915, 116.404)
    assert lat == pytest.approx(39.91640428150164, abs=1e-9)
    assert lon == pytest.approx(116.41024449916938, abs=1e-9)


def test_gcj02_to_bd09_and_back_reference_points() -> None:
    lat, lon = gcj02_to_bd09(39.915, 116.404)
    assert (lat, lon) == (
        pytest.approx(39.92133699351021, abs=1e-9),
        pytest.approx(116.41036949371029, abs=1e-9),
    )
    lat, lon = bd09_to_gcj02(39.915, 116.404)
    assert (lat, lon) == (
        pytest.approx(39.90865673957631, abs=1e-9),
        pytest.approx(116.39762729119315, abs=1e-9),
    )


def test_gcj02_to_wgs84_inverts_the_forward_transform_to_centimetres() -> None:
    # The published one-step inverse gives (39.91359571849836, 116.39775550083061); iterating is closer.
    lat, lon = gcj02_to_wgs84(39.915, 116.404)
    assert haversine_m(lat, lon, 39.91359571849836, 116.39775550083061) < 2
    back = wgs84_to_gcj02(lat, lon)
    assert haversine_m(back[0], back[1], 39.915, 116.404) < 0.01


def test_the_offset_is_hundreds_of_metres_in_china_and_none_abroad() -> None:
    shanghai = wgs84_to_gcj02(31.2304, 121.4737)
    assert 100 < haversine_m(31.2304, 121.4737, *shanghai) < 700
    assert wgs84_to_gcj02(48.8566, 2.3522) == (48.8566, 2.3522)
    bd_lat, bd_lon = gcj02_to_bd09(*shanghai)
    assert haversine_m(*to_wgs84(bd_lat, bd_lon, "BD09"), 31.2304, 121.4737) < 1


def test_haversine_known_distance() -> None:
    # Shanghai People's Square to Beijing Tiananmen: about 1,067 km.
    assert haversine_m(31.2304, 121.4737, 39.9087, 116.3975) == pytest.approx(1_067_000, rel=0.01)
