from __future__ import annotations

from api.errors import AppError


class NoPublishedTemplate(AppError):
    status = 422
    code = "no_published_template"
    title_zh = "没有可用的已发布检查清单"
    title_en = "No published checklist for this subject"


class NotAManagerOfBranch(AppError):
    status = 422
    code = "not_a_manager_of_branch"
    title_zh = "只能分配给本分支机构的客户经理"
    title_en = "Visits can only be assigned to a manager of the visit's branch"


class UnknownSubject(AppError):
    status = 422
    code = "unknown_subject"
    title_zh = "检查对象不存在"
    title_en = "Unknown subject"
