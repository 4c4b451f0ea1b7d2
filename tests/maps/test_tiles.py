"""Map tiles from our own address: passed on from the bank's provider once, then from the disk; every way a
provider fails is a clear problem, never a 500, and nothing that is not an image is kept or served."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.orm import Session

from api.config import Settings
from api.maps.service import tile_folder
from tests.factories import login, make_bank
from tests.maps.tile_server import Provider, tile_png, tile_provider


@pytest.fixture
def provider() -> Iterator[Provider]:
    with tile_provider() as running:
        yield running


@pytest.fixture
def configure(app: FastAPI, settings: Settings) -> Iterator[Any]:
    """The app's map settings changed for one test (each provider listens on its own port, so its tiles are
    kept in a folder of their own)."""

    def apply(**overrides: Any) -> Settings:
        changed = settings.model_copy(update=overrides)
        app.state.settings = changed
        return changed

    yield apply
    app.state.settings = settings


@pytest.fixture
def signed_in(client: TestClient, session: Session) -> dict[str, str]:
    return login(client, make_bank(session).one.manager)


def test_without_a_provider_maps_say_so(
    client: TestClient, signed_in: dict[str, str], configure: Any
) -> None:
    configure(map_tile_url="")
    settings = client.get("/api/v1/map", headers=signed_in).json()
    assert settings["tiles"] is False and settings["datum"] == "WGS84"
    answer = client.get("/api/v1/map/tiles/3/1/2", headers=signed_in | {"Accept-Language": "zh-CN"})
    assert answer.status_code == 404
    assert answer.json()["code"] == "map_not_configured" and "未配置" in answer.json()["title"]


def test_a_tile_is_fetched_once_then_served_from_disk(
    client: TestClient, signed_in: dict[str, str], configure: Any, provider: Provider
) -> None:
    configure(map_tile_url=provider.template(), map_attribution="© 测试底图 <b>", map_datum="GCJ02")
    settings = client.get("/api/v1/map", headers=signed_in).json()
    assert settings["tiles"] is True and settings["datum"] == "GCJ02"
    assert (
        settings["attribution"] == "© 测试底图 <b>"
        and settings["tile_url"] == "/api/v1/map/tiles/{z}/{x}/{y}"
    )
    first = client.get("/api/v1/map/tiles/15/27441/13391", headers=signed_in)
    again = client.get("/api/v1/map/tiles/15/27441/13391", headers=signed_in)
    assert first.status_code == again.status_code == 200
    assert first.headers["content-type"] == "image/png"
    assert first.content == again.content == tile_png(15, 27441, 13391)
    assert provider.hits["/tiles/15/27441/13391.png"] == 1


def test_tiles_need_a_signed_in_person(client: TestClient, configure: Any, provider: Provider) -> None:
    configure(map_tile_url=provider.template())
    assert client.get("/api/v1/map/tiles/1/0/0").status_code == 401
    assert client.get("/api/v1/map").status_code == 401
    assert not provider.hits


@pytest.mark.parametrize(("z", "x", "y"), [(19, 0, 0), (2, 4, 0), (2, 0, 4)])
def test_a_tile_outside_the_world_is_not_found(
    client: TestClient, signed_in: dict[str, str], configure: Any, provider: Provider, z: int, x: int, y: int
) -> None:
    configure(map_tile_url=provider.template(), map_max_zoom=18)
    answer = client.get(f"/api/v1/map/tiles/{z}/{x}/{y}", headers=signed_in)
    assert answer.status_code == 404 and answer.json()["code"] == "tile_not_found"
    assert not provider.hits


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("html", 502, "tile_unavailable"), ("failing", 502, "tile_unavailable"), ("huge", 502, "tile_unavailable"),
     ("missing", 404, "tile_not_found"), ("moved", 502, "tile_unavailable")],  # a redirect is not followed
)  # fmt: skip
def test_a_failing_provider_is_a_clear_problem_and_nothing_is_kept(
    client: TestClient,
    signed_in: dict[str, str],
    configure: Any,
    provider: Provider,
    kind: str,
    status: int,
    code: str,
) -> None:
    settings = configure(map_tile_url=provider.template(kind))
    answer = client.get("/api/v1/map/tiles/4/3/5", headers=signed_in)
    assert answer.status_code == status and answer.json()["code"] == code
    assert not list(tile_folder(settings).rglob("5"))  # nothing kept under the tile's name
    client.get("/api/v1/map/tiles/4/3/5", headers=signed_in)
    assert provider.hits[f"/{kind}/4/3/5.png"] == 2  # asked again, not served a kept error
    assert "/tiles/4/3/5.png" not in provider.hits  # nor sent on elsewhere by a redirect


def test_an_unreachable_provider_is_a_bad_gateway(
    client: TestClient, signed_in: dict[str, str], configure: Any
) -> None:
    configure(map_tile_url="http://127.0.0.1:9/{z}/{x}/{y}.png")  # the discard port: refused
    answer = client.get("/api/v1/map/tiles/1/1/1", headers=signed_in | {"Accept-Language": "en"})
    assert answer.status_code == 502 and answer.json()["detail"] == "The map provider cannot be reached."


def test_subdomains_share_the_load(
    client: TestClient, signed_in: dict[str, str], configure: Any, provider: Provider
) -> None:
    configure(map_tile_url=f"{provider.url}/{{s}}/tiles/{{z}}/{{x}}/{{y}}.png", map_tile_subdomains="ab")
    for x in (0, 1):
        assert client.get(f"/api/v1/map/tiles/1/{x}/0", headers=signed_in).status_code == 200
    assert set(provider.hits) == {"/a/tiles/1/0/0.png", "/b/tiles/1/1/0.png"}


def test_a_tile_url_without_its_places_is_refused_at_start() -> None:
    for bad in ("https://tiles.example/{z}/{x}.png", "ftp://tiles.example/{z}/{x}/{y}.png"):
        with pytest.raises(ValidationError, match="MAP_TILE_URL"):
            Settings(map_tile_url=bad)
    with pytest.raises(ValidationError, match="SUBDOMAINS"):
        Settings(map_tile_url="https://{s}.tiles.example/{z}/{x}/{y}.png")
    with pytest.raises(ValidationError, match="MIN_ZOOM"):
        Settings(map_offline_min_zoom=16, map_offline_max_zoom=14)
