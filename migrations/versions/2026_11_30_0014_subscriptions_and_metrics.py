"""Channel subscriptions (subscriptions, their outbox and weekly threads) and report build times

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "channel_subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_channel_subscriptions"),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column(
            "client_id",
            sa.Uuid(),
            sa.ForeignKey(
                "clients.id", ondelete="CASCADE", name="fk_channel_subscriptions_client_id_clients"
            ),
            nullable=False,
        ),
        sa.Column("events", JSON, nullable=False),
        sa.Column(
            "created_by",
            sa.Uuid(),
            sa.ForeignKey("users.id", name="fk_channel_subscriptions_created_by_users"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.Column("disabled_reason", sa.String(100), nullable=True),
        sa.UniqueConstraint("channel_id", "client_id", name="uq_channel_subscriptions_channel_id_client_id"),
    )
    op.create_index("idx_channel_subscriptions_client_id", "channel_subscriptions", ["client_id"])
    op.create_table(
        "subscription_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscription_outbox"),
        sa.Column(
            "subscription_id",
            sa.Uuid(),
            sa.ForeignKey(
                "channel_subscriptions.id",
                ondelete="CASCADE",
                name="fk_subscription_outbox_subscription_id_channel_subscriptions",
            ),
            nullable=False,
        ),
        sa.Column("event", sa.String(20), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(100), nullable=True),
        sa.Column("message_ts", sa.String(32), nullable=True),
    )
    op.create_index("idx_subscription_outbox_pending", "subscription_outbox", ["delivered_at", "id"])
    op.create_index("idx_subscription_outbox_subscription_id", "subscription_outbox", ["subscription_id"])
    op.create_table(
        "subscription_threads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscription_threads"),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column(
            "client_id",
            sa.Uuid(),
            sa.ForeignKey("clients.id", ondelete="CASCADE", name="fk_subscription_threads_client_id_clients"),
            nullable=False,
        ),
        sa.Column("week", sa.String(10), nullable=False),
        sa.Column("thread_ts", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint(
            "channel_id", "client_id", "week", name="uq_subscription_threads_channel_id_client_id_week"
        ),
    )
    op.create_table(
        "report_builds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_report_builds"),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column(
            "client_id",
            sa.Uuid(),
            sa.ForeignKey("clients.id", ondelete="SET NULL", name="fk_report_builds_client_id_clients"),
            nullable=True,
        ),
        sa.Column(
            "built_by",
            sa.Uuid(),
            sa.ForeignKey("users.id", name="fk_report_builds_built_by_users"),
            nullable=True,
        ),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("built_at", sa.DateTime(), nullable=False),
    )
    op.create_index("idx_report_builds_built_at", "report_builds", ["built_at"])


def downgrade() -> None:
    op.drop_table("report_builds")
    op.drop_table("subscription_threads")
    op.drop_table("subscription_outbox")
    op.drop_table("channel_subscriptions")
