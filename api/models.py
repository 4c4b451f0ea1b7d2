"""Every domain's tables, gathered so that Alembic and the tests see one complete metadata."""

from api.auth.models import Branch, RefreshToken, User
from api.checklists.models import ChecklistTemplate, TemplateVersion
from api.db import Base
from api.portfolio.models import Borrower, Collateral, Declaration, Facility, Milestone, Project
from api.visits.models import Visit

__all__ = [
    "Base",
    "Borrower",
    "Branch",
    "ChecklistTemplate",
    "Collateral",
    "Declaration",
    "Facility",
    "Milestone",
    "Project",
    "RefreshToken",
    "TemplateVersion",
    "User",
    "Visit",
]
