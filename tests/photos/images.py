"""Test photos made here with Pillow: noise-textured JPEGs, PNGs, WebPs and HEICs, with EXIF as asked."""

from __future__ import annotations

import hashlib
import io
import random
from typing import Any

from PIL import ExifTags, Image, ImageDraw
from PIL.TiffImagePlugin import IFDRational


def picture(width: int = 640, height: int = 480, seed: int = 1) -> Image.Image:
    rng = random.Random(seed)
    image = Image.new("RGB", (width, height), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    draw = ImageDraw.Draw(image)
    for _ in range(60):
        x, y = rng.randrange(width), rng.randrange(height)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.rectangle(
            [x, y, x + rng.randrange(1, width // 3), y + rng.randrange(1, height // 3)], fill=colour
        )
    return image


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600 * 1000)
    return IFDRational(degrees, 1), IFDRational(minutes, 1), IFDRational(seconds, 1000)


def exif_block(
    *,
    gps: tuple[float, float] | None = None,
    altitude: float | None = None,
    taken: str | None = "2026:11:28 10:15:00",
    offset: str | None = None,
    orientation: int | None = None,
    make: str | None = "Fieldvisit Test Camera",
    model: str | None = "FV-1",
) -> Image.Exif:
    exif = Image.Exif()
    if make:
        exif[ExifTags.Base.Make] = make
    if model:
        exif[ExifTags.Base.Model] = model
    if orientation:
        exif[ExifTags.Base.Orientation] = orientation
    if taken or offset:
        sub = exif.get_ifd(ExifTags.IFD.Exif)
        if taken:
            sub[ExifTags.Base.DateTimeOriginal] = taken
        if offset:
            sub[ExifTags.Base.OffsetTimeOriginal] = offset
    if gps:
        lat, lon = gps
        block = exif.get_ifd(ExifTags.IFD.GPSInfo)
        block[ExifTags.GPS.GPSLatitudeRef] = "N" if lat >= 0 else "S"
        block[ExifTags.GPS.GPSLatitude] = _dms(lat)
        block[ExifTags.GPS.GPSLongitudeRef] = "E" if lon >= 0 else "W"
        block[ExifTags.GPS.GPSLongitude] = _dms(lon)
        if altitude is not None:
            block[ExifTags.GPS.GPSAltitudeRef] = b"\x00" if altitude >= 0 else b"\x01"
            block[ExifTags.GPS.GPSAltitude] = IFDRational(round(abs(altitude) * 100), 100)
    return exif


def encode(image: Image.Image, fmt: str = "JPEG", exif: Image.Exif | None = None, **options: Any) -> bytes:
    buffer = io.BytesIO()
    if exif is not None:
        options["exif"] = exif.tobytes()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg(width: int = 640, height: int = 480, seed: int = 1, **exif: Any) -> bytes:
    return encode(picture(width, height, seed), "JPEG", exif_block(**exif), quality=88)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
