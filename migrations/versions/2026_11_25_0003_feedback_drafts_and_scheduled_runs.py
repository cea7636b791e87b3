"""feedback drafts and scheduled runs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 04:27:47.749992
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "scheduled_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("job", sa.String(length=100), nullable=False),
        sa.Column("period_key", sa.String(length=50), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_runs")),
        sa.UniqueConstraint("job", "period_key", name=op.f("uq_scheduled_runs_job_period_key")),
    )
    with op.batch_alter_table("client_feedback", schema=None) as batch_op:
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_client_feedback_client_id_feedback_period_submitted_by"),
            ["client_id", "feedback_period", "submitted_by"],
        )


def downgrade() -> None:

    with op.batch_alter_table("client_feedback", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_client_feedback_client_id_feedback_period_submitted_by"), type_="unique"
        )
        batch_op.drop_column("updated_at")

    op.drop_table("scheduled_runs")
