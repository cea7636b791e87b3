"""recompute clients.name_normalized with the current rule (dotted legal suffixes such as L.L.C. and S.A.)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.services.fields import normalize_company_name

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

clients = sa.table("clients", sa.column("id", sa.Uuid()), sa.column("name"), sa.column("name_normalized"))


def upgrade() -> None:
    bind = op.get_bind()
    stale = [
        {"key": row.id, "normalized": normalized}
        for row in bind.execute(sa.select(clients.c.id, clients.c.name, clients.c.name_normalized))
        if (normalized := normalize_company_name(row.name)) != row.name_normalized
    ]
    if stale:
        bind.execute(
            clients.update()
            .where(clients.c.id == sa.bindparam("key"))
            .values(name_normalized=sa.bindparam("normalized")),
            stale,
        )


def downgrade() -> None:
    """Nothing to undo: the new form only finds more duplicates."""
