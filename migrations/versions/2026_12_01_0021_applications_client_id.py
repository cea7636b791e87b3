"""applications.client_id: the client of the application's job, kept by triggers (issue 14)

A client's card shows its newest candidates, stage moves and hires. Read through the jobs, each of the
three joined every application of the client's jobs and sorted them: for a client with 500 jobs and 5,000
applications, 7.3 ms of PostgreSQL for 45 rows, and 1.8 ms more for its hires by month. With the client on
the application and an index per ordering, each reads its newest rows off an index.

Triggers keep it: an application takes its job's client when written or moved to another job, and a job
linked, unlinked or moved to another client takes its applications with it (the link's own audit trail
is the jobs' and client_job_assignments'; this column only mirrors it). Nothing in the app writes it.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 04:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "idx_applications_client_created": ["client_id", "created_at"],
    "idx_applications_client_moved": ["client_id", "stage_changed_at"],
    "idx_applications_client_hired": ["client_id", "hired_at"],
}
JOBS_CLIENT = "(SELECT jobs.client_id FROM jobs WHERE jobs.id = {job_id})"
FOLLOW_THE_JOB = "UPDATE applications SET client_id = NEW.client_id WHERE applications.job_id = NEW.id"

POSTGRES = [
    f"""
CREATE FUNCTION applications_client_of_job() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.client_id := {JOBS_CLIENT.format(job_id="NEW.job_id")};
    RETURN NEW;
END
$$""",
    """
CREATE TRIGGER applications_client_of_job BEFORE INSERT OR UPDATE OF job_id ON applications
    FOR EACH ROW EXECUTE FUNCTION applications_client_of_job()""",
    f"""
CREATE FUNCTION jobs_client_to_applications() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {FOLLOW_THE_JOB};
    RETURN NULL;
END
$$""",
    """
CREATE TRIGGER jobs_client_to_applications AFTER UPDATE OF client_id ON jobs
    FOR EACH ROW WHEN (NEW.client_id IS DISTINCT FROM OLD.client_id)
    EXECUTE FUNCTION jobs_client_to_applications()""",
]

_OWN_CLIENT = f"UPDATE applications SET client_id = {JOBS_CLIENT.format(job_id='NEW.job_id')} WHERE applications.id = NEW.id"
SQLITE = [  # SQLite's triggers can't assign NEW: the row is updated right after it is written
    f"CREATE TRIGGER applications_client_of_job_insert AFTER INSERT ON applications BEGIN {_OWN_CLIENT}; END",
    "CREATE TRIGGER applications_client_of_job_update AFTER UPDATE OF job_id ON applications "
    f"BEGIN {_OWN_CLIENT}; END",
    "CREATE TRIGGER jobs_client_to_applications AFTER UPDATE OF client_id ON jobs "
    f"WHEN NEW.client_id IS NOT OLD.client_id BEGIN {FOLLOW_THE_JOB}; END",
]


def upgrade() -> None:
    op.add_column("applications", sa.Column("client_id", sa.Uuid(), nullable=True))
    op.execute(f"UPDATE applications SET client_id = {JOBS_CLIENT.format(job_id='applications.job_id')}")
    for name, columns in INDEXES.items():
        op.create_index(name, "applications", columns)
    for statement in POSTGRES if op.get_bind().dialect.name == "postgresql" else SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER applications_client_of_job ON applications")
        op.execute("DROP TRIGGER jobs_client_to_applications ON jobs")
        op.execute("DROP FUNCTION applications_client_of_job()")
        op.execute("DROP FUNCTION jobs_client_to_applications()")
    else:
        for trigger in (
            "applications_client_of_job_insert",
            "applications_client_of_job_update",
            "jobs_client_to_applications",
        ):
            op.execute(f"DROP TRIGGER {trigger}")
    for name in INDEXES:
        op.drop_index(name, table_name="applications")
    with op.batch_alter_table("applications") as batch:
        batch.drop_column("client_id")
