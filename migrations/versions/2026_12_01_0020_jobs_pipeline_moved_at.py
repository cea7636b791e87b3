"""jobs.pipeline_moved_at: a job's latest move among its applications in play, kept by triggers (issue 14)

A client's health asks when its pipeline last moved: the latest `stage_changed_at` among the applications
still in play (screened, shortlisted, interviewed, offered) of its open jobs. Read live, that joined every
open job to its applications: 240 index scans and 790 buffers for a page of 20 clients, 1.4 of the list's
3.3 ms in PostgreSQL, and the whole pipeline (5,000 applications) for the biggest client's card. Each job
now carries its own latest move, so the client's is a max over the open jobs the health query reads anyway.

Triggers keep it, not the services: every way an application is written (the pipeline service, imports,
the demo data, a seed, a fixture) updates it, and a move out of play (hired, rejected) takes it back to the
job's previous latest move. `bench.seed` loads with triggers off and backfills with the same statement.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 03:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IN_PLAY = "('screened', 'shortlisted', 'interviewed', 'offered')"


def latest_move(job_id: str) -> str:
    """The statement that sets the `job_id` job's latest move (`job_id`: an SQL expression)."""
    return (
        "UPDATE jobs SET pipeline_moved_at = (SELECT max(stage_changed_at) FROM applications "
        f"WHERE applications.job_id = {job_id} AND applications.stage IN {IN_PLAY}) WHERE jobs.id = {job_id}"
    )


POSTGRES = [
    f"""
CREATE FUNCTION jobs_pipeline_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        {latest_move("OLD.job_id")};
    END IF;
    IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.job_id IS DISTINCT FROM OLD.job_id) THEN
        {latest_move("NEW.job_id")};
    END IF;
    RETURN NULL;
END
$$""",
    """
CREATE TRIGGER applications_pipeline_moved
    AFTER INSERT OR DELETE OR UPDATE OF job_id, stage, stage_changed_at ON applications
    FOR EACH ROW EXECUTE FUNCTION jobs_pipeline_moved()""",
]

SQLITE = [
    "CREATE TRIGGER applications_pipeline_moved_insert AFTER INSERT ON applications "
    f"BEGIN {latest_move('NEW.job_id')}; END",
    "CREATE TRIGGER applications_pipeline_moved_update AFTER UPDATE OF job_id, stage, stage_changed_at "
    f"ON applications BEGIN {latest_move('OLD.job_id')}; "
    f"{latest_move('NEW.job_id')} AND NEW.job_id IS NOT OLD.job_id; END",  # the new job only when it differs
    "CREATE TRIGGER applications_pipeline_moved_delete AFTER DELETE ON applications "
    f"BEGIN {latest_move('OLD.job_id')}; END",
]


def upgrade() -> None:
    op.add_column("jobs", sa.Column("pipeline_moved_at", sa.DateTime(), nullable=True))
    op.execute(latest_move("jobs.id"))
    for statement in POSTGRES if op.get_bind().dialect.name == "postgresql" else SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER applications_pipeline_moved ON applications")
        op.execute("DROP FUNCTION jobs_pipeline_moved()")
    else:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER applications_pipeline_moved_{event}")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("pipeline_moved_at")
