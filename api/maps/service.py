"""Map tiles passed on from the bank's provider and kept on disk.

The phone and the reviewer's browser fetch tiles from us, never from the provider: the provider's key stays on
the server, the app's Content-Security-Policy stays `'self'`, and tiles the phone keeps for offline use are
same-origin responses whose real size counts against its storage (a cross-origin, opaque response is counted
by Chrome as several megabytes). Tiles are kept under the state folder by a digest of the URL template, so a
new provider starts afresh; nothing expires them (delete the folder to refresh).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import urllib.error
import urllib.request
from pathlib import Path

from api.config import Settings
from api.kit.outbound import NO_REDIRECTS
from api.maps.exceptions import MapNotConfigured, TileNotFound, TileUnavailable

LARGEST_TILE = 512 * 1024
FETCH_TIMEOUT_SECONDS = 8.0
_MEDIA = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


def media_type(data: bytes) -> str | None:
    """The image type the bytes are (what a provider's error page, HTML or JSON, is not)."""
    for magic, kind in _MEDIA:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def tile_folder(settings: Settings) -> Path:
    digest = hashlib.sha256(settings.map_tile_url.encode()).hexdigest()[:12]
    return settings.state_folder / "tiles" / digest


def upstream_url(settings: Settings, z: int, x: int, y: int) -> str:
    url = settings.map_tile_url.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))
    if "{s}" in url:
        subdomains = settings.map_tile_subdomains
        url = url.replace("{s}", subdomains[(x + y) % len(subdomains)])
    return url


def tile(settings: Settings, z: int, x: int, y: int) -> tuple[bytes, str]:
    """The tile's bytes and type: from the disk, else from the provider (then kept)."""
    if not settings.map_tile_url:
        raise MapNotConfigured()
    if z > settings.map_max_zoom or x >= 2**z or y >= 2**z:
        raise TileNotFound(
            f"There is no tile {z}/{x}/{y} (zoom 0–{settings.map_max_zoom}, x and y below 2^z).",
            detail_zh=f"没有瓦片 {z}/{x}/{y}（缩放级别 0–{settings.map_max_zoom}，x、y 小于 2^z）。",
        )
    path = tile_folder(settings) / str(z) / str(x) / str(y)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    kind = media_type(data)
    if kind is not None:
        return data, kind
    data = _fetch(settings, z, x, y)
    kind = media_type(data)
    if kind is None:
        raise TileUnavailable(
            "The map provider answered with something that is not an image.",
            detail_zh="地图服务返回的不是图片。",
        )
    _keep(path, data)
    return data, kind


def _fetch(settings: Settings, z: int, x: int, y: int) -> bytes:
    agent = "Fieldvisit/0.1" + (f" (+{settings.public_url})" if settings.public_url else "")
    request = urllib.request.Request(upstream_url(settings, z, x, y), headers={"User-Agent": agent})
    try:
        with NO_REDIRECTS.open(request, timeout=FETCH_TIMEOUT_SECONDS) as response:
            data: bytes = response.read(LARGEST_TILE + 1)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise TileNotFound(
                "The map provider has no tile here.", detail_zh="地图服务没有这块瓦片。"
            ) from exc
        raise TileUnavailable(
            f"The map provider answered {exc.code}.", detail_zh=f"地图服务返回 {exc.code}。"
        ) from exc
    except (urllib.error.URLError, OSError) as exc:  # refused, timed out, name not found
        raise TileUnavailable("The map provider cannot be reached.", detail_zh="无法连接地图服务。") from exc
    if len(data) > LARGEST_TILE:
        raise TileUnavailable(
            "The map provider's tile is larger than any map tile should be.",
            detail_zh="地图服务返回的瓦片过大。",
        )
    return data


def _keep(path: Path, data: bytes) -> None:
    """Written aside and renamed, so a reader never sees half a tile; a full disk only costs the keeping."""
    draft = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        draft.write_bytes(data)
        os.replace(draft, path)
    except OSError:
        draft.unlink(missing_ok=True)
