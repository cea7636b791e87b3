"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 03:39:48.537436
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("role IN ('recruiter', 'manager', 'admin')", name=op.f("ck_api_tokens_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "code_counters",
        sa.Column("prefix", sa.String(length=10), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("prefix", "year", name=op.f("pk_code_counters")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("slack_user_id", sa.String(length=32), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("tz", sa.String(length=64), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("role IN ('recruiter', 'manager', 'admin')", name=op.f("ck_users_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("slack_user_id", name=op.f("uq_users_slack_user_id")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("entity_type", sa.String(length=50), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=True),
        sa.Column(
            "before",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "after",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_audit_log_actor_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("idx_audit_log_created_at", ["created_at"], unique=False)
        batch_op.create_index("idx_audit_log_entity", ["entity_type", "entity_id"], unique=False)

    op.create_table(
        "clients",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_code", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("name_normalized", sa.String(length=255), nullable=False),
        sa.Column("industry", sa.String(length=100), nullable=True),
        sa.Column("website", sa.String(length=255), nullable=True),
        sa.Column("website_domain", sa.String(length=255), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("state", sa.String(length=100), nullable=True),
        sa.Column("country", sa.String(length=100), nullable=True),
        sa.Column("postal_code", sa.String(length=20), nullable=True),
        sa.Column("logo_url", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=50), nullable=False),
        sa.Column("account_manager_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("deactivated_at", sa.DateTime(), nullable=True),
        sa.Column("deactivation_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('active', 'inactive', 'on-hold', 'archived')", name=op.f("ck_clients_status")
        ),
        sa.ForeignKeyConstraint(
            ["account_manager_id"], ["users.id"], name=op.f("fk_clients_account_manager_id_users")
        ),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_clients_created_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clients")),
        sa.UniqueConstraint("client_code", name=op.f("uq_clients_client_code")),
    )
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.create_index("idx_clients_account_manager", ["account_manager_id"], unique=False)
        batch_op.create_index("idx_clients_created_at", ["created_at"], unique=False)
        batch_op.create_index("idx_clients_industry", ["industry"], unique=False)
        batch_op.create_index("idx_clients_name_normalized", ["name_normalized"], unique=False)
        batch_op.create_index("idx_clients_status", ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_clients_website_domain"), ["website_domain"], unique=False)

    op.create_table(
        "candidates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("full_name", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=True),
        sa.Column("client_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name=op.f("fk_candidates_client_id_clients")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_candidates")),
        sa.UniqueConstraint("email", name=op.f("uq_candidates_email")),
    )
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.create_index("idx_candidates_client_id", ["client_id"], unique=False)

    op.create_table(
        "client_analytics",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("active_jobs_count", sa.Integer(), nullable=False),
        sa.Column("total_candidates_count", sa.Integer(), nullable=False),
        sa.Column("screened_count", sa.Integer(), nullable=False),
        sa.Column("shortlisted_count", sa.Integer(), nullable=False),
        sa.Column("interviewed_count", sa.Integer(), nullable=False),
        sa.Column("hired_count", sa.Integer(), nullable=False),
        sa.Column("avg_time_to_fill_days", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.Column("avg_candidate_quality_score", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("revenue_generated", sa.Numeric(precision=15, scale=2), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_client_analytics_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_analytics")),
        sa.UniqueConstraint("client_id", "date", name=op.f("uq_client_analytics_client_id_date")),
    )
    with op.batch_alter_table("client_analytics", schema=None) as batch_op:
        batch_op.create_index("idx_client_analytics_client_id", ["client_id"], unique=False)
        batch_op.create_index("idx_client_analytics_date", ["date"], unique=False)

    op.create_table(
        "client_contacts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("full_name", sa.String(length=255), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=True),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("email_domain", sa.String(length=255), nullable=False),
        sa.Column("phone", sa.String(length=50), nullable=True),
        sa.Column("mobile", sa.String(length=50), nullable=True),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_client_contacts_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_contacts")),
    )
    with op.batch_alter_table("client_contacts", schema=None) as batch_op:
        batch_op.create_index("idx_client_contacts_client_id", ["client_id"], unique=False)
        batch_op.create_index("idx_client_contacts_email", ["email"], unique=False)
        batch_op.create_index("idx_client_contacts_email_domain", ["email_domain"], unique=False)

    op.create_table(
        "client_feedback",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("feedback_period", sa.String(length=20), nullable=True),
        sa.Column("feedback_date", sa.Date(), nullable=False),
        sa.Column("responsiveness_rating", sa.Integer(), nullable=True),
        sa.Column("communication_rating", sa.Integer(), nullable=True),
        sa.Column("requirements_clarity_rating", sa.Integer(), nullable=True),
        sa.Column("decision_speed_rating", sa.Integer(), nullable=True),
        sa.Column("overall_satisfaction", sa.Integer(), nullable=True),
        sa.Column("written_feedback", sa.Text(), nullable=True),
        sa.Column("submitted_by", sa.Uuid(), nullable=False),
        sa.Column("finalized_by", sa.Uuid(), nullable=True),
        sa.Column("is_finalized", sa.Boolean(), nullable=False),
        sa.Column("finalized_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "communication_rating BETWEEN 1 AND 5", name=op.f("ck_client_feedback_communication_rating")
        ),
        sa.CheckConstraint(
            "decision_speed_rating BETWEEN 1 AND 5", name=op.f("ck_client_feedback_decision_speed_rating")
        ),
        sa.CheckConstraint(
            "overall_satisfaction BETWEEN 1 AND 5", name=op.f("ck_client_feedback_overall_satisfaction")
        ),
        sa.CheckConstraint(
            "requirements_clarity_rating BETWEEN 1 AND 5",
            name=op.f("ck_client_feedback_requirements_clarity_rating"),
        ),
        sa.CheckConstraint(
            "responsiveness_rating BETWEEN 1 AND 5", name=op.f("ck_client_feedback_responsiveness_rating")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_client_feedback_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["finalized_by"], ["users.id"], name=op.f("fk_client_feedback_finalized_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by"], ["users.id"], name=op.f("fk_client_feedback_submitted_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_feedback")),
    )
    with op.batch_alter_table("client_feedback", schema=None) as batch_op:
        batch_op.create_index("idx_client_feedback_client_id", ["client_id"], unique=False)
        batch_op.create_index("idx_client_feedback_date", ["feedback_date"], unique=False)

    op.create_table(
        "jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(length=50), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("openings", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("filled_at", sa.DateTime(), nullable=True),
        sa.Column("fee", sa.Numeric(precision=15, scale=2), nullable=True),
        sa.Column("salary", sa.Numeric(precision=15, scale=2), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'on-hold', 'filled', 'cancelled')", name=op.f("ck_jobs_status")
        ),
        sa.CheckConstraint("openings >= 1", name=op.f("ck_jobs_openings")),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name=op.f("fk_jobs_client_id_clients")),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_jobs_owner_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("reference", name=op.f("uq_jobs_reference")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("idx_jobs_client_id", ["client_id"], unique=False)
        batch_op.create_index("idx_jobs_status", ["status"], unique=False)

    op.create_table(
        "applications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("candidate_id", sa.Uuid(), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("stage_changed_at", sa.DateTime(), nullable=False),
        sa.Column("screened_at", sa.DateTime(), nullable=True),
        sa.Column("shortlisted_at", sa.DateTime(), nullable=True),
        sa.Column("interviewed_at", sa.DateTime(), nullable=True),
        sa.Column("offered_at", sa.DateTime(), nullable=True),
        sa.Column("hired_at", sa.DateTime(), nullable=True),
        sa.Column("rejected_at", sa.DateTime(), nullable=True),
        sa.Column("quality_score", sa.Integer(), nullable=True),
        sa.Column("offer_status", sa.String(length=20), nullable=True),
        sa.Column("placement_fee", sa.Numeric(precision=15, scale=2), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "offer_status IS NULL OR offer_status IN ('made', 'accepted', 'declined')",
            name=op.f("ck_applications_offer_status"),
        ),
        sa.CheckConstraint(
            "stage IN ('screened', 'shortlisted', 'interviewed', 'offered', 'hired', 'rejected')",
            name=op.f("ck_applications_stage"),
        ),
        sa.CheckConstraint("quality_score BETWEEN 1 AND 5", name=op.f("ck_applications_quality_score")),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["candidates.id"],
            name=op.f("fk_applications_candidate_id_candidates"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_applications_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
        sa.UniqueConstraint("job_id", "candidate_id", name=op.f("uq_applications_job_id_candidate_id")),
    )
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.create_index("idx_applications_candidate_id", ["candidate_id"], unique=False)
        batch_op.create_index("idx_applications_job_id_stage", ["job_id", "stage"], unique=False)

    op.create_table(
        "client_communications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("communication_type", sa.String(length=50), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("communication_date", sa.DateTime(), nullable=False),
        sa.Column(
            "participants",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("job_reference_id", sa.Uuid(), nullable=True),
        sa.Column("logged_by", sa.Uuid(), nullable=False),
        sa.Column("is_important", sa.Boolean(), nullable=False),
        sa.Column("follow_up_required", sa.Boolean(), nullable=False),
        sa.Column("follow_up_date", sa.Date(), nullable=True),
        sa.Column(
            "attachments",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("archived_at", sa.DateTime(), nullable=True),
        sa.Column("archived_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["archived_by"], ["users.id"], name=op.f("fk_client_communications_archived_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_client_communications_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_reference_id"], ["jobs.id"], name=op.f("fk_client_communications_job_reference_id_jobs")
        ),
        sa.ForeignKeyConstraint(
            ["logged_by"], ["users.id"], name=op.f("fk_client_communications_logged_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_communications")),
    )
    with op.batch_alter_table("client_communications", schema=None) as batch_op:
        batch_op.create_index("idx_client_communications_client_id", ["client_id"], unique=False)
        batch_op.create_index("idx_client_communications_date", ["communication_date"], unique=False)
        batch_op.create_index("idx_client_communications_type", ["communication_type"], unique=False)

    op.create_table(
        "client_job_assignments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("assigned_by", sa.Uuid(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(), nullable=False),
        sa.Column("unassigned_at", sa.DateTime(), nullable=True),
        sa.Column("unassigned_by", sa.Uuid(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assigned_by"], ["users.id"], name=op.f("fk_client_job_assignments_assigned_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_client_job_assignments_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_client_job_assignments_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["unassigned_by"], ["users.id"], name=op.f("fk_client_job_assignments_unassigned_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_job_assignments")),
        sa.UniqueConstraint("client_id", "job_id", name=op.f("uq_client_job_assignments_client_id_job_id")),
    )
    with op.batch_alter_table("client_job_assignments", schema=None) as batch_op:
        batch_op.create_index("idx_client_job_assignments_client_id", ["client_id"], unique=False)
        batch_op.create_index("idx_client_job_assignments_job_id", ["job_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("client_job_assignments", schema=None) as batch_op:
        batch_op.drop_index("idx_client_job_assignments_job_id")
        batch_op.drop_index("idx_client_job_assignments_client_id")

    op.drop_table("client_job_assignments")
    with op.batch_alter_table("client_communications", schema=None) as batch_op:
        batch_op.drop_index("idx_client_communications_type")
        batch_op.drop_index("idx_client_communications_date")
        batch_op.drop_index("idx_client_communications_client_id")

    op.drop_table("client_communications")
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_index("idx_applications_job_id_stage")
        batch_op.drop_index("idx_applications_candidate_id")

    op.drop_table("applications")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("idx_jobs_status")
        batch_op.drop_index("idx_jobs_client_id")

    op.drop_table("jobs")
    with op.batch_alter_table("client_feedback", schema=None) as batch_op:
        batch_op.drop_index("idx_client_feedback_date")
        batch_op.drop_index("idx_client_feedback_client_id")

    op.drop_table("client_feedback")
    with op.batch_alter_table("client_contacts", schema=None) as batch_op:
        batch_op.drop_index("idx_client_contacts_email_domain")
        batch_op.drop_index("idx_client_contacts_email")
        batch_op.drop_index("idx_client_contacts_client_id")

    op.drop_table("client_contacts")
    with op.batch_alter_table("client_analytics", schema=None) as batch_op:
        batch_op.drop_index("idx_client_analytics_date")
        batch_op.drop_index("idx_client_analytics_client_id")

    op.drop_table("client_analytics")
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.drop_index("idx_candidates_client_id")

    op.drop_table("candidates")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clients_website_domain"))
        batch_op.drop_index("idx_clients_status")
        batch_op.drop_index("idx_clients_name_normalized")
        batch_op.drop_index("idx_clients_industry")
        batch_op.drop_index("idx_clients_created_at")
        batch_op.drop_index("idx_clients_account_manager")

    op.drop_table("clients")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("idx_audit_log_entity")
        batch_op.drop_index("idx_audit_log_created_at")

    op.drop_table("audit_log")
    op.drop_table("users")
    op.drop_table("code_counters")
    op.drop_table("api_tokens")
