"""follow-up state on communications (done, snoozed) and Slack deliveries for retry idempotency

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 04:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch rebuild), so SQLite keeps the immutability triggers on this table.
    op.add_column("client_communications", sa.Column("follow_up_done_at", sa.DateTime(), nullable=True))
    op.add_column("client_communications", sa.Column("follow_up_done_by", sa.Uuid(), nullable=True))
    op.add_column("client_communications", sa.Column("follow_up_snoozed_until", sa.Date(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.create_foreign_key(
            "fk_client_communications_follow_up_done_by_users",
            "client_communications",
            "users",
            ["follow_up_done_by"],
            ["id"],
        )
    op.create_table(
        "slack_deliveries",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_slack_deliveries")),
    )


def downgrade() -> None:
    op.drop_table("slack_deliveries")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(
            "fk_client_communications_follow_up_done_by_users", "client_communications", type_="foreignkey"
        )
    for column in ("follow_up_snoozed_until", "follow_up_done_by", "follow_up_done_at"):
        op.drop_column("client_communications", column)
