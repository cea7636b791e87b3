"""jobs: the client index carries what a client's health reads of its jobs (issue 14)

A client's health reads three figures of its jobs: the average time to fill (filled jobs), the open jobs
older than that, and the pipeline's latest move (open jobs). Each was a bitmap scan of the client's jobs
in the heap (30 blocks for a typical client, four scans a client): a page of 20 clients visited ~350 heap
blocks, a fifth of the list's statement in PostgreSQL. The index on `client_id` now includes the columns
those figures read (PostgreSQL's INCLUDE), so they are read off the index alone (index-only scans, once
autovacuum has marked the table's pages all-visible): the list's statement 1.1 → 0.85 ms, PostgreSQL's
CPU a `/client list` ~1.9 → ~1.5 ms under load.

It replaces `idx_jobs_client_id` (same leading column). The cost is on writes: a change to an included
column (a job's status, its fill, its pipeline's latest move kept by trigger 0020) updates the index too,
where a move used to be a heap-only update. SQLite has no INCLUDE: there it stays an index on `client_id`.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01 16:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INCLUDED = ["status", "opened_at", "filled_at", "pipeline_moved_at"]


def upgrade() -> None:
    op.create_index("idx_jobs_client_figures", "jobs", ["client_id"], postgresql_include=INCLUDED)
    op.drop_index("idx_jobs_client_id", table_name="jobs")


def downgrade() -> None:
    op.create_index("idx_jobs_client_id", "jobs", ["client_id"])
    op.drop_index("idx_jobs_client_figures", table_name="jobs")
