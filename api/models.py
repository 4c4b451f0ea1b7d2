"""Every domain's tables, gathered so that Alembic and the tests see one complete metadata."""

from sqlmodel import SQLModel

from api.audit.models import AuditEvent
from api.auth.models import Branch, RefreshToken, User
from api.cases.models import Case, CaseAttachment, CaseComment, CaseStep
from api.checklists.models import ChecklistTemplate, TemplateVersion
from api.contacts.models import Contact
from api.exports.models import ExportJob
from api.integrations.models import (
    ApiKey,
    ServiceAccount,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from api.monitoring.models import (
    BorrowerFigures,
    GradeProposal,
    IndicatorSetting,
    ProjectFigures,
    RepaymentStatus,
    Signal,
)
from api.photos.models import Photo, Upload
from api.portfolio.models import Borrower, Collateral, Declaration, Facility, Milestone, Project
from api.review.models import VisitReview
from api.rules.models import Discrepancy
from api.sync.models import ChangeLog, ManifestPhoto, Submission
from api.tasks.models import FollowUpTask, TaskComment, TaskWatcher
from api.visits.models import Visit, VisitAssignment

metadata = SQLModel.metadata

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Borrower",
    "BorrowerFigures",
    "Branch",
    "Case",
    "CaseAttachment",
    "CaseComment",
    "CaseStep",
    "ChangeLog",
    "ChecklistTemplate",
    "Collateral",
    "Contact",
    "Declaration",
    "Discrepancy",
    "ExportJob",
    "Facility",
    "FollowUpTask",
    "GradeProposal",
    "IndicatorSetting",
    "ManifestPhoto",
    "Milestone",
    "Photo",
    "Project",
    "ProjectFigures",
    "RefreshToken",
    "RepaymentStatus",
    "ServiceAccount",
    "Signal",
    "Submission",
    "TaskComment",
    "TaskWatcher",
    "TemplateVersion",
    "Upload",
    "User",
    "Visit",
    "VisitAssignment",
    "VisitReview",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookSubscription",
]
