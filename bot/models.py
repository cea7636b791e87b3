"""SQLAlchemy 2 typed models: the seed schema plus the tables it assumes (users, jobs, pipeline, audit)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    and_,
    event,
    false,
    inspect,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from bot import clock

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return clock.now()


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC (TIMESTAMP, as the seed schema does) and always hands back aware UTC datetimes,
    so PostgreSQL and SQLite behave the same."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSONType, list[Any]: JSONType}


def _pk() -> Mapped[uuid.UUID]:
    return mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


def _created() -> Mapped[datetime]:
    return mapped_column(default=utcnow)


class Role(StrEnum):
    RECRUITER = "recruiter"
    MANAGER = "manager"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _ROLE_RANKS[self]


_ROLE_RANKS = {role: rank for rank, role in enumerate(Role)}  # read on every visibility check


class ClientStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    ON_HOLD = "on-hold"
    ARCHIVED = "archived"


class Stage(StrEnum):
    SCREENED = "screened"
    SHORTLISTED = "shortlisted"
    INTERVIEWED = "interviewed"
    OFFERED = "offered"
    HIRED = "hired"
    REJECTED = "rejected"


class JobStatus(StrEnum):
    OPEN = "open"
    ON_HOLD = "on-hold"
    FILLED = "filled"
    CANCELLED = "cancelled"


def _in(column: str, enum: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(m.value) for m in enum)})"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", Role), name="role"),)

    id: Mapped[uuid.UUID] = _pk()
    slack_user_id: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(255), default="")
    email: Mapped[str | None] = mapped_column(String(255))
    tz: Mapped[str | None] = mapped_column(String(64))
    # Slack guests (restricted accounts) see no client data whatever their role.
    is_guest: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Deactivated in Slack (`deleted: true`): no role, no DMs, never an account manager.
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The user's own organisation as Slack reports it (Slack Connect users belong to another one).
    team_id: Mapped[str | None] = mapped_column(String(32))
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    # When the profile (guest, deactivated, bot, team) was last read from Slack; re-read after a day.
    profile_checked_at: Mapped[datetime | None] = mapped_column()
    role: Mapped[str] = mapped_column(String(20), default=Role.RECRUITER.value)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def mention(self) -> str:
        return f"<@{self.slack_user_id}>"


class CodeCounter(Base):
    """Last number handed out per code prefix (CLT, JOB) and year: one row lock makes codes race-free
    and gapless."""

    __tablename__ = "code_counters"

    prefix: Mapped[str] = mapped_column(String(10), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class Client(Base):
    __tablename__ = "clients"
    __table_args__ = (
        CheckConstraint(_in("status", ClientStatus), name="status"),
        Index("idx_clients_status", "status"),
        Index("idx_clients_account_manager", "account_manager_id"),
        Index("idx_clients_industry", "industry"),
        Index("idx_clients_name_normalized", "name_normalized"),
        Index("idx_clients_created_at", "created_at"),
        Index("idx_clients_name_code", "name", "client_code"),  # the list's default order
    )

    id: Mapped[uuid.UUID] = _pk()
    client_code: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    name_normalized: Mapped[str] = mapped_column(String(255), default="")
    industry: Mapped[str | None] = mapped_column(String(100))
    website: Mapped[str | None] = mapped_column(String(255))
    website_domain: Mapped[str | None] = mapped_column(String(255), index=True)
    address: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    logo_url: Mapped[str | None] = mapped_column(String(500))  # storage key of the checked copy
    logo_slack_file_id: Mapped[str | None] = mapped_column(String(50))  # the Slack file, for Block Kit images
    status: Mapped[str] = mapped_column(String(50), default=ClientStatus.ACTIVE.value)
    account_manager_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deactivated_at: Mapped[datetime | None]
    deactivation_reason: Mapped[str | None] = mapped_column(Text)
    # The manual "hot" flag (`/client hot CODE on|off`, managers and above, audited).
    is_hot: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    contacts: Mapped[list[ClientContact]] = relationship(
        back_populates="client", order_by="(ClientContact.is_primary.desc(), ClientContact.created_at)"
    )
    account_manager: Mapped[User | None] = relationship(foreign_keys=[account_manager_id])


class ClientContact(Base):
    __tablename__ = "client_contacts"
    __table_args__ = (
        Index("idx_client_contacts_client_id", "client_id"),
        Index("idx_client_contacts_email", "email"),
        Index("idx_client_contacts_email_domain", "email_domain"),
    )

    id: Mapped[uuid.UUID] = _pk()
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    full_name: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(255))
    email_domain: Mapped[str] = mapped_column(String(255), default="")
    phone: Mapped[str | None] = mapped_column(String(50))
    mobile: Mapped[str | None] = mapped_column(String(50))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    client: Mapped[Client] = relationship(back_populates="contacts")


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_in("status", JobStatus), name="status"),
        CheckConstraint("openings >= 1", name="openings"),
        # what a client's health reads of its jobs, read off the index (migration 0023)
        Index(
            "idx_jobs_client_figures",
            "client_id",
            postgresql_include=["status", "opened_at", "filled_at", "pipeline_moved_at"],
        ),
        Index("idx_jobs_status", "status"),
    )

    id: Mapped[uuid.UUID] = _pk()
    reference: Mapped[str] = mapped_column(String(50), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    client_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clients.id"))
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.OPEN.value)
    openings: Mapped[int] = mapped_column(Integer, default=1)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    filled_at: Mapped[datetime | None]
    fee: Mapped[Decimal | None] = mapped_column(Numeric(15, 2))
    salary: Mapped[Decimal | None] = mapped_column(Numeric(15, 2))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    # The latest stage_changed_at among its applications in play (screened to offered), for a client's
    # health: kept by triggers on applications (migration 0020), never written by the app.
    pipeline_moved_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Candidate(Base):
    __tablename__ = "candidates"
    __table_args__ = (Index("idx_candidates_client_id", "client_id"),)

    id: Mapped[uuid.UUID] = _pk()
    full_name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(255), unique=True)
    source: Mapped[str | None] = mapped_column(String(100))
    # The seed's `resumes.client_id`: candidates submitted directly by a client.
    client_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clients.id"))
    created_at: Mapped[datetime] = _created()


class Application(Base):
    __tablename__ = "applications"
    __table_args__ = (
        UniqueConstraint("job_id", "candidate_id"),
        CheckConstraint(_in("stage", Stage), name="stage"),
        CheckConstraint("quality_score BETWEEN 1 AND 5", name="quality_score"),
        CheckConstraint(
            "offer_status IS NULL OR offer_status IN ('made', 'accepted', 'declined')", name="offer_status"
        ),
        # stage_changed_at too: a job's latest move in play is read off the index (migration 0020's trigger)
        Index("idx_applications_job_stage_moved", "job_id", "stage", "stage_changed_at"),
        Index("idx_applications_candidate_id", "candidate_id"),
        Index("idx_applications_hired_at", "hired_at"),
        # a client's newest candidates, moves and hires on its card (services/dashboard.py timeline)
        Index("idx_applications_client_created", "client_id", "created_at"),
        Index("idx_applications_client_moved", "client_id", "stage_changed_at"),
        Index("idx_applications_client_hired", "client_id", "hired_at"),
    )

    id: Mapped[uuid.UUID] = _pk()
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    # The job's client, mirrored by triggers (migration 0021) when the application is written or the job
    # is linked elsewhere: query by it; an object loaded before such a move still holds the old one.
    client_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    candidate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(20), default=Stage.SCREENED.value)
    stage_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    screened_at: Mapped[datetime | None]
    shortlisted_at: Mapped[datetime | None]
    interviewed_at: Mapped[datetime | None]
    offered_at: Mapped[datetime | None]
    hired_at: Mapped[datetime | None]
    rejected_at: Mapped[datetime | None]
    quality_score: Mapped[int | None] = mapped_column(Integer)
    offer_status: Mapped[str | None] = mapped_column(String(20))
    placement_fee: Mapped[Decimal | None] = mapped_column(Numeric(15, 2))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CommunicationType(StrEnum):
    MEETING = "meeting"
    CALL = "call"
    EMAIL = "email"
    VIDEO_CALL = "video_call"
    CONTRACT_SIGNED = "contract_signed"


# Columns of a communication that can never change once written (the database enforces it too).
COMMUNICATION_CONTENT = (
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
    # Set only by an erasure (bot/services/privacy.py), which writes through SQL, not the ORM.
    "redacted_at",
    "redacted_by",
    "redaction_request_id",
    "import_key",
)


class ClientCommunication(Base):
    """Immutable once written: archived (archived_at/by), never edited or deleted. A correction is a new
    record that references the one it supersedes."""

    __tablename__ = "client_communications"
    __table_args__ = (
        CheckConstraint(_in("communication_type", CommunicationType), name="communication_type"),
        Index("idx_client_communications_client_id", "client_id"),
        Index("idx_client_communications_date", "communication_date"),
        Index("idx_client_communications_type", "communication_type"),
        Index("idx_client_communications_client_date", "client_id", "communication_date"),
        Index("idx_client_communications_follow_up", "follow_up_date"),
        Index("uq_client_communications_import_key", "import_key", unique=True),
    )

    id: Mapped[uuid.UUID] = _pk()
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    communication_type: Mapped[str] = mapped_column(String(50))
    subject: Mapped[str | None] = mapped_column(String(500))
    notes: Mapped[str | None] = mapped_column(Text)
    communication_date: Mapped[datetime]
    participants: Mapped[list[Any] | None]
    job_reference_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id"))
    logged_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    is_important: Mapped[bool] = mapped_column(Boolean, default=False)
    follow_up_required: Mapped[bool] = mapped_column(Boolean, default=False)
    follow_up_date: Mapped[date | None] = mapped_column(Date)
    attachments: Mapped[list[Any] | None]
    created_at: Mapped[datetime] = _created()
    archived_at: Mapped[datetime | None]
    archived_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    supersedes_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("client_communications.id"))
    permalink: Mapped[str | None] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(20), default="slack", server_default="slack")
    # Imported records (`clientbot import communications`): a hash of the normalised row, so a re-run
    # finds the record it wrote instead of writing it twice.
    import_key: Mapped[str | None] = mapped_column(String(64))
    # Follow-up state is workflow, not content: it may change (done, snoozed); the record itself may not.
    follow_up_done_at: Mapped[datetime | None]
    follow_up_done_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    follow_up_snoozed_until: Mapped[date | None] = mapped_column(Date)
    # A personal-data erasure rewrote the person's name, email and phone here (migration 0015): when, by
    # whom (a Slack id or the API token's name) and under which request. Nothing else ever changes.
    redacted_at: Mapped[datetime | None]
    redacted_by: Mapped[str | None] = mapped_column(String(255))
    redaction_request_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("privacy_requests.id"))


# A communication whose follow-up is still to do: what follow-up queries select (services import it),
# and the predicate of the partial index that gives one client's open follow-ups (its health's overdue
# count, the dashboard's due list) as a handful of rows instead of all its communications.
OPEN_FOLLOW_UP = (
    ClientCommunication.follow_up_required.is_(True),
    ClientCommunication.follow_up_done_at.is_(None),
    ClientCommunication.archived_at.is_(None),
)
Index(
    "idx_client_communications_open_follow_up",
    ClientCommunication.client_id,
    ClientCommunication.follow_up_date,
    postgresql_where=and_(*OPEN_FOLLOW_UP),
    sqlite_where=and_(*OPEN_FOLLOW_UP),
)


class PrivacyKind(StrEnum):
    EXPORT = "export"
    ERASE = "erase"


class PrivacyRequest(Base):
    """A personal-data request (GDPR access or erasure): who asked for it, why, and what it touched. The
    person is named by the SHA-256 of their email address only. Never deleted; final once completed
    (database triggers, migration 0015)."""

    __tablename__ = "privacy_requests"
    __table_args__ = (
        CheckConstraint(_in("kind", PrivacyKind), name="kind"),
        Index("idx_privacy_requests_subject", "subject_digest"),
    )

    id: Mapped[uuid.UUID] = _pk()
    kind: Mapped[str] = mapped_column(String(10))
    subject_digest: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    requested_by_label: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = _created()
    completed_at: Mapped[datetime | None]
    result: Mapped[dict[str, Any] | None]


def _rating(column: str) -> CheckConstraint:
    return CheckConstraint(f"{column} BETWEEN 1 AND 5", name=column)


RATING_COLUMNS = (
    "responsiveness_rating",
    "communication_rating",
    "requirements_clarity_rating",
    "decision_speed_rating",
    "overall_satisfaction",
)


class ClientFeedback(Base):
    """One submitter's ratings of a client for a period (`2026-Q3`): a draft until the period is finalised."""

    __tablename__ = "client_feedback"
    __table_args__ = (
        *(_rating(c) for c in RATING_COLUMNS),
        UniqueConstraint("client_id", "feedback_period", "submitted_by"),
        Index("idx_client_feedback_client_id", "client_id"),
        Index("idx_client_feedback_date", "feedback_date"),
    )

    id: Mapped[uuid.UUID] = _pk()
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    feedback_period: Mapped[str | None] = mapped_column(String(20))
    feedback_date: Mapped[date] = mapped_column(Date)
    responsiveness_rating: Mapped[int | None] = mapped_column(Integer)
    communication_rating: Mapped[int | None] = mapped_column(Integer)
    requirements_clarity_rating: Mapped[int | None] = mapped_column(Integer)
    decision_speed_rating: Mapped[int | None] = mapped_column(Integer)
    overall_satisfaction: Mapped[int | None] = mapped_column(Integer)
    written_feedback: Mapped[str | None] = mapped_column(Text)
    submitted_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    finalized_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    is_finalized: Mapped[bool] = mapped_column(Boolean, default=False)
    finalized_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)


class ClientCount(Base):
    """How many clients have each status, kept by triggers (migration 0022), never written by the app: a
    client list's total without counting every client on each page (issue 14)."""

    __tablename__ = "client_counts"

    status: Mapped[str] = mapped_column(String(50), primary_key=True)
    clients: Mapped[int] = mapped_column(Integer, default=0)


class SlackDelivery(Base):
    """A request Slack delivered (event id, or a digest of an interaction's body), so a retry
    (`X-Slack-Retry-Num`) is recognised and never writes twice."""

    __tablename__ = "slack_deliveries"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class AppState(Base):
    """Facts about this installation, by key: `installed_at` (ISO 8601, UTC) is the instant the database
    was first migrated, so the scheduler never catches up on a fire from before the install."""

    __tablename__ = "app_state"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ScheduledRun(Base):
    """A scheduled job's run for a period (`quarterly_feedback_reminder` / `2026-Q3`): the unique pair
    makes "sent once" hold across restarts and replicas."""

    __tablename__ = "scheduled_runs"
    __table_args__ = (UniqueConstraint("job", "period_key"),)

    id: Mapped[uuid.UUID] = _pk()
    job: Mapped[str] = mapped_column(String(100))
    period_key: Mapped[str] = mapped_column(String(50))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    result: Mapped[str | None] = mapped_column(Text)


class ClientJobAssignment(Base):
    __tablename__ = "client_job_assignments"
    __table_args__ = (
        UniqueConstraint("client_id", "job_id"),
        Index("idx_client_job_assignments_client_id", "client_id"),
        Index("idx_client_job_assignments_job_id", "job_id"),
    )

    id: Mapped[uuid.UUID] = _pk()
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    assigned_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    unassigned_at: Mapped[datetime | None]
    unassigned_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class ClientAnalytics(Base):
    __tablename__ = "client_analytics"
    __table_args__ = (
        UniqueConstraint("client_id", "date"),
        Index("idx_client_analytics_client_id", "client_id"),
        Index("idx_client_analytics_date", "date"),
    )

    id: Mapped[uuid.UUID] = _pk()
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    date: Mapped[date] = mapped_column(Date)
    active_jobs_count: Mapped[int] = mapped_column(Integer, default=0)
    total_candidates_count: Mapped[int] = mapped_column(Integer, default=0)
    screened_count: Mapped[int] = mapped_column(Integer, default=0)
    shortlisted_count: Mapped[int] = mapped_column(Integer, default=0)
    interviewed_count: Mapped[int] = mapped_column(Integer, default=0)
    hired_count: Mapped[int] = mapped_column(Integer, default=0)
    avg_time_to_fill_days: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    avg_candidate_quality_score: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    revenue_generated: Mapped[Decimal | None] = mapped_column(Numeric(15, 2))


class ClientHealthSnapshot(Base):
    """A client's health as computed by the nightly job (services/health.py): the history behind
    "newly at risk", and the order of `/client list sort:health` (score, then hot first: `is_hot` follows
    the client's flag on the latest day's row, so that order is one index scan)."""

    __tablename__ = "client_health_snapshots"
    __table_args__ = (
        UniqueConstraint("client_id", "day"),
        Index("idx_client_health_snapshots_day_level", "day", "level"),
    )

    id: Mapped[uuid.UUID] = _pk()
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    score: Mapped[int] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(20))
    is_hot: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = _created()


Index(
    "idx_client_health_snapshots_order",
    ClientHealthSnapshot.day,
    ClientHealthSnapshot.score,
    ClientHealthSnapshot.is_hot.desc(),
    ClientHealthSnapshot.client_id,
)


class AuditLog(Base):
    """Who did what to which record, with the record before and after."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("idx_audit_log_entity", "entity_type", "entity_id"),
        Index("idx_audit_log_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = _pk()
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(100))
    entity_type: Mapped[str] = mapped_column(String(50))
    entity_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = _created()


class ApiToken(Base):
    """A REST API bearer token; only its SHA-256 is stored, the token itself is shown once."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint(_in("role", Role), name="role"),)

    id: Mapped[uuid.UUID] = _pk()
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = _created()
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]  # None: never expires


class ImmutableRecord(Exception):
    """Raised when code tries to edit or delete a communication (the database refuses it too)."""


def _appended(history: Any) -> bool:
    """Attachments may grow: the old list must stay, unchanged, at the start of the new one."""
    old = (history.deleted or [None])[0] or []
    new = (history.added or [None])[0] or []
    return len(new) >= len(old) and new[: len(old)] == old


@event.listens_for(Session, "before_flush")
def _communications_are_immutable(session: Session, _context: Any, _instances: Any) -> None:
    for record in session.deleted:
        if isinstance(record, ClientCommunication):
            raise ImmutableRecord("Communications cannot be deleted; archive them instead.")
    for record in session.dirty:
        if isinstance(record, ClientCommunication):
            state = inspect(record)
            changed = [
                name
                for name in COMMUNICATION_CONTENT
                if state.attrs[name].history.has_changes()
                and not (name == "attachments" and _appended(state.attrs[name].history))
            ]
            if changed:
                raise ImmutableRecord(
                    f"Communications cannot be edited ({', '.join(changed)}); log a correction."
                )
            archived = state.attrs["archived_at"].history
            if (archived.deleted or [None])[0] is not None and archived.has_changes():
                raise ImmutableRecord("An archived communication stays archived.")


class SubscriptionEvent(StrEnum):
    """What a channel subscription posts (`/client subscribe CODE [events…]`)."""

    STATUS = "status"  # the client's status changed
    HIRE = "hire"  # a candidate was hired for one of its jobs
    IMPORTANT = "important"  # an important communication was logged
    FEEDBACK = "feedback"  # a feedback period was finalised
    HEALTH = "health"  # the client's health level changed (published by the health service)


class ChannelSubscription(Base):
    """A channel following a client: its events are posted there, one thread per client and week.
    Disabled (never deleted while deliveries may refer to it) when Slack says the bot cannot post there."""

    __tablename__ = "channel_subscriptions"
    __table_args__ = (
        UniqueConstraint("channel_id", "client_id"),
        Index("idx_channel_subscriptions_client_id", "client_id"),
    )

    id: Mapped[uuid.UUID] = _pk()
    channel_id: Mapped[str] = mapped_column(String(32))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    events: Mapped[list[Any]]
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(100))

    client: Mapped[Client] = relationship()


class SubscriptionOutbox(Base):
    """One post owed to one subscription, written in the transaction of the change it reports; the
    `subscription_posts` job delivers it exactly once (claimed in scheduled_runs before it is sent)."""

    __tablename__ = "subscription_outbox"
    __table_args__ = (
        Index("idx_subscription_outbox_pending", "delivered_at", "id"),
        Index("idx_subscription_outbox_subscription_id", "subscription_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)  # delivery order
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("channel_subscriptions.id", ondelete="CASCADE")
    )
    event: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = _created()
    delivered_at: Mapped[datetime | None]  # posted, or given up on (see `outcome`)
    outcome: Mapped[str | None] = mapped_column(String(100))  # "posted" or why not
    message_ts: Mapped[str | None] = mapped_column(String(32))


class SubscriptionThread(Base):
    """The thread a channel gets for a client in an ISO week (`2026-W49`): the first post's ts."""

    __tablename__ = "subscription_threads"
    __table_args__ = (UniqueConstraint("channel_id", "client_id", "week"),)

    id: Mapped[uuid.UUID] = _pk()
    channel_id: Mapped[str] = mapped_column(String(32))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    week: Mapped[str] = mapped_column(String(10))
    thread_ts: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = _created()


class ReportBuild(Base):
    """How long a report (dashboard or performance PDF) took to build: the success metrics' report times."""

    __tablename__ = "report_builds"
    __table_args__ = (Index("idx_report_builds_built_at", "built_at"),)

    id: Mapped[uuid.UUID] = _pk()
    kind: Mapped[str] = mapped_column(String(30))
    client_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clients.id", ondelete="SET NULL"))
    built_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    duration_ms: Mapped[int] = mapped_column(Integer)
    built_at: Mapped[datetime] = _created()
