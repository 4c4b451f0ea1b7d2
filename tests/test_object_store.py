"""The local object store's own edges: a scratch folder on another file system than the store, and the
one-range parsing the bucket's downloads use."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from api.object_store import LocalObjects, _single_range


def test_a_file_from_another_file_system_is_copied_not_linked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state folder (attachments, exports) may be on another file system than the scratch folder, where
    a hard link fails with EXDEV: the file is copied into place instead, and the source stays."""
    source = tmp_path / "scratch" / "export.part"
    source.parent.mkdir()
    source.write_bytes(b"visit_id,status\n")

    def cross_device(*_args: object) -> None:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    monkeypatch.setattr(os, "link", cross_device)
    store = LocalObjects(tmp_path / "state")
    store.put_file("exports/job.csv", source)
    assert store.read_bytes("exports/job.csv") == b"visit_id,status\n" and source.exists()
    assert [listed.key for listed in store.listing("exports/")] == ["exports/job.csv"]
    store.put_file("exports/job.csv", source)  # kept by name already: nothing to do


def test_another_link_failure_is_not_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "photo.jpg"
    source.write_bytes(b"\xff\xd8")

    def no_space(*_args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "link", no_space)
    with pytest.raises(OSError, match="space"):
        LocalObjects(tmp_path / "photos").put_file("originals/ab/abc", source)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, None)),
        ("bytes=-50", (-50, None)),
        (" bytes=5-5 ", (5, 5)),
        ("bytes=9-3", None),  # backwards: answered whole
        ("bytes=0-1,5-9", None),  # several ranges: answered whole, as RFC 9110 allows
        ("bytes=-", None),
        ("items=0-9", None),
        ("", None),
        (None, None),
    ],
)
def test_one_range_or_the_whole(header: str | None, expected: tuple[int, int | None] | None) -> None:
    assert _single_range(header) == expected
