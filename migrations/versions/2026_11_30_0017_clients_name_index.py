"""clients (name, client_code) indexed: `/client list`'s default order read off the index (issue 14)

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 16:15:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("idx_clients_name_code", "clients", ["name", "client_code"])


def downgrade() -> None:
    op.drop_index("idx_clients_name_code", table_name="clients")
