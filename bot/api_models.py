"""Response models of the REST API: every endpoint's body goes through one of these, and the OpenAPI
document is generated from them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class ContactOut(Out):
    id: uuid.UUID
    full_name: str
    title: str | None = None
    email: str
    phone: str | None = None
    mobile: str | None = None
    is_primary: bool
    is_active: bool


class HealthReasonOut(Out):
    code: str
    text: str
    penalty: int


class HealthOut(Out):
    """A client's health (active and on-hold clients): score out of 100, level, and why."""

    score: int
    level: str
    hot: bool
    last_contact: datetime | None = None
    days_since_contact: int | None = None
    reasons: list[HealthReasonOut]


class ClientOut(Out):
    id: uuid.UUID
    client_code: str
    name: str
    industry: str | None = None
    website: str | None = None
    address: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    postal_code: str | None = None
    status: str
    account_manager_id: uuid.UUID | None = None
    created_at: datetime
    updated_at: datetime
    deactivated_at: datetime | None = None
    deactivation_reason: str | None = None
    is_hot: bool = False
    contacts: list[ContactOut] | None = None
    stats: dict[str, Any] | None = None
    health: HealthOut | None = None


class Pagination(Out):
    page: int
    limit: int
    total: int
    pages: int


class ClientListOut(Out):
    clients: list[ClientOut]
    pagination: Pagination
    summary: dict[str, int]


class JobOut(Out):
    id: uuid.UUID
    reference: str
    title: str
    client_id: uuid.UUID | None = None
    status: str
    openings: int
    opened_at: datetime
    filled_at: datetime | None = None
    fee: Decimal | None = None
    pipeline: dict[str, int] | None = None


class JobListOut(Out):
    jobs: list[JobOut]
    pagination: Pagination
    analytics: dict[str, Any]


class LinkOut(Out):
    client_id: uuid.UUID
    job_id: uuid.UUID
    reference: str
    linked: bool


class CandidateOut(Out):
    id: uuid.UUID
    full_name: str
    email: str
    source: str | None = None


class ApplicationOut(Out):
    id: uuid.UUID
    job_id: uuid.UUID
    candidate_id: uuid.UUID
    stage: str
    stage_changed_at: datetime
    quality_score: int | None = None
    offer_status: str | None = None
    placement_fee: Decimal | None = None


class CommunicationOut(Out):
    id: uuid.UUID
    client_id: uuid.UUID
    communication_type: str
    subject: str | None = None
    notes: str | None = None
    communication_date: datetime
    participants: list[dict[str, Any]] | None = None
    is_important: bool
    follow_up_required: bool
    follow_up_date: date | None = None
    attachments: list[dict[str, Any]] | None = None
    archived_at: datetime | None = None
    supersedes_id: uuid.UUID | None = None


class CommunicationListOut(Out):
    communications: list[CommunicationOut]
    pagination: Pagination


class AttachmentsOut(Out):
    id: uuid.UUID
    attachments: list[dict[str, Any]]


class FeedbackOut(Out):
    id: uuid.UUID
    client_id: uuid.UUID
    feedback_period: str | None
    responsiveness_rating: int | None
    communication_rating: int | None
    requirements_clarity_rating: int | None
    decision_speed_rating: int | None
    overall_satisfaction: int | None
    written_feedback: str | None = None
    is_finalized: bool


class FeedbackPeriodOut(Out):
    period: str
    responses: int
    averages: dict[str, float | None]
    finalized: bool


class FeedbackListOut(Out):
    periods: list[FeedbackPeriodOut]


class PerformanceReportOut(Out):
    client_code: str
    period: str
    compared_with: str
    averages: dict[str, float | None]
    compared_averages: dict[str, float | None]
    deltas: dict[str, float | None]
    finalized: bool
    written_feedback: list[str]
    trend: list[dict[str, Any]]


class DashboardOut(Out):
    client: ClientOut
    metrics: dict[str, Any]
    follow_ups: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    hires_by_month: dict[str, int]


class BulkResultOut(Out):
    client_id: str
    client_code: str | None
    ok: bool
    change: str | None = None
    error: str | None = None
    client_name: str | None = None


class BulkOut(Out):
    operation: str
    dry_run: bool
    results: list[BulkResultOut]
    summary: dict[str, int]


class PrivacyExportOut(Out):
    request_id: uuid.UUID
    email: str
    generated_at: datetime
    names: list[str]
    phones: list[str]
    contacts: list[dict[str, Any]]
    candidates: list[dict[str, Any]]
    applications: list[dict[str, Any]]
    communications: list[dict[str, Any]]
    feedback_mentions: list[dict[str, Any]]
    audit_entries: list[dict[str, Any]]
    privacy_requests: list[dict[str, Any]]
    attachments: list[dict[str, Any]]
    counts: dict[str, int]


class PrivacyEraseOut(Out):
    request_id: uuid.UUID
    redacted_at: datetime
    by: str
    contacts: int
    candidates: int
    communications: int
    other_fields: int
    found: bool
    attachments_to_review: list[dict[str, Any]]


class ImportedClientOut(Out):
    action: str  # created | updated | duplicate | refused
    name: str
    lines: list[int]
    client_code: str | None = None
    detail: str = ""


class RefusedLineOut(Out):
    line: int
    errors: dict[str, str]


class ClientImportOut(Out):
    dry_run: bool
    rows: int
    counts: dict[str, int]
    clients: list[ImportedClientOut]
    refused_lines: list[RefusedLineOut]
    ignored_columns: list[str]


class RateOut(Out):
    numerator: int
    denominator: int
    rate: float | None = None
    target: float | None = None
    met: bool | None = None


class QuarterRateOut(RateOut):
    quarter: str


class ReportTimesOut(Out):
    count: int
    mean_ms: int | None = None
    p50_ms: int | None = None
    p95_ms: int | None = None
    by_kind: dict[str, int]


class MonthMetricsOut(Out):
    month: str
    logging_coverage: RateOut
    adoption: RateOut
    centralisation: RateOut
    report_times: ReportTimesOut


class MetricsOut(Out):
    period: str
    start: date
    end: date
    measured_at: datetime
    feedback_completion: QuarterRateOut
    feedback_by_quarter: list[QuarterRateOut]
    logging_coverage: RateOut
    adoption: RateOut
    recruiters_active: RateOut
    centralisation: RateOut
    report_times: ReportTimesOut
    trend: list[MonthMetricsOut]
