"""REST API under /api for integrations: bearer tokens with roles, pydantic validation, JSON errors
`{"error": {"code", "message", "fields"}}`, never a 500 for bad input."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.exc import DataError, DBAPIError, SQLAlchemyError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import api_models, clock
from bot.errors import DomainError, NotFound, ValidationFailed
from bot.models import Client, ClientStatus, Job, User
from bot.runtime import Runtime
from bot.services import (
    api_tokens,
    audit,
    bulk,
    clients,
    communications,
    dashboard,
    feedback,
    jobs,
    pipeline,
    users,
)
from bot.services.analytics import client_job_analytics
from bot.services.inputs import parse_input
from bot.storage import ATTACHMENT_MAX_BYTES

log = logging.getLogger("clientbot.api")
RUNTIME = web.AppKey("api_runtime", Runtime)
Handler = Callable[["ApiRequest"], Awaitable[web.Response]]
MAX_BODY = 1024 * 1024


class Unauthorized(DomainError):
    code = "unauthorized"
    http_status = 401


def error_response(
    status: int, code: str, message: str, fields: dict[str, str] | None = None
) -> web.Response:
    """The contract's error body; `fields` is always there (empty when no field is to blame)."""
    body = {"error": {"code": code, "message": message, "fields": dict(fields or {})}}
    return web.json_response(body, status=status)


NUL_MESSAGE = "Must not contain NUL (\\u0000) characters."


def storable_year(year: int) -> bool:
    """Years 2 to 9998: a date there survives any UTC offset and still fits a database date."""
    return 1 < year < 9999


def strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in parsed JSON with its field path (`contacts.0.email`), keys included; iterative, so
    any nesting json.loads accepts is fine. A key's own path stands for the key."""
    pending: list[tuple[str, Any]] = [(path, value)]
    while pending:
        where, item = pending.pop()
        if isinstance(item, str):
            yield where or "body", item
        elif isinstance(item, dict):
            for key, child in item.items():
                name = (f"{where}.{key}" if where else str(key)).replace("\x00", "\\u0000")
                yield name, str(key)
                pending.append((name, child))
        elif isinstance(item, list):
            pending.extend(
                (f"{where}.{index}" if where else str(index), child) for index, child in enumerate(item)
            )


def nul_fields(value: Any) -> dict[str, str]:
    """Where `value` (parsed JSON, or a string) holds a NUL character, by field path.

    PostgreSQL cannot store U+0000 in text or JSON, so every string that reaches the API is checked here
    (path and query parameters in `endpoint`, JSON bodies in `ApiRequest.body`) instead of in each model."""
    return {where: NUL_MESSAGE for where, text in strings(value) if "\x00" in text}


def extreme_dates(value: Any) -> dict[str, str]:
    """Fields holding a date too near year 1 or 9999 to be stored in UTC."""
    found = {}
    for where, text in strings(value):
        try:
            moment = (
                datetime.fromisoformat(text.strip().replace("Z", "+00:00")) if 10 <= len(text) <= 40 else None
            )
        except ValueError:
            continue
        if moment is not None and not storable_year(moment.year):
            found[where] = "This date is out of range."
    return found


def check_no_nul(pairs: Iterable[tuple[str, Any]]) -> None:
    """A JSON body's items, or path and query parameters: 422 naming each field that holds a NUL."""
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.update(nul_fields({name: value}))
    if fields:
        raise ValidationFailed(fields, "Text must not contain NUL characters.")


def _json_default(value: Any) -> Any:
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def ok(data: Any, status: int = 200, model: type[BaseModel] | None = None) -> web.Response:
    """A JSON response; with `model`, the body is checked against (and shaped by) the response model."""
    if model is not None:
        data = model.model_validate(data).model_dump(mode="json")
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=_json_default))


class ApiRequest:
    """One API call: its session, acting user and parsed JSON body."""

    def __init__(self, request: web.Request, session: AsyncSession, actor: User) -> None:
        self.request, self.session, self.actor = request, session, actor
        self.rt: Runtime = request.app[RUNTIME]
        self.parsed: dict[str, Any] | None = None

    async def body(self) -> dict[str, Any]:
        if self.request.content_length and self.request.content_length > MAX_BODY:
            raise ApiError(413, "too_large", "The request body is larger than 1 MB.")
        try:
            data = json.loads(await self.request.read() or b"{}")
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise ApiError(400, "bad_json", "The body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise ApiError(400, "bad_json", "The body must be a JSON object.")
        check_no_nul(data.items())
        self.parsed = data
        return data

    def param(self, name: str) -> str:
        return self.request.match_info[name]

    async def client(self) -> Client:
        return await clients.find_exact(self.session, self.param("client_id"))


def out_of_range(error: BaseException) -> bool:
    """A value the database or a column type cannot hold (a date that overflows when turned to UTC, data
    PostgreSQL refuses): bad input, whichever model let it through, so 422 and never 500."""
    if isinstance(error, StatementError) and not isinstance(error, DBAPIError):
        return isinstance(error.orig, OverflowError)
    return isinstance(error, OverflowError | DataError)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def endpoint(func: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Authenticate, open one unit of work, run `func`, and turn every known failure into a JSON error."""

    async def handle(request: web.Request) -> web.Response:
        rt: Runtime = request.app[RUNTIME]
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        call: ApiRequest | None = None
        try:
            async with rt.db.session() as session:
                actor = await api_tokens.authenticate(session, token.strip()) if scheme == "Bearer" else None
                if actor is None:
                    raise Unauthorized("A valid bearer token is required (clientbot api-token create).")
                check_no_nul([*request.match_info.items(), *request.query.items()])
                call = ApiRequest(request, session, actor)
                return await func(call)
        except (OverflowError, StatementError) as error:
            if not out_of_range(error):
                raise
            fields = extreme_dates(call.parsed) if call is not None else {}
            return error_response(
                422,
                "validation_failed",
                "A value is out of range.",
                fields or {"body": "A value is out of range."},
            )
        except ValidationFailed as error:
            return error_response(422, error.code, str(error), error.fields)
        except DomainError as error:
            return error_response(error.http_status, error.code, str(error))
        except ApiError as error:
            return error_response(error.status, error.code, str(error))

    handle.__name__ = func.__name__
    return handle


def client_json(client: Client, *, details: bool = False) -> dict[str, Any]:
    data = audit.snapshot(client, exclude=("name_normalized", "website_domain"))
    if details:
        data["contacts"] = [
            audit.snapshot(c, exclude=("email_domain", "client_id")) for c in client.contacts if c.is_active
        ]
    return data


def job_json(job: Job) -> dict[str, Any]:
    return audit.snapshot(job)


class ClientQuery(BaseModel):
    status: ClientStatus | None = None
    industry: str | None = Field(default=None, max_length=100)
    account_manager_id: str | None = None
    search: str | None = Field(default=None, max_length=200)
    sort_by: str = Field(
        default="name",
        max_length=30,
        description="name, client_code, created_at, status, industry; prefix - for descending",
    )
    page: int = Field(default=1, ge=1, le=100000)
    limit: int = Field(default=20, ge=1, le=100)


class PageQuery(BaseModel):
    page: int = Field(default=1, ge=1, le=100000)
    limit: int = Field(default=20, ge=1, le=100)


@endpoint
async def create_client(req: ApiRequest) -> web.Response:
    body = await req.body()
    confirm = bool(body.pop("confirm_duplicate", False))
    data = clients.parse_client(body)
    client = await clients.create(
        req.session, actor=req.actor, data=data, confirm_duplicate=confirm, tz=req.rt.settings.tz
    )
    return ok(client_json(client, details=True), 201, model=api_models.ClientOut)


@endpoint
async def list_clients(req: ApiRequest) -> web.Response:
    query = req.request.query
    filters = parse_input(ClientQuery, dict(query))
    manager = None
    if filters.account_manager_id:
        manager = await users.by_reference(req.session, filters.account_manager_id)
        if manager is None:
            raise ValidationFailed({"account_manager_id": "No such user."})
    page = await clients.list_clients(
        req.session,
        filters=clients.ClientFilter(
            status=filters.status,
            industry=filters.industry,
            account_manager_id=manager.id if manager else None,
            search=filters.search,
            sort_by=filters.sort_by,
        ),
        page=filters.page,
        per_page=filters.limit,
        tz=req.rt.settings.tz,
    )
    summary = await clients.status_summary(req.session)
    return ok(
        {
            "clients": [client_json(c) for c in page.clients],
            "pagination": {
                "page": page.page,
                "limit": page.per_page,
                "total": page.total,
                "pages": page.pages,
            },
            "summary": summary,
        },
        model=api_models.ClientListOut,
    )


@endpoint
async def get_client(req: ApiRequest) -> web.Response:
    client = await req.client()
    data = client_json(client, details=True)
    data["stats"] = (await client_job_analytics(req.session, client.id)).as_dict()
    return ok(data, model=api_models.ClientOut)


@endpoint
async def update_client(req: ApiRequest) -> web.Response:
    client = await req.client()
    data = clients.parse_client(await req.body())
    updated = await clients.update(req.session, actor=req.actor, client_id=client.id, data=data)
    return ok(client_json(updated, details=True), model=api_models.ClientOut)


@endpoint
async def deactivate_client(req: ApiRequest) -> web.Response:
    client = await req.client()
    body = parse_input(DeactivateIn, await req.body())
    reason = " — ".join(part for part in (body.reason, body.reason_details) if part)
    updated = await clients.deactivate(req.session, actor=req.actor, client_id=client.id, reason=reason)
    return ok(client_json(updated), model=api_models.ClientOut)


@endpoint
async def create_job(req: ApiRequest) -> web.Response:
    data = jobs.parse_job(await req.body())
    job, created = await jobs.upsert_job(req.session, actor=req.actor, data=data, tz=req.rt.settings.tz)
    return ok(
        {"id": job.id, "reference": job.reference, **job_json(job)},
        201 if created else 200,
        model=api_models.JobOut,
    )


@endpoint
async def create_candidate(req: ApiRequest) -> web.Response:
    data = parse_input(pipeline.CandidateIn, await req.body())
    candidate, created = await pipeline.upsert_candidate(req.session, actor=req.actor, data=data)
    return ok(audit.snapshot(candidate), 201 if created else 200, model=api_models.CandidateOut)


@endpoint
async def create_application(req: ApiRequest) -> web.Response:
    data = parse_input(pipeline.ApplicationIn, await req.body())
    application, created = await pipeline.upsert_application(req.session, actor=req.actor, data=data)
    return ok(audit.snapshot(application), 201 if created else 200, model=api_models.ApplicationOut)


@endpoint
async def update_application(req: ApiRequest) -> web.Response:
    try:
        application_id = uuid.UUID(req.param("application_id"))
    except ValueError:
        raise NotFound("No such application.") from None
    patch = parse_input(pipeline.ApplicationPatch, await req.body())
    application = await pipeline.update_application(
        req.session, actor=req.actor, application_id=application_id, patch=patch
    )
    return ok(audit.snapshot(application), model=api_models.ApplicationOut)


@endpoint
async def link_job(req: ApiRequest) -> web.Response:
    client = await req.client()
    body = parse_input(LinkIn, await req.body() if req.request.can_read_body else {})
    job = await jobs.get_job(req.session, req.param("job_id"))
    result = await jobs.link_jobs(
        req.session,
        actor=req.actor,
        client_id=client.id,
        references=[job.reference],
        move=body.move,
    )
    if result.conflicts:
        reference, other = result.conflicts[0]
        return error_response(
            409, "conflict", f'{reference} is linked to {other}; send {{"move": true}} to move it.'
        )
    return ok(
        {"client_id": client.id, "job_id": job.id, "reference": job.reference, "linked": bool(result.linked)},
        201 if result.linked else 200,
        model=api_models.LinkOut,
    )


@endpoint
async def unlink_job(req: ApiRequest) -> web.Response:
    client = await req.client()
    job = await jobs.unlink_job(
        req.session, actor=req.actor, client_id=client.id, reference=req.param("job_id")
    )
    return ok(
        {"client_id": client.id, "job_id": job.id, "reference": job.reference, "linked": False},
        model=api_models.LinkOut,
    )


@endpoint
async def list_client_jobs(req: ApiRequest) -> web.Response:
    client = await req.client()
    query = parse_input(PageQuery, dict(req.request.query))
    page = await jobs.client_jobs(req.session, client_id=client.id, page=query.page, per_page=query.limit)
    return ok(
        {
            "jobs": [job_json(row.job) | {"pipeline": row.pipeline} for row in page.rows],
            "pagination": {"page": page.page, "limit": query.limit, "total": page.total, "pages": page.pages},
            "analytics": (await client_job_analytics(req.session, client.id)).as_dict(),
        },
        model=api_models.JobListOut,
    )


@endpoint
async def bulk_operations(req: ApiRequest) -> web.Response:
    data = bulk.parse_bulk(await req.body())
    await req.session.commit()  # the token's account must be visible to the per-client transactions
    results = await bulk.run(req.rt.db, actor_id=req.actor.id, data=data)
    return ok(
        {
            "operation": data.operation,
            "dry_run": data.dry_run,
            "results": [r.as_dict() for r in results],
            "summary": {"ok": sum(r.ok for r in results), "failed": sum(not r.ok for r in results)},
        },
        model=api_models.BulkOut,
    )


class DeactivateIn(BaseModel):
    reason: str = Field(min_length=1, max_length=1000)
    reason_details: str | None = Field(default=None, max_length=1000)


class LinkIn(BaseModel):
    move: bool = False


class HistoryQuery(BaseModel):
    type: str | None = Field(default=None, max_length=100, description="comma-separated: meeting,call,...")
    important: bool = False
    followup: bool = False
    job: str | None = Field(default=None, max_length=50)
    date_from: date | None = Field(default=None, alias="from")
    date_to: date | None = Field(default=None, alias="to")
    q: str | None = Field(default=None, max_length=200)
    page: int = Field(default=1, ge=1, le=100000)
    limit: int = Field(default=20, ge=1, le=100)

    @field_validator("date_from", "date_to")
    @classmethod
    def _storable(cls, value: date | None) -> date | None:
        if value is not None and not storable_year(value.year):
            raise ValueError("This date is out of range.")
        return value


class ReportIn(BaseModel):
    period: str | None = Field(default=None, pattern=r"^\d{4}-Q[1-4]$")
    vs: str | None = Field(default=None, pattern=r"^\d{4}-Q[1-4]$")


def _today(req: ApiRequest) -> date:
    return clock.today(req.rt.settings.tz)


@endpoint
async def client_dashboard(req: ApiRequest) -> web.Response:
    client = await req.client()
    board = await dashboard.build(req.session, actor=req.actor, client_id=client.id, today=_today(req))
    return ok(
        {
            "client": client_json(client, details=True),
            "metrics": board.stats.as_dict(),
            "follow_ups": [audit.snapshot(r) for r in board.follow_ups],
            "timeline": [{"at": i.at, "kind": i.kind, "text": i.text} for i in board.timeline],
            "hires_by_month": dict(board.hires_by_month),
        },
        model=api_models.DashboardOut,
    )


@endpoint
async def log_communication(req: ApiRequest) -> web.Response:
    client = await req.client()
    data = communications.parse_communication(await req.body())
    record = await communications.log(
        req.session, actor=req.actor, client_id=client.id, data=data, source="api"
    )
    return ok(audit.snapshot(record), 201, model=api_models.CommunicationOut)


async def _read_files(request: web.Request) -> list[communications.IncomingFile]:
    files = []
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not getattr(part, "filename", None):
            continue
        check_no_nul([("file", part.filename)])
        content = await part.read_chunk(ATTACHMENT_MAX_BYTES + 1)
        while len(content) <= ATTACHMENT_MAX_BYTES and (chunk := await part.read_chunk()):
            content += chunk
        if len(content) > ATTACHMENT_MAX_BYTES:
            raise ApiError(413, "too_large", f"{part.filename} is larger than 10 MB.")
        files.append(communications.IncomingFile(name=part.filename, content=content))
        if len(files) > communications.MAX_ATTACHMENTS:
            raise ValidationFailed({"attachments": "At most 10 files."})
    return files


@endpoint
async def upload_attachments(req: ApiRequest) -> web.Response:
    """multipart/form-data, one or more `file` parts, each at most 10 MB, judged by content."""
    client = await req.client()
    try:
        comm_id = uuid.UUID(req.param("comm_id"))
    except ValueError:
        raise NotFound("No such communication.") from None
    if not req.request.content_type.startswith("multipart/"):
        raise ApiError(415, "unsupported_media_type", "Send the files as multipart/form-data.")
    try:
        files = await _read_files(req.request)
    except (HttpProcessingError, ValueError, LookupError):
        raise ApiError(400, "bad_multipart", "The multipart/form-data body is malformed.") from None
    record, owner = await communications.get(req.session, actor=req.actor, communication_id=comm_id)
    if owner.id != client.id:
        raise NotFound("No such communication for this client.")
    record = await communications.add_attachments(
        req.session, req.rt.storage, actor=req.actor, communication_id=comm_id, files=files
    )
    return ok({"id": record.id, "attachments": record.attachments}, 201, model=api_models.AttachmentsOut)


@endpoint
async def list_communications(req: ApiRequest) -> web.Response:
    client = await req.client()
    query = parse_input(HistoryQuery, dict(req.request.query))
    types = []
    for name in (query.type or "").split(","):
        if name.strip():
            kind = communications.TYPE_ALIASES.get(name.strip().lower())
            if kind is None:
                raise ValidationFailed({"type": f"Unknown type {name!r}."})
            types.append(kind)
    filters = communications.HistoryFilter(
        types=types,
        important=query.important,
        follow_up=query.followup,
        job_reference=query.job,
        date_from=query.date_from,
        date_to=query.date_to,
        text=query.q,
    )
    page = await communications.history(
        req.session,
        actor=req.actor,
        client_id=client.id,
        filters=filters,
        page=query.page,
        per_page=query.limit,
        tz=req.rt.settings.tz,
    )
    return ok(
        {
            "communications": [
                audit.snapshot(e.record) | {"job_reference": e.job_reference} for e in page.entries
            ],
            "pagination": {"page": page.page, "limit": query.limit, "total": page.total, "pages": page.pages},
        },
        model=api_models.CommunicationListOut,
    )


@endpoint
async def submit_feedback(req: ApiRequest) -> web.Response:
    client = await req.client()
    data = feedback.parse_feedback(await req.body())
    row, created = await feedback.submit(
        req.session, actor=req.actor, client_id=client.id, data=data, today=_today(req)
    )
    return ok(audit.snapshot(row), 201 if created else 200, model=api_models.FeedbackOut)


@endpoint
async def list_feedback(req: ApiRequest) -> web.Response:
    client = await req.client()
    periods = await feedback.by_period(req.session, actor=req.actor, client_id=client.id)
    return ok(
        {
            "periods": [
                {
                    "period": s.period,
                    "responses": s.responses,
                    "averages": s.averages,
                    "finalized": s.finalized,
                }
                for s in periods
            ]
        },
        model=api_models.FeedbackListOut,
    )


@endpoint
async def performance_report(req: ApiRequest) -> web.Response:
    client = await req.client()
    body = parse_input(ReportIn, await req.body())
    report = await feedback.report(
        req.session, actor=req.actor, client_id=client.id, period=body.period, vs=body.vs, today=_today(req)
    )
    assert report.period is not None and report.compared is not None
    return ok(
        {
            "client_code": client.client_code,
            "period": report.period.period,
            "compared_with": report.compared.period,
            "averages": report.period.averages,
            "compared_averages": report.compared.averages,
            "deltas": report.deltas,
            "finalized": report.period.finalized,
            "written_feedback": report.period.written,
            "trend": [{"period": s.period, "averages": s.averages} for s in report.periods],
        },
        model=api_models.PerformanceReportOut,
    )


async def database_unavailable(rt: Runtime, error: BaseException) -> bool:
    """A failure that could come from the database, while the database does not answer the same ping
    `/healthz` uses: an outage (503), not a bug (500)."""
    could_be_database = isinstance(error, SQLAlchemyError | OSError)  # OSError: refused, reset, timeout
    return could_be_database and not await rt.db.ping()


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Under /api, aiohttp's own errors (404, 405, 413) and crashes answer in the API's error shape too."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return error_response(error.status, error.reason.lower().replace(" ", "_"), error.reason)
    except Exception as error:
        if await database_unavailable(request.app[RUNTIME], error):
            log.error("API call while the database is unreachable: %s", error)
            return error_response(
                503, "database_unavailable", "The client database can't be reached right now; try again soon."
            )
        ref = uuid.uuid4().hex[:8]
        log.exception("API error ref=%s", ref)
        return error_response(500, "internal", f"Something went wrong on our side (ref {ref}).")


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
]

RESPONSES: dict[str, type[BaseModel]] = {
    "create_client": api_models.ClientOut,
    "list_clients": api_models.ClientListOut,
    "get_client": api_models.ClientOut,
    "update_client": api_models.ClientOut,
    "deactivate_client": api_models.ClientOut,
    "client_dashboard": api_models.DashboardOut,
    "log_communication": api_models.CommunicationOut,
    "list_communications": api_models.CommunicationListOut,
    "upload_attachments": api_models.AttachmentsOut,
    "submit_feedback": api_models.FeedbackOut,
    "list_feedback": api_models.FeedbackListOut,
    "performance_report": api_models.PerformanceReportOut,
    "list_client_jobs": api_models.JobListOut,
    "link_job": api_models.LinkOut,
    "unlink_job": api_models.LinkOut,
    "create_job": api_models.JobOut,
    "create_candidate": api_models.CandidateOut,
    "create_application": api_models.ApplicationOut,
    "update_application": api_models.ApplicationOut,
    "bulk_operations": api_models.BulkOut,
}

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        }
    },
}

UPLOAD_SCHEMA = {
    "type": "object",
    "properties": {
        "file": {
            "type": "array",
            "items": {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"},
            "maxItems": communications.MAX_ATTACHMENTS,
            "description": "One part per file, each at most 10 MB; the type is judged by the content.",
        }
    },
    "required": ["file"],
}


def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.1 from the routes' pydantic models."""
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    errors = {
        str(code): {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for code, text in (
            (400, "bad request"),
            (401, "no or bad token"),
            (403, "role too low"),
            (404, "not found"),
            (409, "conflict"),
            (413, "body or file too large"),
            (415, "unsupported media type"),
            (422, "invalid fields"),
            (503, "database unavailable"),
        )
    }
    for route in ROUTES:
        operation: dict[str, Any] = {
            "summary": route.summary,
            "operationId": route.handler.__name__,
            "security": [{"bearer": []}],
            "responses": {
                str(route.success): {
                    "description": "success",
                    "content": {"application/json": {"schema": ref(RESPONSES[route.handler.__name__])}},
                },
                **{
                    code: response
                    for code, response in errors.items()
                    if (code != "413" or route.body or route.files) and (code != "415" or route.files)
                },
            },
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in re.findall(r"{(\w+)}", route.path)
            ],
        }
        if route.query is not None:
            for name, prop in route.query.model_json_schema(by_alias=True)["properties"].items():
                operation["parameters"].append(
                    {"name": name, "in": "query", "required": False, "schema": prop}
                )
        if route.files:
            operation["requestBody"] = {
                "required": True,
                "content": {"multipart/form-data": {"schema": UPLOAD_SCHEMA}},
            }
        if route.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(route.body)}},
            }
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "clientbot API",
            "version": "1.0.0",
            "description": "Client management for recruitment agencies; tokens: clientbot api-token create.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


async def openapi(_request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def add_routes(app: web.Application, rt: Runtime) -> None:
    app[RUNTIME] = rt
    app.middlewares.append(json_errors)
    app.router.add_get("/api/openapi.json", openapi)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
