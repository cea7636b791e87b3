"""attachments of a communication are append-only: files may be added, never changed or removed

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 05:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIXED = (
    "client_id",
    "communication_type",
    "subject",
    "notes",
    "communication_date",
    "participants",
    "job_reference_id",
    "logged_by",
    "is_important",
    "follow_up_required",
    "follow_up_date",
    "created_at",
    "supersedes_id",
    "permalink",
    "source",
)
MESSAGE = "client_communications are immutable: archive a record or log a correction instead"
PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION client_communications_immutable() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
    END IF;
    IF ({", ".join("OLD." + c for c in FIXED)})
        IS DISTINCT FROM ({", ".join("NEW." + c for c in FIXED)})
       OR NOT (coalesce(NEW.attachments, '[]'::jsonb) @> coalesce(OLD.attachments, '[]'::jsonb))
       OR jsonb_array_length(coalesce(NEW.attachments, '[]'::jsonb))
          < jsonb_array_length(coalesce(OLD.attachments, '[]'::jsonb)) THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql
"""
SQLITE_EDIT = f"""CREATE TRIGGER client_communications_no_edit BEFORE UPDATE OF {", ".join((*FIXED, "attachments"))}
    ON client_communications
    WHEN {" OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in FIXED)}
      OR json_array_length(coalesce(NEW.attachments, '[]')) < json_array_length(coalesce(OLD.attachments, '[]'))
      OR EXISTS (SELECT 1 FROM json_each(coalesce(OLD.attachments, '[]')) AS old
                 WHERE old.value NOT IN (SELECT value FROM json_each(coalesce(NEW.attachments, '[]'))))
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
    else:
        op.execute("DROP TRIGGER client_communications_no_edit")
        op.execute(SQLITE_EDIT)


def downgrade() -> None:
    """Back to fully immutable attachments (0002's triggers)."""
    from importlib import import_module

    previous = import_module("migrations.versions.2026_11_25_0002_communication_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(previous.PG_FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    else:
        op.execute("DROP TRIGGER client_communications_no_edit")
        op.execute(previous.SQLITE_TRIGGERS[1])
