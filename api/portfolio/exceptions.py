from __future__ import annotations

from api.errors import AppError, Conflict


class DuplicateReference(Conflict):
    code = "duplicate_reference"
    title_zh = "编号或代码已存在"
    title_en = "Reference or code already exists"


class UnknownReference(AppError):
    status = 422
    code = "unknown_reference"
    title_zh = "引用的记录不存在"
    title_en = "Referenced record does not exist"


class ImportRejected(AppError):
    status = 422
    code = "import_rejected"
    title_zh = "导入文件有错误行，未导入任何数据"
    title_en = "The file has bad rows; nothing was imported"


class UnknownImportKind(AppError):
    status = 404
    code = "unknown_import_kind"
    title_zh = "不支持的导入类型"
    title_en = "Unknown import kind"
