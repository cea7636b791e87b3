"""archiving a communication is final: once archived_at is set, neither it nor archived_by may change

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 12:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE = "client_communications are immutable: an archived record stays archived"
CHANGED = "(OLD.archived_at, OLD.archived_by) IS DISTINCT FROM (NEW.archived_at, NEW.archived_by)"
PG = [
    f"""CREATE FUNCTION client_communications_archive_is_final() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql""",
    f"""CREATE TRIGGER client_communications_archive_is_final BEFORE UPDATE ON client_communications
    FOR EACH ROW WHEN (OLD.archived_at IS NOT NULL AND {CHANGED})
    EXECUTE FUNCTION client_communications_archive_is_final()""",
]
SQLITE = f"""CREATE TRIGGER client_communications_archive_is_final
    BEFORE UPDATE OF archived_at, archived_by ON client_communications
    WHEN OLD.archived_at IS NOT NULL
     AND (NEW.archived_at IS NOT OLD.archived_at OR NEW.archived_by IS NOT OLD.archived_by)
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"""


def upgrade() -> None:
    for statement in PG if op.get_bind().dialect.name == "postgresql" else [SQLITE]:
        op.execute(statement)


def downgrade() -> None:
    op.execute(
        "DROP TRIGGER client_communications_archive_is_final ON client_communications"
        if op.get_bind().dialect.name == "postgresql"
        else "DROP TRIGGER client_communications_archive_is_final"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION client_communications_archive_is_final()")
