from __future__ import annotations

from pathlib import Path

import pytest

from api.photos.jpeg_structure import complete
from tests.photos.images import encode, exif_block, picture


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "p.jpg"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "options",
    [{}, {"progressive": True}, {"restart_marker_blocks": 4}, {"quality": 100, "subsampling": 0}],
    ids=["baseline", "progressive", "restart-markers", "q100-444"],
)
def test_whole_jpegs_are_complete_and_every_cut_is_not(tmp_path: Path, options: dict[str, object]) -> None:
    data = encode(picture(900, 700, seed=4), "JPEG", exif_block(gps=(31.2, 121.4)), **options)
    assert complete(_write(tmp_path, data))
    for cut in range(2, len(data) - 1, max(1, len(data) // 97)):
        assert not complete(_write(tmp_path, data[:cut])), cut
    assert not complete(_write(tmp_path, data[:-2]))  # only the EOI marker missing


def test_trailing_data_after_the_image_is_fine(tmp_path: Path) -> None:
    data = encode(picture(), "JPEG") + b"\x00\x00\x00\x18ftypmp42" + bytes(300)
    assert complete(_write(tmp_path, data))


def test_not_a_jpeg(tmp_path: Path) -> None:
    assert not complete(_write(tmp_path, b""))
    assert not complete(_write(tmp_path, encode(picture(), "PNG")))


def test_large_files_are_read_in_chunks(tmp_path: Path) -> None:
    from PIL import Image

    grain = Image.effect_noise((3000, 2000), 60).convert("RGB")
    data = encode(grain, "JPEG", quality=98)
    assert len(data) > 2 << 20  # spans several 1 MB chunks
    assert complete(_write(tmp_path, data))
    assert not complete(_write(tmp_path, data[: len(data) - 5000]))
