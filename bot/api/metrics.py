"""REST API: the agency's success metrics (HR Managers and Admins)."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from bot import api_models
from bot.api.common import ApiRequest, endpoint, ok
from bot.services import metrics
from bot.services.inputs import parse_input


class MetricsQuery(BaseModel):
    period: str | None = Field(
        default=None,
        max_length=10,
        description="A quarter (2026-Q3) or a month (2026-11); default: this quarter",
    )


@endpoint
async def get_metrics(req: ApiRequest) -> web.Response:
    query = parse_input(MetricsQuery, dict(req.request.query))
    figures = await metrics.build(req.session, actor=req.actor, period=query.period, tz=req.rt.settings.tz)
    return ok(figures.as_dict(), model=api_models.MetricsOut)
