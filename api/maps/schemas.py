from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class OfflineTiles(BaseModel):
    radius_m: int = Field(description="Tiles within this distance of each site of the work package are kept.")
    min_zoom: int
    max_zoom: int
    max_bytes: int = Field(description="The phone stops keeping tiles past this size (nearest zooms first).")


class MapSettings(BaseModel):
    tiles: bool = Field(description="False: no provider is configured; maps show positions and a scale only.")
    tile_url: str = Field(
        description="Our own tile address, `{z}/{x}/{y}` to fill in (needs the bearer token)."
    )
    attribution: str
    datum: Literal["WGS84", "GCJ02"] = Field(
        description="The tiles' datum. Positions (WGS-84 from GPS) are shifted to GCJ-02 for GCJ-02 tiles."
    )
    max_zoom: int
    offline: OfflineTiles
