"""REST API: jobs (create or update by reference, link, unlink, a client's jobs)."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from bot import api_models
from bot.api.common import ApiRequest, endpoint, error_response, job_json, ok
from bot.services import jobs
from bot.services.analytics import client_job_analytics
from bot.services.inputs import parse_input


class PageQuery(BaseModel):
    page: int = Field(default=1, ge=1, le=100000)
    limit: int = Field(default=20, ge=1, le=100)


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


class LinkIn(BaseModel):
    move: bool = False
