"""Every domain's tables, gathered so that Alembic and the tests see one complete metadata."""

from api.auth.models import Branch, RefreshToken, User
from api.checklists.models import ChecklistTemplate, TemplateVersion
from api.db import Base
from api.photos.models import Photo, Upload
from api.portfolio.models import Borrower, Collateral, Declaration, Facility, Milestone, Project
from api.sync.models import ChangeLog, ManifestPhoto, Submission
from api.visits.models import Visit, VisitAssignment

__all__ = [
    "Base",
    "Borrower",
    "Branch",
    "ChangeLog",
    "ChecklistTemplate",
    "Collateral",
    "Declaration",
    "Facility",
    "ManifestPhoto",
    "Milestone",
    "Photo",
    "Project",
    "RefreshToken",
    "Submission",
    "TemplateVersion",
    "Upload",
    "User",
    "Visit",
    "VisitAssignment",
]
