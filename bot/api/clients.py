"""REST API: clients (create, list, read, update, deactivate)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from bot import api_models
from bot.api.common import ApiRequest, _today, client_json, endpoint, ok
from bot.errors import ValidationFailed
from bot.models import ClientStatus
from bot.services import clients, health, users
from bot.services.analytics import client_job_analytics
from bot.services.inputs import parse_input


class ClientQuery(BaseModel):
    status: ClientStatus | None = None
    industry: str | None = Field(default=None, max_length=100)
    account_manager_id: str | None = None
    search: str | None = Field(default=None, max_length=200)
    sort_by: str = Field(
        default="name",
        max_length=30,
        description="name, client_code, created_at, status, industry, health (worst first, as of the "
        "nightly health snapshot); prefix - for descending",
    )
    health: Literal["healthy", "watch", "at-risk"] | None = Field(
        default=None, description="Only clients at this health level in the nightly snapshot"
    )
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
            health=filters.health,
        ),
        page=filters.page,
        per_page=filters.limit,
        tz=req.rt.settings.tz,
        viewer=req.actor,
        health_on=_today(req),
        thresholds=health.Thresholds.of(req.rt.settings),
    )
    summary = await clients.status_summary(req.session, viewer=req.actor)
    healths = page.health or {}
    return ok(
        {
            "clients": [_with_health(client_json(c), healths.get(c.id)) for c in page.clients],
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
    _with_health(data, (await _health(req, [client.id])).get(client.id))
    return ok(data, model=api_models.ClientOut)


async def _health(req: ApiRequest, client_ids: list[uuid.UUID]) -> dict[uuid.UUID, health.Health]:
    """Live health of clients the caller may see (`req.client()` checked that)."""
    thresholds = health.Thresholds.of(req.rt.settings)
    return await health.compute(req.session, client_ids, today=_today(req), thresholds=thresholds)


def _with_health(data: dict[str, Any], value: health.Health | None) -> dict[str, Any]:
    data["health"] = value.as_dict() if value else None
    return data


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


class DeactivateIn(BaseModel):
    reason: str = Field(min_length=1, max_length=1000)
    reason_details: str | None = Field(default=None, max_length=1000)
