"""Open follow-ups indexed per client (a partial index) and applications' stage changes read off an index:
the health figures of a `/client list` page cost a third of what they did (issue 14)

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 18:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_FOLLOW_UP_WHERE = "follow_up_required IS {} AND follow_up_done_at IS NULL AND archived_at IS NULL"


def upgrade() -> None:
    op.create_index(
        "idx_client_communications_open_follow_up",
        "client_communications",
        ["client_id", "follow_up_date"],
        postgresql_where=sa.text(OPEN_FOLLOW_UP_WHERE.format("true")),
        sqlite_where=sa.text(OPEN_FOLLOW_UP_WHERE.format("1")),
    )
    op.create_index(
        "idx_applications_job_stage_moved", "applications", ["job_id", "stage", "stage_changed_at"]
    )
    op.drop_index("idx_applications_job_id_stage", table_name="applications")


def downgrade() -> None:
    op.create_index("idx_applications_job_id_stage", "applications", ["job_id", "stage"])
    op.drop_index("idx_applications_job_stage_moved", table_name="applications")
    op.drop_index("idx_client_communications_open_follow_up", table_name="client_communications")
