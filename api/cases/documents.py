"""Supporting documents of a case: PDF and images, checked as strictly as photos and kept by content.

Images go through the photo checks themselves (photos.inspection: allowed formats only, pixel limits before
any decode, whole-file checks, no archive riding behind). A PDF must be one: its header, a whole file
ending in its end-of-file marker, parsed by pypdf in strict mode, not encrypted, with pages — and without
what makes a PDF act rather than show: scripts, launch actions, embedded files, rich media or XFA forms
(what a reviewer opens must not run anything)."""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

from api.errors import AppError
from api.photos import inspection

PDF = "application/pdf"
MEDIA_TYPES = (PDF, "image/jpeg", "image/png", "image/webp", "image/heic", "image/heif")
MAX_PAGES = 2000
# Walking every object of a PDF is bounded: a file with more is refused rather than read half-way.
MAX_OBJECTS = 200_000
ACTIVE_KEYS = {"/JS", "/JavaScript", "/EmbeddedFiles", "/EmbeddedFile", "/RichMedia", "/XFA", "/Launch"}
ACTIVE_ACTIONS = {"/JavaScript", "/Launch", "/ImportData", "/RichMediaExecute", "/GoToE"}


class AttachmentRejected(AppError):
    status = 422
    code = "attachment_rejected"
    title_zh = "附件未通过校验"
    title_en = "Attachment rejected"


class AttachmentTooLarge(AppError):
    status = 413
    code = "attachment_too_large"
    title_zh = "附件超过大小上限"
    title_en = "Attachment larger than the limit"


def too_large(max_bytes: int) -> AppError:
    return AttachmentTooLarge(
        f"The file is over the limit of {max_bytes:,} bytes.", detail_zh=f"文件超过 {max_bytes:,} 字节上限。"
    )


@dataclass(frozen=True)
class DocumentFacts:
    pages: int | None = None
    width: int | None = None
    height: int | None = None


def check(path: Path, *, media_type: str, limits: inspection.Limits) -> DocumentFacts:
    """Validate the file at `path` as `media_type`. Raises AttachmentRejected with the reason."""
    if media_type not in MEDIA_TYPES:
        raise AttachmentRejected(
            f"{media_type!r} is not taken: send a PDF, JPEG, PNG, WebP or HEIC file.",
            detail_zh=f"不接受 {media_type!r}：请上传 PDF、JPEG、PNG、WebP 或 HEIC 文件。",
        )
    if media_type == PDF:
        return _pdf(path)
    try:
        facts = inspection.inspect(path, declared_type=media_type, limits=limits)
    except inspection.PhotoRejected as exc:
        raise AttachmentRejected(exc.detail_en, detail_zh=exc.detail_zh) from exc
    return DocumentFacts(width=facts.width, height=facts.height)


def _pdf(path: Path) -> DocumentFacts:
    with open(path, "rb") as handle:
        head = handle.read(8)
        handle.seek(max(0, os.path.getsize(path) - 1024))
        tail = handle.read()
    if not head.startswith(b"%PDF-"):
        raise AttachmentRejected(
            "Declared a PDF but the file does not start with a PDF header.",
            detail_zh="声明为 PDF，但文件不是以 PDF 文件头开始。",
        )
    if not tail.rstrip().endswith(b"%%EOF"):
        raise AttachmentRejected(
            "The PDF does not end with its end-of-file marker (truncated, or data appended).",
            detail_zh="PDF 文件未以结束标记结尾（文件不完整或尾部附加了其他数据）。",
        )
    if zipfile.is_zipfile(path):
        raise AttachmentRejected("An archive rides inside the PDF.", detail_zh="PDF 文件中夹带了压缩包。")
    try:
        reader = PdfReader(path, strict=True)
        if reader.is_encrypted:
            raise AttachmentRejected(
                "The PDF is encrypted: send it without a password.",
                detail_zh="PDF 已加密：请上传未加密的文件。",
            )
        pages = len(reader.pages)
        found = _active_content(reader)
    except AttachmentRejected:
        raise
    except Exception as exc:  # pypdf raises many kinds for a damaged file; each means the same here
        raise AttachmentRejected(
            f"The PDF could not be read: {exc}", detail_zh=f"PDF 文件无法读取：{exc}"
        ) from exc
    if not 1 <= pages <= MAX_PAGES:
        raise AttachmentRejected(
            f"The PDF has {pages} pages; 1 to {MAX_PAGES} are taken.",
            detail_zh=f"PDF 共 {pages} 页；可接受 1 至 {MAX_PAGES} 页。",
        )
    if found:
        raise AttachmentRejected(
            f"The PDF carries active content ({found}): print it to a plain PDF and send that.",
            detail_zh=f"PDF 含有可执行内容（{found}）：请另存为普通 PDF 后再上传。",
        )
    return DocumentFacts(pages=pages)


def _active_content(reader: PdfReader) -> str | None:
    """The first script, launch action, embedded file, rich media or XFA form anywhere in the file — in
    plain objects and inside object streams alike."""
    numbers = {num for table in reader.xref.values() for num in table} | set(reader.xref_objStm)
    if len(numbers) > MAX_OBJECTS:
        raise AttachmentRejected(
            f"The PDF has more than {MAX_OBJECTS:,} objects.", detail_zh=f"PDF 对象数超过 {MAX_OBJECTS:,}。"
        )
    generations = {num: gen for gen, table in reader.xref.items() for num in table}
    for num in sorted(numbers):
        obj = reader.get_object(IndirectObject(num, generations.get(num, 0), reader))
        found = _active_in(obj, depth=0)
        if found:
            return found
    return _active_in(reader.trailer, depth=0)


def _active_in(obj: object, *, depth: int) -> str | None:
    """Direct objects nested in this one (indirect ones are walked by number)."""
    if depth > 32:
        return None
    if isinstance(obj, ArrayObject):
        return next((found for item in obj if (found := _active_in(item, depth=depth + 1))), None)
    if not isinstance(obj, DictionaryObject):
        return None
    for key, value in obj.items():
        if key in ACTIVE_KEYS:
            return str(key)
        if key == "/S" and str(value) in ACTIVE_ACTIONS:
            return str(value)
        found = _active_in(value, depth=depth + 1)
        if found:
            return found
    return None


def key_of(sha256: str) -> str:
    """An attachment's key in the store, by content (identical bytes are kept once)."""
    return f"case-files/{sha256[:2]}/{sha256}"
