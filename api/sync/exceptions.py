from __future__ import annotations

from api.errors import AppError, Conflict


class SubmissionInvalid(AppError):
    status = 422
    code = "submission_invalid"
    title_zh = "检查结果未通过校验"
    title_en = "The submission does not fit the checklist"


class SubmissionIdConflict(Conflict):
    code = "submission_id_conflict"
    title_zh = "该提交编号已用于内容不同的另一份提交"
    title_en = "This submission UUID was already used with a different body"
