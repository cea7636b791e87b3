"""users: the Slack lifecycle (deactivated, bot, the user's team and enterprise, when the profile was read)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # profile_checked_at stays NULL for existing users: their profile is re-read on their next request.
    # Plain ADD COLUMN (no table rebuild: SQLite could not drop `users`, which other tables reference).
    op.add_column("users", sa.Column("is_deleted", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("users", sa.Column("is_bot", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("users", sa.Column("team_id", sa.String(32), nullable=True))
    op.add_column("users", sa.Column("enterprise_id", sa.String(32), nullable=True))
    op.add_column("users", sa.Column("profile_checked_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        for column in ("profile_checked_at", "enterprise_id", "team_id", "is_bot", "is_deleted"):
            batch.drop_column(column)
