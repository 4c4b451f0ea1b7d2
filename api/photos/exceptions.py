from __future__ import annotations

from api.errors import AppError, Conflict
from api.photos.inspection import PhotoRejected


class ChecksumMismatch(PhotoRejected):
    code = "photo_checksum_mismatch"
    title_zh = "照片校验值不符，未保存"
    title_en = "SHA-256 does not match; nothing was kept"


class EmptyPhoto(PhotoRejected):
    code = "photo_empty"
    title_zh = "照片为空文件"
    title_en = "The photo has zero bytes"


class PhotoTooLarge(AppError):
    status = 413
    code = "photo_too_large"
    title_zh = "照片超过大小上限"
    title_en = "Photo larger than the limit"
    commit_anyway = True


class PhotoIdConflict(Conflict):
    code = "photo_id_conflict"
    title_zh = "该照片编号已用于另一张照片"
    title_en = "This photo UUID already holds different bytes"
    commit_anyway = True


class NotAPhotoItem(AppError):
    status = 422
    code = "not_a_photo_item"
    title_zh = "检查项不存在或不是拍照项"
    title_en = "The checklist item does not exist or takes no photos"


class UploadOffsetMismatch(Conflict):
    code = "upload_offset_mismatch"
    title_zh = "上传偏移量与服务器不一致，请先查询当前偏移量"
    title_en = "Upload-Offset differs from the server's; ask with HEAD first"


class UploadLost(AppError):
    """The bytes kept for an upload are gone (removed from the bucket by hand, a bucket restored from an older
    copy): it cannot be finished. The upload is forgotten, so the phone starts it again (tus: 404/410 on an
    upload means "create a new one"); its outbox still holds the photo."""

    status = 410
    code = "upload_lost"
    title_zh = "此上传已收到的内容丢失，请重新上传照片"
    title_en = "The bytes received for this upload are gone; upload the photo again"
    commit_anyway = True  # the upload is removed, and that must stick


class UploadBusy(AppError):
    status = 423
    code = "upload_busy"
    title_zh = "该上传正在进行中"
    title_en = "Another request is writing this upload"


class BadUploadRequest(AppError):
    status = 422  # readable, but a field is missing or wrong: the same answer as a bad JSON field
    code = "bad_upload_request"
    title_zh = "上传请求格式有误"
    title_en = "Malformed upload request"


class ChunkChecksumMismatch(AppError):
    # tus checksum extension: 460 Checksum Mismatch; the chunk is discarded.
    status = 460
    code = "chunk_checksum_mismatch"
    title_zh = "分片校验值不符，分片已丢弃"
    title_en = "Chunk checksum mismatch; the chunk was discarded"


class PhotoNotReady(AppError):
    status = 404
    code = "photo_not_processed_yet"
    title_zh = "照片仍在处理中"
    title_en = "The photo is still being processed"
