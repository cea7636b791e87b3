"""communication log: corrections, permalinks, sources, guests, search and immutability in the database

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 04:07:09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TYPES = "communication_type IN ('meeting', 'call', 'email', 'video_call', 'contract_signed')"
CONTENT = (
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
    "attachments",
    "created_at",
    "supersedes_id",
    "permalink",
    "source",
)
MESSAGE = "client_communications are immutable: archive a record or log a correction instead"

PG_FUNCTION = f"""
CREATE FUNCTION client_communications_immutable() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
    END IF;
    IF ({", ".join("OLD." + c for c in CONTENT)})
        IS DISTINCT FROM ({", ".join("NEW." + c for c in CONTENT)}) THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql
"""
PG_TRIGGER = """
CREATE TRIGGER client_communications_immutable BEFORE UPDATE OR DELETE ON client_communications
FOR EACH ROW EXECUTE FUNCTION client_communications_immutable()
"""
PG_SEARCH = """
CREATE INDEX idx_client_communications_search ON client_communications
USING gin (to_tsvector('simple', coalesce(subject, '') || ' ' || coalesce(notes, '')))
"""
SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER client_communications_no_delete BEFORE DELETE ON client_communications
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    f"""CREATE TRIGGER client_communications_no_edit BEFORE UPDATE OF {", ".join(CONTENT)}
        ON client_communications
        WHEN {" OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in CONTENT)}
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
]


def upgrade() -> None:
    with op.batch_alter_table("client_communications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("supersedes_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("permalink", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("source", sa.String(length=20), server_default="slack", nullable=False))
        batch_op.create_index("idx_client_communications_client_date", ["client_id", "communication_date"])
        batch_op.create_index("idx_client_communications_follow_up", ["follow_up_date"])
        batch_op.create_foreign_key(
            "fk_client_communications_supersedes_id_client_communications",
            "client_communications",
            ["supersedes_id"],
            ["id"],
        )
        batch_op.create_check_constraint("ck_client_communications_communication_type", TYPES)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("is_guest", sa.Boolean(), server_default=sa.false(), nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)
        op.execute(PG_SEARCH)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX idx_client_communications_search")
        op.execute("DROP TRIGGER client_communications_immutable ON client_communications")
        op.execute("DROP FUNCTION client_communications_immutable()")
    else:
        op.execute("DROP TRIGGER client_communications_no_delete")
        op.execute("DROP TRIGGER client_communications_no_edit")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("is_guest")
    with op.batch_alter_table("client_communications", schema=None) as batch_op:
        batch_op.drop_constraint("ck_client_communications_communication_type", type_="check")
        batch_op.drop_constraint(
            "fk_client_communications_supersedes_id_client_communications", type_="foreignkey"
        )
        batch_op.drop_index("idx_client_communications_follow_up")
        batch_op.drop_index("idx_client_communications_client_date")
        batch_op.drop_column("source")
        batch_op.drop_column("permalink")
        batch_op.drop_column("supersedes_id")
