"""REST API: candidates and applications."""

from __future__ import annotations

import uuid

from aiohttp import web

from bot import api_models
from bot.api.common import ApiRequest, endpoint, ok
from bot.errors import NotFound
from bot.services import audit, pipeline
from bot.services.inputs import parse_input


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
