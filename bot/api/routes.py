"""REST API: the route table (method, path, handler, models) that serves and documents the API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from pydantic import BaseModel

from bot.api.bulk import bulk_operations
from bot.api.clients import (
    ClientQuery,
    DeactivateIn,
    create_client,
    deactivate_client,
    get_client,
    list_clients,
    update_client,
)
from bot.api.communications import HistoryQuery, list_communications, log_communication, upload_attachments
from bot.api.dashboard import client_dashboard
from bot.api.feedback import ReportIn, list_feedback, performance_report, submit_feedback
from bot.api.imports import import_clients
from bot.api.jobs import LinkIn, PageQuery, create_job, link_job, list_client_jobs, unlink_job
from bot.api.metrics import MetricsQuery, get_metrics
from bot.api.pipeline import create_application, create_candidate, update_application
from bot.api.privacy import privacy_erase, privacy_export
from bot.services import bulk, clients, communications, feedback, jobs, pipeline, privacy


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Callable[[web.Request], Awaitable[web.Response]]
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    success: int = 200
    files: bool = False  # a multipart/form-data upload of `file` parts instead of a JSON body


ROUTES = [
    Route(
        "POST",
        "/api/clients/bulk-operations",
        bulk_operations,
        "Bulk operation (dry run or real)",
        bulk.BulkRequest,
    ),
    Route(
        "POST",
        "/api/clients/import",
        import_clients,
        "Import clients with contacts from CSV (multipart/form-data; dry_run, update)",
        files=True,
    ),
    Route("POST", "/api/clients", create_client, "Create a client", clients.ClientIn, success=201),
    Route("GET", "/api/clients", list_clients, "List clients with pagination and summary", query=ClientQuery),
    Route("GET", "/api/clients/{client_id}", get_client, "A client with contacts and stats"),
    Route("PUT", "/api/clients/{client_id}", update_client, "Update a client", clients.ClientIn),
    Route(
        "POST",
        "/api/clients/{client_id}/deactivate",
        deactivate_client,
        "Deactivate (HR Admin)",
        DeactivateIn,
    ),
    Route("GET", "/api/clients/{client_id}/dashboard", client_dashboard, "The client dashboard"),
    Route(
        "POST",
        "/api/clients/{client_id}/communications",
        log_communication,
        "Log a communication",
        communications.CommunicationIn,
        success=201,
    ),
    Route(
        "GET",
        "/api/clients/{client_id}/communications",
        list_communications,
        "Communication history",
        query=HistoryQuery,
    ),
    Route(
        "POST",
        "/api/clients/{client_id}/communications/{comm_id}/attachments",
        upload_attachments,
        "Attach files (multipart/form-data, append-only)",
        success=201,
        files=True,
    ),
    Route(
        "POST",
        "/api/clients/{client_id}/feedback",
        submit_feedback,
        "Submit feedback (draft)",
        feedback.FeedbackIn,
        success=201,
    ),
    Route("GET", "/api/clients/{client_id}/feedback", list_feedback, "Feedback by period"),
    Route(
        "POST",
        "/api/clients/{client_id}/reports/performance",
        performance_report,
        "Performance report",
        ReportIn,
    ),
    Route("GET", "/api/clients/{client_id}/jobs", list_client_jobs, "Jobs with pipeline", query=PageQuery),
    Route("POST", "/api/clients/{client_id}/jobs/{job_id}", link_job, "Link a job", LinkIn, success=201),
    Route("DELETE", "/api/clients/{client_id}/jobs/{job_id}", unlink_job, "Unlink a job"),
    Route(
        "POST",
        "/api/jobs",
        create_job,
        "Create a job, or update the one with this reference (200)",
        jobs.JobIn,
        success=201,
    ),
    Route(
        "POST",
        "/api/candidates",
        create_candidate,
        "Create or find a candidate",
        pipeline.CandidateIn,
        success=201,
    ),
    Route(
        "POST",
        "/api/applications",
        create_application,
        "Add a candidate to a job, or update that application (200)",
        pipeline.ApplicationIn,
        success=201,
    ),
    Route(
        "PATCH",
        "/api/applications/{application_id}",
        update_application,
        "Move a stage, rate, offer",
        pipeline.ApplicationPatch,
    ),
    Route(
        "POST",
        "/api/privacy/export",
        privacy_export,
        "Everything held about a contact or candidate, by email (HR Admin; audited)",
        privacy.ExportIn,
    ),
    Route(
        "POST",
        "/api/privacy/erase",
        privacy_erase,
        "Redact a contact's or candidate's name, email and phone everywhere (HR Admin; audited)",
        privacy.EraseIn,
    ),
    Route(
        "GET", "/api/metrics", get_metrics, "The agency's success metrics (HR Manager)", query=MetricsQuery
    ),
]
