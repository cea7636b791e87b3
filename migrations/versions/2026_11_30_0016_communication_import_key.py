"""client_communications.import_key: imported history is written once however often the file is run

A unique, nullable hash of the normalised CSV row (`clientbot import communications`). Immutable like
every other column: PostgreSQL's row trigger (0010) compares the whole row already; SQLite's edit triggers
list their columns, so they are rebuilt (0015's, which permit an erasure) to cover the new one.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 14:00:00
"""

from collections.abc import Sequence
from importlib import import_module

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_0015 = import_module("migrations.versions.2026_11_30_0015_privacy_requests")


def _rebuild_sqlite_trigger() -> None:
    if op.get_bind().dialect.name == "sqlite":
        columns = [c["name"] for c in sa.inspect(op.get_bind()).get_columns("client_communications")]
        op.execute("DROP TRIGGER IF EXISTS client_communications_no_edit")
        op.execute("DROP TRIGGER IF EXISTS client_communications_redaction")
        for statement in _0015.sqlite_triggers(columns):
            op.execute(statement)


def upgrade() -> None:
    # Plain ADD COLUMN and a unique index: a batch (copy-and-move) rebuild on SQLite would drop the
    # table's immutability triggers.
    op.add_column("client_communications", sa.Column("import_key", sa.String(length=64), nullable=True))
    op.create_index(
        "uq_client_communications_import_key", "client_communications", ["import_key"], unique=True
    )
    _rebuild_sqlite_trigger()


def downgrade() -> None:
    op.drop_index("uq_client_communications_import_key", table_name="client_communications")
    op.execute("DROP TRIGGER IF EXISTS client_communications_no_edit")  # it names import_key
    op.execute("DROP TRIGGER IF EXISTS client_communications_redaction")
    op.drop_column("client_communications", "import_key")
    _rebuild_sqlite_trigger()
