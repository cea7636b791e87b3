"""applications.hired_at indexed (hires by month, the dashboard's timeline: issue 14)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 13:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("idx_applications_hired_at", "applications", ["hired_at"])


def downgrade() -> None:
    op.drop_index("idx_applications_hired_at", table_name="applications")
