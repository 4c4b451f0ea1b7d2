"""Maps: what the apps need to draw maps, and the tiles themselves from our own address."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from api.auth.dependencies import CurrentUser, SettingsDep
from api.maps import service
from api.maps.schemas import MapSettings, OfflineTiles

router = APIRouter(prefix="/api/v1/map", tags=["maps"])

TILE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            kind: {"schema": {"type": "string", "format": "binary"}} for kind in ("image/png", "image/jpeg")
        },
        "description": "The tile, from our disk or fetched from the provider once.",
    }
}
Zoom = Annotated[int, Path(ge=0, le=22)]
Index = Annotated[int, Path(ge=0, lt=2**22)]


@router.get(
    "", response_model=MapSettings, summary="How to draw maps: tiles, attribution, datum, offline range"
)
def map_settings(user: CurrentUser, settings: SettingsDep) -> MapSettings:
    return MapSettings(
        tiles=bool(settings.map_tile_url),
        tile_url="/api/v1/map/tiles/{z}/{x}/{y}",
        attribution=settings.map_attribution,
        datum=settings.map_datum,
        max_zoom=settings.map_max_zoom,
        offline=OfflineTiles(
            radius_m=settings.map_offline_radius_m,
            min_zoom=settings.map_offline_min_zoom,
            max_zoom=min(settings.map_offline_max_zoom, settings.map_max_zoom),
            max_bytes=int(settings.map_offline_max_mb * 1024 * 1024),
        ),
    )


@router.get(
    "/tiles/{z}/{x}/{y}",
    response_class=Response,
    responses=TILE,
    summary="One map tile, passed on from the bank's provider",
    description="404 `map_not_configured` when no provider is set; 502 `tile_unavailable` when it fails.",
)
def map_tile(z: Zoom, x: Index, y: Index, user: CurrentUser, settings: SettingsDep) -> Response:
    data, kind = service.tile(settings, z, x, y)
    return Response(data, media_type=kind, headers={"Cache-Control": "private, max-age=604800"})
