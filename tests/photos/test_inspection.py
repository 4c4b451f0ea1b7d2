"""What the bytes say: EXIF read right in every hemisphere, HEIC too; hashes stable across re-encoding."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import Image

from api.photos import inspection
from api.photos.inspection import Limits, derive, hamming, inspect
from tests.photos.images import encode, exif_block, jpeg, picture

LIMITS = Limits(jpeg_pixels=210_000_000, other_pixels=100_000_000)


def _file(tmp_path: Path, data: bytes, name: str = "photo") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "lat, lon",
    [(31.2304, 121.4737), (-33.8688, 151.2093), (40.7128, -74.006), (-22.9068, -43.1729)],
    ids=["north-east", "south-east", "north-west", "south-west"],
)
def test_gps_is_signed_by_its_hemisphere(tmp_path: Path, lat: float, lon: float) -> None:
    facts = inspect(
        _file(tmp_path, jpeg(gps=(lat, lon), altitude=-3.5)), declared_type="image/jpeg", limits=LIMITS
    )
    assert facts.gps_lat == pytest.approx(lat, abs=1e-6)
    assert facts.gps_lon == pytest.approx(lon, abs=1e-6)
    assert facts.gps_alt == -3.5


def test_time_with_and_without_an_offset(tmp_path: Path) -> None:
    with_offset = inspect(
        _file(tmp_path, jpeg(taken="2026:11:28 10:15:00", offset="+08:00")), declared_type=None, limits=LIMITS
    )
    assert (
        with_offset.taken_at is not None and with_offset.taken_at.isoformat() == "2026-11-28T02:15:00+00:00"
    )
    local = inspect(
        _file(tmp_path, jpeg(taken="2026:11:28 10:15:00", offset=None), "b"),
        declared_type=None,
        limits=LIMITS,
    )
    assert local.taken_at is None
    assert local.taken_at_local == "2026-11-28T10:15:00"
    assert "camera local time" in local.exif_json()["taken_at_note"]


def test_missing_exif_is_not_an_error(tmp_path: Path) -> None:
    facts = inspect(_file(tmp_path, encode(picture(), "JPEG")), declared_type="image/jpeg", limits=LIMITS)
    assert facts.gps_lat is None and facts.taken_at_local is None and facts.make is None


def test_heic_with_exif(tmp_path: Path) -> None:
    data = encode(picture(), "HEIF", exif_block(gps=(-33.5, -70.6), offset="-03:00"))
    facts = inspect(_file(tmp_path, data), declared_type="image/heic", limits=LIMITS)
    assert facts.format == "HEIF"
    assert facts.gps_lat == pytest.approx(-33.5) and facts.gps_lon == pytest.approx(-70.6)
    assert facts.taken_at is not None and facts.taken_at.hour == 13
    assert derive(_file(tmp_path, data, "again")).thumbnail[:2] == b"\xff\xd8"


def test_exif_strings_come_back_as_data(tmp_path: Path) -> None:
    data = jpeg(make="<script>alert(1)</script>", model="x\x00y")
    facts = inspect(_file(tmp_path, data), declared_type="image/jpeg", limits=LIMITS)
    assert facts.make == "<script>alert(1)</script>"  # kept verbatim as data; escaped where shown
    assert facts.model == "xy"


def test_derivatives_are_upright_and_sized(tmp_path: Path) -> None:
    data = jpeg(2000, 1500, orientation=6)
    made = derive(_file(tmp_path, data))
    thumb = Image.open(io.BytesIO(made.thumbnail))
    preview = Image.open(io.BytesIO(made.preview))
    assert thumb.size == (240, 320)  # rotated upright: portrait
    assert preview.size == (1200, 1600)


def test_phash_survives_reencoding_but_not_a_different_photo(tmp_path: Path) -> None:
    original = picture(1200, 900, seed=3)
    first = derive(_file(tmp_path, encode(original, "JPEG", quality=92), "a")).phash
    reencoded = derive(_file(tmp_path, encode(original.resize((800, 600)), "JPEG", quality=60), "b")).phash
    other = derive(_file(tmp_path, encode(picture(1200, 900, seed=4), "JPEG"), "c")).phash
    assert hamming(first, reencoded) <= 4
    assert hamming(first, other) > 12


def test_phash_agrees_across_orientation_tags(tmp_path: Path) -> None:
    upright = picture(800, 600, seed=5)
    tagged = upright.transpose(Image.Transpose.ROTATE_90)  # stored sideways, tag says rotate back
    a = derive(_file(tmp_path, encode(upright, "JPEG", quality=90), "a")).phash
    b = derive(_file(tmp_path, encode(tagged, "JPEG", exif_block(orientation=6), quality=90), "b")).phash
    assert hamming(a, b) <= 6


def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.txt", "hidden " * 100)
    return buffer.getvalue()


BAD_FILES = {
    "text": (b"hello, this is not a photo\n" * 10, "image/jpeg", inspection.NotAnImage),
    "html": (b"<html><script>alert(1)</script></html>", "image/jpeg", inspection.NotAnImage),
    "truncated jpeg": (jpeg(800, 600)[:6000], "image/jpeg", inspection.Damaged),
    "png bomb": (_png_claiming(50_000, 50_000), "image/png", inspection.TooManyPixels),
    "zip appended": (jpeg() + _zip_bytes(), "image/jpeg", inspection.AppendedArchive),
    "lying type": (encode(picture(), "PNG"), "image/jpeg", inspection.TypeMismatch),
    "eps": (
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
        "image/jpeg",
        inspection.FormatNotAllowed,
    ),
    "gif": (encode(picture(), "GIF"), "image/gif", inspection.FormatNotAllowed),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_files_are_refused_with_a_reason(tmp_path: Path, name: str) -> None:
    data, declared, error = BAD_FILES[name]
    with pytest.raises(error):
        inspect(_file(tmp_path, data), declared_type=declared, limits=LIMITS)


def test_a_motion_photo_tail_is_not_refused(tmp_path: Path) -> None:
    """Phones append a video after the JPEG (motion photos): trailing data alone is legitimate."""
    data = jpeg() + b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500
    assert inspect(_file(tmp_path, data), declared_type="image/jpeg", limits=LIMITS).format == "JPEG"


def test_the_pixel_limit_is_the_configured_one(tmp_path: Path) -> None:
    data = jpeg(1000, 1000)
    with pytest.raises(inspection.TooManyPixels):
        inspect(_file(tmp_path, data), declared_type="image/jpeg", limits=Limits(999_999, 999_999))
    assert (
        inspect(_file(tmp_path, data), declared_type="image/jpeg", limits=Limits(1_000_000, 10)).width == 1000
    )


def test_a_photos_image_memory_is_reused_for_the_next(tmp_path: Path) -> None:
    """Freed image memory stays in Pillow's pool: the second photo's derivatives need no fresh blocks, where
    Pillow's default hands every block back and pages the next image in afresh (~7,000 faults a 12 MP photo).
    """
    from PIL import _imaging as pillow_core

    # A full decode and a resize to 1600 px, then a photo of another width decoded at half scale.
    for n, size in enumerate(((3000, 2250), (3200, 2400))):
        (tmp_path / f"{n}.jpg").write_bytes(encode(picture(*size, seed=n), "JPEG", quality=80))
    derive(tmp_path / "0.jpg")
    pillow_core.reset_stats()
    derive(tmp_path / "1.jpg")
    stats = pillow_core.get_stats()
    assert stats["reused_blocks"] > 0
    assert stats["allocated_blocks"] == 0
