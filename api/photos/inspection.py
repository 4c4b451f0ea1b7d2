"""What Pillow may learn from a photo's bytes, safely.

Only the allowed formats are ever handed to a decoder (`formats=`), so an EPS never reaches
Ghostscript. A decompression bomb is refused from the header's size before any pixel is decoded, and
Pillow's own bomb warning is an error. `verify()` proves nothing for JPEG: a JPEG is proven whole by
walking its markers to the end-of-image marker (jpeg_structure), other formats by decoding them. A
JPEG that is whole but whose scan data is corrupt is kept as evidence and marked `failed` when the
derivatives cannot be made.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError
from PIL import _imaging as pillow_core  # Image.core: the C module, where the block pool is set

from api.errors import AppError
from api.photos import jpeg_structure

try:  # iPhones' HEIC/HEIF; the wheel ships libheif.
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF_AVAILABLE = True
except ImportError:  # pragma: no cover - pillow-heif is a dependency
    HEIF_AVAILABLE = False

# Our own per-format limits are checked first; Pillow's global one must not trip below them.
Image.MAX_IMAGE_PIXELS = None

# By default Pillow gives a freed image's memory straight back to the system, so every photo's images were
# paged in afresh: a 12 MP photo's ½-scale decode (12 MB) and its preview's resize (17 MB) cost ~7,000 page
# faults, a fifth of the CPU of its derivatives. Pillow's own pool keeps freed blocks for the next image; with
# small blocks of one size, images of any width reuse them (large blocks of different sizes were reallocated
# and faulted again). At most 64 MB is kept. An operator's PILLOW_BLOCK_SIZE / PILLOW_BLOCKS_MAX win.
if "PILLOW_BLOCK_SIZE" not in os.environ and "PILLOW_BLOCKS_MAX" not in os.environ:
    pillow_core.set_block_size(256 * 1024)
    pillow_core.set_blocks_max(256)

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")
CONTENT_TYPES = {
    "image/jpeg": {"JPEG", "MPO"},
    "image/jpg": {"JPEG", "MPO"},
    "image/png": {"PNG"},
    "image/webp": {"WEBP"},
    "image/heic": {"HEIF"},
    "image/heif": {"HEIF"},
    "image/heic-sequence": {"HEIF"},
    "image/heif-sequence": {"HEIF"},
}
THUMBNAIL_PX = 320
PREVIEW_PX = 1600


class PhotoRejected(AppError):
    status = 422
    code = "photo_rejected"
    title_zh = "照片未通过校验"
    title_en = "Photo rejected"
    commit_anyway = True  # the upload that carried it is removed, and that must stick


class NotAnImage(PhotoRejected):
    code = "photo_not_an_image"
    title_zh = "文件不是可识别的图片"
    title_en = "Not a recognised image"


class FormatNotAllowed(PhotoRejected):
    code = "photo_format_not_allowed"
    title_zh = "不支持的图片格式（仅支持 JPEG、PNG、WebP、HEIC）"
    title_en = "Format not allowed (JPEG, PNG, WebP, HEIC only)"


class TypeMismatch(PhotoRejected):
    code = "photo_type_mismatch"
    title_zh = "声明的文件类型与内容不符"
    title_en = "Declared content type does not match the bytes"


class TooManyPixels(PhotoRejected):
    code = "photo_too_many_pixels"
    title_zh = "图片像素过多（疑似解压炸弹）"
    title_en = "Too many pixels (possible decompression bomb)"


class Damaged(PhotoRejected):
    code = "photo_damaged"
    title_zh = "图片已损坏或不完整"
    title_en = "Image is damaged or truncated"


class AppendedArchive(PhotoRejected):
    code = "photo_has_appended_archive"
    title_zh = "图片后附带压缩包（疑似夹带文件）"
    title_en = "An archive is appended to the image"


@dataclass(frozen=True)
class Limits:
    jpeg_pixels: int
    other_pixels: int


@dataclass
class PhotoFacts:
    """What the bytes say, as typed values."""

    format: str
    width: int
    height: int
    orientation: int = 1
    make: str | None = None
    model: str | None = None
    gps_lat: float | None = None
    gps_lon: float | None = None
    gps_alt: float | None = None
    taken_at: dt.datetime | None = None  # aware when the camera recorded an offset
    taken_at_local: str | None = None  # DateTimeOriginal as written: the camera's local time
    taken_offset: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def exif_json(self) -> dict[str, Any]:
        gps = None
        if self.gps_lat is not None and self.gps_lon is not None:
            gps = {"lat": self.gps_lat, "lon": self.gps_lon, "alt": self.gps_alt}
        return {
            "gps": gps,
            "taken_at": self.taken_at.isoformat() if self.taken_at else None,
            "taken_at_local": self.taken_at_local,
            "taken_at_offset": self.taken_offset,
            "taken_at_note": None
            if self.taken_at_local is None or self.taken_offset
            else "camera local time; the camera recorded no UTC offset",
            "orientation": self.orientation,
            "make": self.make,
            "model": self.model,
        }


_SIGNATURES = (
    (b"%!PS", "PostScript/EPS"),
    (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"%PDF", "PDF"),
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"<svg", "SVG"),
)


def _sniff(path: Path) -> str | None:
    """Name a format we refuse, from its first bytes only: never by asking Pillow to open it."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    return next((name for magic, name in _SIGNATURES if head.startswith(magic)), None)


def _open(path: Path) -> Image.Image:
    try:
        return Image.open(path, formats=ALLOWED_FORMATS)
    except UnidentifiedImageError as exc:
        found = _sniff(path)
        if found:
            raise FormatNotAllowed(f"The file is {found}.", detail_zh=f"文件格式为 {found}。") from exc
        raise NotAnImage() from exc
    except Image.DecompressionBombError as exc:
        raise TooManyPixels(str(exc)) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise Damaged(str(exc)) from exc


def _appended_archive(path: Path) -> bool:
    """A ZIP riding behind the image (a polyglot). Other trailing data — a motion photo's video — is fine."""
    return zipfile.is_zipfile(path)


def _clean_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).replace("\x00", "").strip()
    return text[:200] or None


def _rational(value: Any) -> float:
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise ValueError("not a finite number")
    return number


def _dms(values: Any, ref: Any, positive: str, limit: float) -> float | None:
    try:
        degrees, minutes, seconds = (_rational(v) for v in values)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    decimal = degrees + minutes / 60 + seconds / 3600
    ref_text = _clean_text(ref) or positive
    if ref_text.upper().startswith(("S", "W")):
        decimal = -decimal
    if abs(decimal) > limit:
        return None
    return round(decimal, 7)


def _read_exif(image: Image.Image, facts: PhotoFacts) -> None:
    try:
        exif = image.getexif()
    except Exception:  # a broken EXIF block is not a broken photo
        return
    facts.make = _clean_text(exif.get(ExifTags.Base.Make))
    facts.model = _clean_text(exif.get(ExifTags.Base.Model))
    orientation = exif.get(ExifTags.Base.Orientation)
    if image.format == "HEIF":
        # pillow-heif already applies the container's rotation; the camera's value is kept aside.
        orientation = image.info.get("original_orientation", orientation)
    if isinstance(orientation, int) and 1 <= orientation <= 8:
        facts.orientation = orientation
    try:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    except Exception:
        gps = {}
    if gps:
        lat = _dms(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef), "N", 90)
        lon = _dms(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef), "E", 180)
        if lat is not None and lon is not None:
            facts.gps_lat, facts.gps_lon = lat, lon
        altitude = gps.get(ExifTags.GPS.GPSAltitude)
        if altitude is not None:
            try:
                alt = _rational(altitude)
                if gps.get(ExifTags.GPS.GPSAltitudeRef) in (b"\x01", 1):
                    alt = -alt
                facts.gps_alt = round(alt, 2)
            except (TypeError, ValueError, ZeroDivisionError):
                pass
    try:
        sub = exif.get_ifd(ExifTags.IFD.Exif)
    except Exception:
        sub = {}
    original = _clean_text(sub.get(ExifTags.Base.DateTimeOriginal) or exif.get(ExifTags.Base.DateTime))
    offset = _clean_text(sub.get(ExifTags.Base.OffsetTimeOriginal))
    if original:
        try:
            local = dt.datetime.strptime(original[:19], "%Y:%m:%d %H:%M:%S")
        except ValueError:
            return
        facts.taken_at_local = local.isoformat()
        if offset:
            try:
                aware = dt.datetime.fromisoformat(local.isoformat() + offset)
                facts.taken_at = aware.astimezone(dt.UTC)
                facts.taken_offset = offset
            except ValueError:
                facts.taken_offset = None


def _box(width: int, height: int, long_side: int) -> tuple[int, int]:
    """A draft box of the photo's own aspect ratio: a square box would not shrink a 4:3 photo."""
    scale = min(1.0, long_side / max(width, height))
    return max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))


def inspect(path: Path, *, declared_type: str | None, limits: Limits) -> PhotoFacts:
    """Validate the photo at `path` and read its facts. Raises a PhotoRejected subclass."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = _open(path)
        with image:
            fmt = image.format or ""
            width, height = image.size
            limit = limits.jpeg_pixels if fmt in ("JPEG", "MPO") else limits.other_pixels
            if width * height > limit:
                raise TooManyPixels(
                    f"{width} × {height} pixels is over the limit of {limit:,}.",
                    detail_zh=f"{width} × {height} 像素超过上限 {limit:,}。",
                )
            if declared_type is not None:
                allowed = CONTENT_TYPES.get(declared_type.split(";")[0].strip().lower())
                if allowed is None or fmt not in allowed:
                    raise TypeMismatch(
                        f"Declared {declared_type!r} but the bytes are {fmt}.",
                        detail_zh=f"声明为 {declared_type!r}，实际内容为 {fmt}。",
                    )
            if _appended_archive(path):
                raise AppendedArchive()
            facts = PhotoFacts(format=fmt, width=width, height=height)
            _read_exif(image, facts)
            if fmt in ("JPEG", "MPO"):
                # Whole-stream check without decoding; the one full decode is the derivatives'.
                if not jpeg_structure.complete(path):
                    raise Damaged(
                        "The JPEG ends before its end-of-image marker (truncated).",
                        detail_zh="JPEG 文件在结束标记之前中断（文件不完整）。",
                    )
                return facts
            try:
                image.load()
            except Image.DecompressionBombError as exc:
                raise TooManyPixels(str(exc)) from exc
            except (OSError, SyntaxError, ValueError, EOFError) as exc:
                raise Damaged(
                    f"The image could not be decoded: {exc}", detail_zh=f"图片无法完整解码：{exc}"
                ) from exc
    return facts


@dataclass(frozen=True)
class Derivatives:
    thumbnail: bytes
    preview: bytes | None  # None: the original is an upright JPEG no larger than a preview; it serves as one
    phash: int
    phash_variants: list[int]


def derive(path: Path) -> Derivatives:
    """Preview (1600 px) and thumbnail (320 px), orientation applied, and the 64-bit perceptual hash.

    Each is decoded at the smallest JPEG scale that still covers it (draft mode with a box of the
    photo's own aspect ratio), and an upright JPEG already within 1600 px is not re-encoded at all."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path, formats=ALLOWED_FORMATS) as image:
            # pillow-heif has already turned HEIF pixels upright.
            orientation = 1 if image.format == "HEIF" else _orientation(image)
            is_jpeg = image.format in ("JPEG", "MPO")
            original_fits = is_jpeg and orientation == 1 and max(image.size) <= PREVIEW_PX
            if is_jpeg:
                image.draft("RGB", _box(*image.size, THUMBNAIL_PX if original_fits else PREVIEW_PX))
            image.load()
            # No copy when the pixels are RGB already: the decoded image is the largest thing we hold.
            working = image if image.mode == "RGB" else image.convert("RGB")
            if not original_fits:
                # From the draft (at most 2× the preview's size) an area average is as sharp as bilinear
                # at a fraction of its cost: the 12 MP photo's preview step went from ~25 to ~8 ms.
                working.thumbnail((PREVIEW_PX, PREVIEW_PX), Image.Resampling.BOX)
    # Turning the small image upright costs almost nothing; turning the original would copy it whole.
    method = _TRANSPOSE.get(orientation)
    if method is not None:
        working = working.transpose(method)
    preview = None if original_fits else _jpeg(working, 85)
    # Integer reduction first (reducing_gap=1), bicubic only for what is left: 5× cheaper, same hash.
    working.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX), Image.Resampling.BICUBIC, reducing_gap=1.0)
    variants = perceptual_hash_variants(working)
    return Derivatives(
        thumbnail=_jpeg(working, 80), preview=preview, phash=variants[0], phash_variants=variants
    )


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _jpeg(image: Image.Image, quality: int) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    image.save(buffer, "JPEG", quality=quality, optimize=False, progressive=False)
    return buffer.getvalue()


# The DCT-II basis of the 8 lowest frequencies over 32 samples, [u][x].
_COS = np.array([[math.cos((2 * x + 1) * u * math.pi / 64) for x in range(32)] for u in range(8)])
_ODD = np.arange(8) % 2 == 1
# Mirroring the image multiplies coefficient (v, u) by (-1)^u (left-right) or (-1)^v (top-bottom): the sign
# patterns of no flip, either flip and both, [flip][v][u].
_FLIP_SIGNS = np.stack(
    [
        np.where((_ODD[np.newaxis, :] & flip_u) != (_ODD[:, np.newaxis] & flip_v), -1.0, 1.0)
        for flip_u, flip_v in ((False, False), (True, False), (False, True), (True, True))
    ]
)


def _dct_low(image: Image.Image) -> np.ndarray:
    """The 8 × 8 lowest-frequency DCT-II coefficients of the image's 32 × 32 greyscale, [v][u]."""
    # A plain Lanczos resize, though an integer reduction first (reducing_gap) would be ~4× cheaper: that
    # moves the hash by 2 bits on ~5 % of photos, and the hashes stored over the years must stay comparable.
    grey = image.convert("L").resize((32, 32), Image.Resampling.LANCZOS)
    coefficients: np.ndarray = _COS @ np.asarray(grey, dtype=np.float64) @ _COS.T
    return coefficients


def _bits(matrices: np.ndarray) -> list[int]:
    """Each 8 × 8 matrix's 64 bits: coefficient above the median of the 63 AC ones, row by row, first bit
    highest, as a signed 64-bit integer (it fits a BIGINT column)."""
    flat = matrices.reshape(-1, 64)
    ordered = np.sort(flat[:, 1:], axis=1)
    median = (ordered[:, 31] + ordered[:, 32]) / 2
    packed = np.packbits(flat > median[:, np.newaxis], axis=1)
    return [int(value) for value in packed.view(">i8").ravel()]


def perceptual_hash(image: Image.Image) -> int:
    """pHash: DCT of a 32 × 32 greyscale, the 8 × 8 lowest frequencies against their median."""
    return _bits(_dct_low(image))[0]


def perceptual_hash_variants(image: Image.Image) -> list[int]:
    """The hash of the image and of its seven rotations and mirror images, from one DCT.

    Mirroring multiplies coefficient (v, u) by (-1)^u or (-1)^v; transposing the image transposes the
    coefficients. The eight compositions are the eight ways a photo can be turned or flipped. Identity first."""
    base = _dct_low(image)
    return _bits(np.concatenate([base * _FLIP_SIGNS, base.T * _FLIP_SIGNS]))


def phash_bands(value: int) -> tuple[int, int, int, int]:
    """The hash's four 16-bit bands, low to high: the keys of the photo-reuse index."""
    unsigned = value & 0xFFFFFFFFFFFFFFFF
    return (
        unsigned & 0xFFFF,
        (unsigned >> 16) & 0xFFFF,
        (unsigned >> 32) & 0xFFFF,
        (unsigned >> 48) & 0xFFFF,
    )


def hamming(a: int, b: int) -> int:
    return ((a ^ b) & 0xFFFFFFFFFFFFFFFF).bit_count()
