"""indexes on when background work finished, for the metrics' job latency and sync lag

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 17:35:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = [
    ("ix_photo_processed_at", "photo", "processed_at"),
    ("ix_webhook_delivery_delivered_at", "webhook_delivery", "delivered_at"),
    ("ix_export_job_finished_at", "export_job", "finished_at"),
    ("ix_submission_completed_at", "submission", "completed_at"),
]


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column], unique=False)


def downgrade() -> None:
    for name, table, _column in reversed(INDEXES):
        op.drop_index(name, table_name=table)
