"""The watermark camera's band (水印相机): a copy of a photo stamped with when, where, who and for which
borrower, as field staff in China expect to see on site photos. Made from the preview on first request and
kept beside the other derivatives; the original is never touched and stays the evidence.

The band's text is part of the copy's name (a hash of it), so a renamed manager or borrower gives a new
copy rather than a stale one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw, ImageFont, ImageOps

from api.photos.models import Photo

STAMPED_PX = 1280
# Debian's fonts-noto-cjk; index 2 of the collection is Simplified Chinese.
CJK_FONTS = (
    (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), 2),
    (Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"), 2),
)
FontType = ImageFont.FreeTypeFont | ImageFont.ImageFont


@cache
def _font(size: int) -> FontType:
    for path, index in CJK_FONTS:
        if path.exists():
            return ImageFont.truetype(str(path), size, index=index)
    return ImageFont.load_default(size)  # no CJK glyphs: Chinese shows as boxes until the fonts are installed


def band_lines(photo: Photo, *, manager: str, borrower: str, zone: str) -> list[str]:
    """Time (the camera's, else the phone's, else when it arrived) in the bank's zone, place, who, whose."""
    taken: dt.datetime | None = None
    if isinstance(photo.exif.get("taken_at"), str):
        taken = dt.datetime.fromisoformat(photo.exif["taken_at"])
    taken = taken or photo.device_taken_at or photo.received_at
    gps = photo.exif.get("gps") if isinstance(photo.exif.get("gps"), dict) else None
    fix = gps or photo.device_fix or {}
    if "lat" in fix and "lon" in fix:
        lat, lon = float(fix["lat"]), float(fix["lon"])
        place = f"{abs(lat):.5f}°{'N' if lat >= 0 else 'S'} {abs(lon):.5f}°{'E' if lon >= 0 else 'W'}"
        if fix.get("accuracy_m") is not None:
            place += f" ±{float(fix['accuracy_m']):.0f} m"
    else:
        place = "无定位 no position"
    return [
        taken.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S"),
        place,
        f"客户经理 {manager} · 借款人 {borrower}",
        f"Fieldvisit · SHA-256 {photo.sha256[:16]}",
    ]


def key_of(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def stamp(source: Path, lines: list[str], *, width: int = STAMPED_PX) -> bytes:
    """A JPEG of `source` at most `width` wide with the band across its foot."""
    with Image.open(source) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    image.thumbnail((width, width), Image.Resampling.BICUBIC)
    size = max(12, image.width // 40)
    font = _font(size)
    line_height = int(size * 1.35)
    band = line_height * len(lines) + size
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    draw.rectangle((0, image.height - band, image.width, image.height), fill=(0, 0, 0, 150))
    draw.rectangle((0, image.height - band, size // 3, image.height), fill=(240, 160, 0, 255))
    for n, line in enumerate(lines):
        draw.text((size, image.height - band + size // 2 + n * line_height), line, font=font, fill="white")
    stamped = Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
    out = io.BytesIO()
    stamped.save(out, "JPEG", quality=85, optimize=True)
    return out.getvalue()
