"""The photo folder: partial uploads, and originals and derivatives stored by content (SHA-256).

Identical bytes are stored once. Files are written beside their final place and renamed into it
after an fsync, so a reader never sees half a file and an acknowledgement means the bytes are on disk.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

CHUNK = 1024 * 1024


class PhotoStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.uploads = root / "uploads"
        self.tmp = root / "tmp"
        self.originals = root / "originals"
        self.derived = root / "derived"

    def prepare(self) -> None:
        """Create the folders, with the 256-way fan-out made once instead of per photo."""
        for folder in (self.uploads, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)
        for base in (self.originals, self.derived):
            if not (base / "ff").is_dir():
                for n in range(256):
                    (base / f"{n:02x}").mkdir(parents=True, exist_ok=True)

    def upload_path(self, upload_id: uuid.UUID) -> Path:
        return self.uploads / f"{upload_id.hex}.part"

    def temp_path(self) -> Path:
        return self.tmp / f"{uuid.uuid4().hex}.tmp"

    def original_path(self, sha256: str) -> Path:
        return self.originals / sha256[:2] / sha256

    def derived_path(self, sha256: str, kind: str) -> Path:
        return self.derived / sha256[:2] / f"{sha256}.{kind}.jpg"

    def keep_original(self, temp: Path, sha256: str) -> Path:
        """Move a verified file into the store; if the same bytes are there already, drop the copy."""
        final = self.original_path(sha256)
        if final.exists():
            temp.unlink(missing_ok=True)
            return final
        _fsync_file(temp)
        os.replace(temp, final)
        return final

    def write_derived(self, sha256: str, kind: str, data: bytes) -> Path:
        final = self.derived_path(sha256, kind)
        temp = final.with_suffix(f".{uuid.uuid4().hex}.tmp")
        with open(temp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, final)
        return final


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
