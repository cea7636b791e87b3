"""clients.logo_slack_file_id: the Slack file of the logo, so Block Kit can show it on the card

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 12:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("clients", sa.Column("logo_slack_file_id", sa.String(50), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("logo_slack_file_id")
