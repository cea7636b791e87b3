"""REST API under /api for integrations: bearer tokens with roles, pydantic validation, JSON errors
`{"error": {"code", "message", "fields"}}`, never a 500 for bad input."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import DomainError, NotFound, ValidationFailed
from bot.models import Client, ClientStatus, Job, User
from bot.runtime import Runtime
from bot.services import api_tokens, audit, bulk, clients, jobs, pipeline, users
from bot.services.analytics import client_job_analytics
from bot.services.inputs import parse_input

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
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return web.json_response(body, status=status)


def _json_default(value: Any) -> Any:
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=_json_default))


class ApiRequest:
    """One API call: its session, acting user and parsed JSON body."""

    def __init__(self, request: web.Request, session: AsyncSession, actor: User) -> None:
        self.request, self.session, self.actor = request, session, actor
        self.rt: Runtime = request.app[RUNTIME]

    async def body(self) -> dict[str, Any]:
        if self.request.content_length and self.request.content_length > MAX_BODY:
            raise ApiError(413, "too_large", "The request body is larger than 1 MB.")
        try:
            data = json.loads(await self.request.read() or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "bad_json", "The body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise ApiError(400, "bad_json", "The body must be a JSON object.")
        return data

    def param(self, name: str) -> str:
        return self.request.match_info[name]

    async def client(self) -> Client:
        return await clients.find_exact(self.session, self.param("client_id"))


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def endpoint(func: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Authenticate, open one unit of work, run `func`, and turn every known failure into a JSON error."""

    async def handle(request: web.Request) -> web.Response:
        rt: Runtime = request.app[RUNTIME]
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        try:
            async with rt.db.session() as session:
                actor = await api_tokens.authenticate(session, token.strip()) if scheme == "Bearer" else None
                if actor is None:
                    raise Unauthorized("A valid bearer token is required (clientbot api-token create).")
                return await func(ApiRequest(request, session, actor))
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
    sort_by: str | None = None
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
    return ok(client_json(client, details=True), 201)


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
        }
    )


@endpoint
async def get_client(req: ApiRequest) -> web.Response:
    client = await req.client()
    data = client_json(client, details=True)
    data["stats"] = (await client_job_analytics(req.session, client.id)).as_dict()
    return ok(data)


@endpoint
async def update_client(req: ApiRequest) -> web.Response:
    client = await req.client()
    data = clients.parse_client(await req.body())
    updated = await clients.update(req.session, actor=req.actor, client_id=client.id, data=data)
    return ok(client_json(updated, details=True))


@endpoint
async def deactivate_client(req: ApiRequest) -> web.Response:
    client = await req.client()
    body = await req.body()
    reason = " — ".join(str(body[k]) for k in ("reason", "reason_details") if body.get(k))
    updated = await clients.deactivate(req.session, actor=req.actor, client_id=client.id, reason=reason)
    return ok(client_json(updated))


@endpoint
async def create_job(req: ApiRequest) -> web.Response:
    data = jobs.parse_job(await req.body())
    job = await jobs.create_job(req.session, actor=req.actor, data=data, tz=req.rt.settings.tz)
    return ok({"id": job.id, "reference": job.reference, **job_json(job)}, 201)


@endpoint
async def create_candidate(req: ApiRequest) -> web.Response:
    data = parse_input(pipeline.CandidateIn, await req.body())
    candidate, created = await pipeline.upsert_candidate(req.session, actor=req.actor, data=data)
    return ok(audit.snapshot(candidate), 201 if created else 200)


@endpoint
async def create_application(req: ApiRequest) -> web.Response:
    data = parse_input(pipeline.ApplicationIn, await req.body())
    application = await pipeline.create_application(req.session, actor=req.actor, data=data)
    return ok(audit.snapshot(application), 201)


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
    return ok(audit.snapshot(application))


@endpoint
async def link_job(req: ApiRequest) -> web.Response:
    client = await req.client()
    body = await req.body() if req.request.can_read_body else {}
    job = await jobs.get_job(req.session, req.param("job_id"))
    result = await jobs.link_jobs(
        req.session,
        actor=req.actor,
        client_id=client.id,
        references=[job.reference],
        move=bool(body.get("move")),
    )
    if result.conflicts:
        reference, other = result.conflicts[0]
        return error_response(
            409, "conflict", f'{reference} is linked to {other}; send {{"move": true}} to move it.'
        )
    return ok(
        {"client_id": client.id, "job_id": job.id, "reference": job.reference, "linked": bool(result.linked)},
        201 if result.linked else 200,
    )


@endpoint
async def unlink_job(req: ApiRequest) -> web.Response:
    client = await req.client()
    job = await jobs.unlink_job(
        req.session, actor=req.actor, client_id=client.id, reference=req.param("job_id")
    )
    return ok({"client_id": client.id, "job_id": job.id, "reference": job.reference, "linked": False})


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
        }
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
        }
    )


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
    except Exception:
        ref = uuid.uuid4().hex[:8]
        log.exception("API error ref=%s", ref)
        return error_response(500, "internal", f"Something went wrong on our side (ref {ref}).")


def add_routes(app: web.Application, rt: Runtime) -> None:
    app[RUNTIME] = rt
    app.middlewares.append(json_errors)
    router = app.router
    router.add_post("/api/clients/bulk-operations", bulk_operations)
    router.add_post("/api/clients", create_client)
    router.add_get("/api/clients", list_clients)
    router.add_get("/api/clients/{client_id}", get_client)
    router.add_put("/api/clients/{client_id}", update_client)
    router.add_post("/api/clients/{client_id}/deactivate", deactivate_client)
    router.add_get("/api/clients/{client_id}/jobs", list_client_jobs)
    router.add_post("/api/clients/{client_id}/jobs/{job_id}", link_job)
    router.add_delete("/api/clients/{client_id}/jobs/{job_id}", unlink_job)
    router.add_post("/api/jobs", create_job)
    router.add_post("/api/candidates", create_candidate)
    router.add_post("/api/applications", create_application)
    router.add_patch("/api/applications/{application_id}", update_application)
