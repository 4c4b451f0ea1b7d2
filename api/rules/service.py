"""Keeping findings: one discrepancy per (visit, finding), written once however often the rules run."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session
from sqlmodel import col, select

from api.kit.races import inserted
from api.rules.engine import Finding
from api.rules.models import Discrepancy
from api.visits.models import Visit


def keep(
    session: Session, *, visit: Visit, submission_id: uuid.UUID | None, finding: Finding
) -> Discrepancy | None:
    """Store the finding; None when this visit already holds it (rules re-run when late photos arrive)."""
    exists = session.scalar(
        select(Discrepancy.id).where(
            Discrepancy.visit_id == visit.id, Discrepancy.finding_key == finding.finding_key
        )
    )
    if exists is not None:
        return None
    row = Discrepancy(
        visit_id=visit.id,
        submission_id=submission_id,
        photo_id=finding.photo_id,
        branch_id=visit.branch_id,
        subject_type=visit.subject_type,
        subject_id=visit.subject_id,
        finding_key=finding.finding_key,
        rule_key=finding.rule_key,
        item_key=finding.item_key,
        severity=finding.severity,
        expected=finding.expected,
        observed=finding.observed,
        explanation_zh=finding.explanation_zh[:500],
        explanation_en=finding.explanation_en[:500],
        related_visit_id=finding.related_visit_id,
    )
    if not inserted(session, row):
        return None
    return row


def of_visit(session: Session, *, visit_id: uuid.UUID) -> list[Discrepancy]:
    return list(
        session.scalars(
            select(Discrepancy)
            .where(Discrepancy.visit_id == visit_id)
            .order_by(col(Discrepancy.created_at), col(Discrepancy.id))
        )
    )


def of_submission(session: Session, *, submission_id: uuid.UUID) -> list[Discrepancy]:
    return list(
        session.scalars(
            select(Discrepancy)
            .where(Discrepancy.submission_id == submission_id)
            .order_by(col(Discrepancy.created_at), col(Discrepancy.id))
        )
    )
