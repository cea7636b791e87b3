"""Client health: the manual hot flag and the nightly health snapshots

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("clients", sa.Column("is_hot", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "client_health_snapshots",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("is_hot", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("reasons", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name="fk_client_health_snapshots_client_id_clients",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_client_health_snapshots"),
        sa.UniqueConstraint("client_id", "day", name="uq_client_health_snapshots_client_id_day"),
    )
    op.create_index(
        "idx_client_health_snapshots_order",
        "client_health_snapshots",
        ["day", "score", sa.text("is_hot DESC"), "client_id"],
    )
    op.create_index("idx_client_health_snapshots_day_level", "client_health_snapshots", ["day", "level"])


def downgrade() -> None:
    op.drop_index("idx_client_health_snapshots_day_level", table_name="client_health_snapshots")
    op.drop_index("idx_client_health_snapshots_order", table_name="client_health_snapshots")
    op.drop_table("client_health_snapshots")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("is_hot")
