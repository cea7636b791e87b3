"""client_counts: how many clients have each status, kept by triggers (issue 14)

A client list shows its total ("10,001 clients · page 1 of 501"). Counted on every page, that was an
index scan of every client: 1.9 ms of PostgreSQL's CPU for each `/client list` of 10,000 clients, 40 % of
the page's statement. A list filtered by status at most now sums these rows instead; other filters still
count (their matches are not known ahead).

Triggers keep it: a client written, deleted or moved to another status moves one count. Counts are
upserted, so a status with no row yet gets one. On PostgreSQL a status change locks the two counts in
the order of their status (no deadlock between two changes the other way round). Nothing in the app
writes it.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01 10:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRES = [
    """
CREATE FUNCTION client_counts_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        PERFORM 1 FROM client_counts WHERE status IN (OLD.status, NEW.status) ORDER BY status FOR UPDATE;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE client_counts SET clients = clients - 1 WHERE status = OLD.status;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO client_counts (status, clients) VALUES (NEW.status, 1)
            ON CONFLICT (status) DO UPDATE SET clients = client_counts.clients + 1;
    END IF;
    RETURN NULL;
END
$$""",
    """
CREATE TRIGGER client_counts_follow AFTER INSERT OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION client_counts_follow()""",
    """
CREATE TRIGGER client_counts_follow_status AFTER UPDATE OF status ON clients
    FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status)
    EXECUTE FUNCTION client_counts_follow()""",
]

_ADD = (
    "INSERT OR IGNORE INTO client_counts (status, clients) VALUES (NEW.status, 0); "
    "UPDATE client_counts SET clients = clients + 1 WHERE status = NEW.status;"
)
_REMOVE = "UPDATE client_counts SET clients = clients - 1 WHERE status = OLD.status;"
SQLITE = [
    f"CREATE TRIGGER client_counts_insert AFTER INSERT ON clients BEGIN {_ADD} END",
    f"CREATE TRIGGER client_counts_delete AFTER DELETE ON clients BEGIN {_REMOVE} END",
    "CREATE TRIGGER client_counts_status AFTER UPDATE OF status ON clients "
    f"WHEN NEW.status IS NOT OLD.status BEGIN {_REMOVE} {_ADD} END",
]
SQLITE_TRIGGERS = ("client_counts_insert", "client_counts_delete", "client_counts_status")


def upgrade() -> None:
    op.create_table(
        "client_counts",
        sa.Column("status", sa.String(50), nullable=False),
        sa.Column("clients", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("status", name="pk_client_counts"),
    )
    op.execute(
        "INSERT INTO client_counts (status, clients) SELECT status, count(*) FROM clients GROUP BY status"
    )
    for statement in POSTGRES if op.get_bind().dialect.name == "postgresql" else SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER client_counts_follow ON clients")
        op.execute("DROP TRIGGER client_counts_follow_status ON clients")
        op.execute("DROP FUNCTION client_counts_follow()")
    else:
        for trigger in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {trigger}")
    op.drop_table("client_counts")
