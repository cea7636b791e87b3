"""immutability holes closed; the install instant recorded

- PostgreSQL: TRUNCATE of client_communications (also when another table's TRUNCATE … CASCADE reaches it)
  is refused by a statement trigger, and the row trigger compares the whole row, so every column (the id
  too, and any column added later) is fixed except the archive fields, the follow-up state and the
  append-only attachments.
- SQLite: the edit trigger covers every column but those, and `INSERT OR REPLACE` / `REPLACE` / an upsert
  on an existing id is refused (REPLACE deletes the old row without firing the delete trigger unless
  `recursive_triggers` is on; bot/db.py turns it on for every connection as well).
- `app_state.installed_at`: the first migrate's instant (for an existing installation, its first
  scheduled run), so the scheduler's catch-up never reaches back before the install.

Taking ALTER/DISABLE TRIGGER away from the app's own role is an operator step (`clientbot db harden`,
README "Hardening PostgreSQL"): a migration runs as that role and cannot give its ownership away.

Revision ID: 0010
Revises: 0008
Create Date: 2026-11-30 11:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE = "client_communications are immutable: archive a record or log a correction instead"
# What the app may change on a stored communication: archiving (0006 makes it final), the follow-up
# workflow, and attachments, which may only grow.
MUTABLE = (
    "archived_at",
    "archived_by",
    "follow_up_done_at",
    "follow_up_done_by",
    "follow_up_snoozed_until",
    "attachments",
)
_MUTABLE_ARRAY = "'{" + ",".join(MUTABLE) + "}'::text[]"
PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION client_communications_immutable() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
    END IF;
    IF (to_jsonb(OLD) - {_MUTABLE_ARRAY}) IS DISTINCT FROM (to_jsonb(NEW) - {_MUTABLE_ARRAY})
       OR NOT (coalesce(NEW.attachments, '[]'::jsonb) @> coalesce(OLD.attachments, '[]'::jsonb))
       OR jsonb_array_length(coalesce(NEW.attachments, '[]'::jsonb))
          < jsonb_array_length(coalesce(OLD.attachments, '[]'::jsonb)) THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql
"""
PG_TRUNCATE = """
CREATE TRIGGER client_communications_no_truncate BEFORE TRUNCATE ON client_communications
FOR EACH STATEMENT EXECUTE FUNCTION client_communications_immutable()
"""
SQLITE_NO_REPLACE = f"""CREATE TRIGGER client_communications_no_replace BEFORE INSERT ON client_communications
    WHEN EXISTS (SELECT 1 FROM client_communications WHERE id = NEW.id)
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"""


def sqlite_edit_trigger(columns: Sequence[str]) -> str:
    """0005's trigger over every column of the table but the mutable ones."""
    fixed = [c for c in columns if c not in MUTABLE]
    return f"""CREATE TRIGGER client_communications_no_edit BEFORE UPDATE OF {", ".join((*fixed, "attachments"))}
    ON client_communications
    WHEN {" OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in fixed)}
      OR json_array_length(coalesce(NEW.attachments, '[]')) < json_array_length(coalesce(OLD.attachments, '[]'))
      OR EXISTS (SELECT 1 FROM json_each(coalesce(OLD.attachments, '[]')) AS old
                 WHERE old.value NOT IN (SELECT value FROM json_each(coalesce(NEW.attachments, '[]'))))
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"""


def _record_install() -> None:
    from bot import clock

    bind = op.get_bind()
    first_run = bind.execute(sa.text("SELECT min(started_at) FROM scheduled_runs")).scalar()
    if isinstance(first_run, str):  # SQLite hands back text
        first_run = datetime.fromisoformat(first_run)
    # Stored naive UTC (bot.models.UTCDateTime); a database without runs is being installed now.
    installed = first_run.replace(tzinfo=UTC) if first_run else clock.now()
    bind.execute(
        sa.text("INSERT INTO app_state (key, value) VALUES ('installed_at', :value)"),
        {"value": installed.isoformat()},
    )


def upgrade() -> None:
    op.create_table(
        "app_state",
        sa.Column("key", sa.String(length=50), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_app_state")),
    )
    _record_install()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(PG_TRUNCATE)
    else:
        columns = [c["name"] for c in sa.inspect(op.get_bind()).get_columns("client_communications")]
        op.execute("DROP TRIGGER client_communications_no_edit")
        op.execute(sqlite_edit_trigger(columns))
        op.execute(SQLITE_NO_REPLACE)


def downgrade() -> None:
    from importlib import import_module

    previous = import_module("migrations.versions.2026_11_25_0005_append_only_attachments")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER client_communications_no_truncate ON client_communications")
        op.execute(previous.PG_FUNCTION)
    else:
        op.execute("DROP TRIGGER client_communications_no_replace")
        op.execute("DROP TRIGGER client_communications_no_edit")
        op.execute(previous.SQLITE_EDIT)
    op.drop_table("app_state")
