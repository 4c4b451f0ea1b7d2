"""monitoring: figures, repayment status, indicator settings, signals, grade proposals

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import api.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "borrower_figures",
        sa.Column("borrower_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("revenue", api.db.Money(precision=20, scale=4), nullable=True),
        sa.Column("net_profit", api.db.Money(precision=20, scale=4), nullable=True),
        sa.Column("operating_cash_flow", api.db.Money(precision=20, scale=4), nullable=True),
        sa.Column("accounts_receivable", api.db.Money(precision=20, scale=4), nullable=True),
        sa.Column("inventory", api.db.Money(precision=20, scale=4), nullable=True),
        sa.Column("total_liabilities", api.db.Money(precision=20, scale=4), nullable=True),
        sa.Column("total_assets", api.db.Money(precision=20, scale=4), nullable=True),
        sa.Column("current_assets", api.db.Money(precision=20, scale=4), nullable=True),
        sa.Column("current_liabilities", api.db.Money(precision=20, scale=4), nullable=True),
        sa.Column("headcount", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("reported_on", sa.Date(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", api.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["borrower_id"], ["borrower.id"], name=op.f("fk_borrower_figures_borrower_id_borrower")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_borrower_figures")),
    )
    with op.batch_alter_table("borrower_figures", schema=None) as batch_op:
        batch_op.create_index(
            "ix_borrower_figures_borrower_period", ["borrower_id", "period_end", "created_at"], unique=False
        )

    op.create_table(
        "indicator_setting",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column(
            "thresholds",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", api.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["app_user.id"], name=op.f("fk_indicator_setting_updated_by_id_app_user")
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_indicator_setting")),
    )
    op.create_table(
        "repayment_status",
        sa.Column("facility_id", sa.Uuid(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column("outstanding", api.db.Money(precision=20, scale=4), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", api.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["facility_id"], ["facility.id"], name=op.f("fk_repayment_status_facility_id_facility")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repayment_status")),
    )
    with op.batch_alter_table("repayment_status", schema=None) as batch_op:
        batch_op.create_index(
            "ix_repayment_status_facility_as_of", ["facility_id", "as_of", "created_at"], unique=False
        )

    op.create_table(
        "project_figures",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("planned_investment", api.db.Money(precision=20, scale=4), nullable=True),
        sa.Column("actual_investment", api.db.Money(precision=20, scale=4), nullable=True),
        sa.Column("planned_progress_pct", api.db.Money(precision=20, scale=4), nullable=True),
        sa.Column("actual_progress_pct", api.db.Money(precision=20, scale=4), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("reported_on", sa.Date(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", api.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["project.id"], name=op.f("fk_project_figures_project_id_project")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_figures")),
    )
    with op.batch_alter_table("project_figures", schema=None) as batch_op:
        batch_op.create_index(
            "ix_project_figures_project_period", ["project_id", "period_end", "created_at"], unique=False
        )

    op.create_table(
        "risk_signal",
        sa.Column("branch_id", sa.Uuid(), nullable=False),
        sa.Column("borrower_id", sa.Uuid(), nullable=False),
        sa.Column("facility_id", sa.Uuid(), nullable=True),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("indicator", sa.String(length=40), nullable=False),
        sa.Column(
            "severity",
            sa.Enum("critical", "major", "minor", name="severity", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column(
            "state",
            sa.Enum("open", "cleared", name="signalstate", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column(
            "evidence",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("explanation_zh", sa.String(length=500), nullable=False),
        sa.Column("explanation_en", sa.String(length=500), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.Column("visit_id", sa.Uuid(), nullable=True),
        sa.Column("first_seen_at", api.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", api.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", api.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("open_key", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(
            ["borrower_id"], ["borrower.id"], name=op.f("fk_risk_signal_borrower_id_borrower")
        ),
        sa.ForeignKeyConstraint(["branch_id"], ["branch.id"], name=op.f("fk_risk_signal_branch_id_branch")),
        sa.ForeignKeyConstraint(
            ["facility_id"], ["facility.id"], name=op.f("fk_risk_signal_facility_id_facility")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["follow_up_task.id"], name=op.f("fk_risk_signal_task_id_follow_up_task")
        ),
        sa.ForeignKeyConstraint(["visit_id"], ["visit.id"], name=op.f("fk_risk_signal_visit_id_visit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_signal")),
        sa.UniqueConstraint("open_key", name=op.f("uq_risk_signal_open_key")),
    )
    with op.batch_alter_table("risk_signal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_risk_signal_borrower_id"), ["borrower_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_risk_signal_branch_id"), ["branch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_risk_signal_indicator"), ["indicator"], unique=False)
        batch_op.create_index(batch_op.f("ix_risk_signal_severity"), ["severity"], unique=False)
        batch_op.create_index(batch_op.f("ix_risk_signal_state"), ["state"], unique=False)

    op.create_table(
        "grade_proposal",
        sa.Column("facility_id", sa.Uuid(), nullable=False),
        sa.Column("branch_id", sa.Uuid(), nullable=False),
        sa.Column("signal_id", sa.Uuid(), nullable=True),
        sa.Column(
            "current_grade",
            sa.Enum(
                "normal",
                "special_mention",
                "substandard",
                "doubtful",
                "loss",
                name="riskgrade",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "proposed_grade",
            sa.Enum(
                "normal",
                "special_mention",
                "substandard",
                "doubtful",
                "loss",
                name="riskgrade",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reason_zh", sa.String(length=500), nullable=False),
        sa.Column("reason_en", sa.String(length=500), nullable=False),
        sa.Column(
            "state",
            sa.Enum("proposed", "accepted", "rejected", name="proposalstate", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("decided_by_id", sa.Uuid(), nullable=True),
        sa.Column("decided_at", api.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_comment", sa.String(length=2000), nullable=False),
        sa.Column("created_at", api.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("open_key", sa.String(length=60), nullable=True),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_grade_proposal_branch_id_branch")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["app_user.id"], name=op.f("fk_grade_proposal_decided_by_id_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"], ["facility.id"], name=op.f("fk_grade_proposal_facility_id_facility")
        ),
        sa.ForeignKeyConstraint(
            ["signal_id"], ["risk_signal.id"], name=op.f("fk_grade_proposal_signal_id_risk_signal")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grade_proposal")),
        sa.UniqueConstraint("open_key", name=op.f("uq_grade_proposal_open_key")),
    )
    with op.batch_alter_table("grade_proposal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grade_proposal_branch_id"), ["branch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_grade_proposal_facility_id"), ["facility_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_grade_proposal_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("grade_proposal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grade_proposal_state"))
        batch_op.drop_index(batch_op.f("ix_grade_proposal_facility_id"))
        batch_op.drop_index(batch_op.f("ix_grade_proposal_branch_id"))

    op.drop_table("grade_proposal")
    with op.batch_alter_table("risk_signal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_signal_state"))
        batch_op.drop_index(batch_op.f("ix_risk_signal_severity"))
        batch_op.drop_index(batch_op.f("ix_risk_signal_indicator"))
        batch_op.drop_index(batch_op.f("ix_risk_signal_branch_id"))
        batch_op.drop_index(batch_op.f("ix_risk_signal_borrower_id"))

    op.drop_table("risk_signal")
    with op.batch_alter_table("project_figures", schema=None) as batch_op:
        batch_op.drop_index("ix_project_figures_project_period")

    op.drop_table("project_figures")
    with op.batch_alter_table("repayment_status", schema=None) as batch_op:
        batch_op.drop_index("ix_repayment_status_facility_as_of")

    op.drop_table("repayment_status")
    op.drop_table("indicator_setting")
    with op.batch_alter_table("borrower_figures", schema=None) as batch_op:
        batch_op.drop_index("ix_borrower_figures_borrower_period")

    op.drop_table("borrower_figures")
