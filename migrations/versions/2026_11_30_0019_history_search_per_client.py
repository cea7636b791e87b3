"""History search reads the client's own communications: the whole-table full-text index goes (issue 14)

Every search is of one client's history. Under a generic plan PostgreSQL can't know how common the
searched word is, so it combined the client's index with the GIN index; for a word in most records
("call", "interview") the GIN scan read a million entries, 62 ms, against 0.6 ms for filtering the
client's ~100 rows (3 ms for a client with 1,100). The cost now grows with the client's history, not
with the agency's, and inserts no longer maintain the index.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 19:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX idx_client_communications_search")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX idx_client_communications_search ON client_communications USING gin "
            "(to_tsvector('simple', coalesce(subject, '') || ' ' || coalesce(notes, '')))"
        )
