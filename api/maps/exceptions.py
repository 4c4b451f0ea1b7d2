from __future__ import annotations

from api.errors import AppError


class MapNotConfigured(AppError):
    status = 404
    code = "map_not_configured"
    title_zh = "未配置地图底图"
    title_en = "No map tiles are configured"

    def __init__(self) -> None:
        super().__init__(
            "This server has no map tile provider (FIELDVISIT_MAP_TILE_URL); maps show positions without tiles.",
            detail_zh="本服务未配置地图底图（FIELDVISIT_MAP_TILE_URL），地图仅显示位置。",
        )


class TileNotFound(AppError):
    status = 404
    code = "tile_not_found"
    title_zh = "没有这块地图瓦片"
    title_en = "No such map tile"


class TileUnavailable(AppError):
    status = 502
    code = "tile_unavailable"
    title_zh = "地图服务暂不可用"
    title_en = "The map provider is unavailable"
