"""REST API: the client dashboard."""

from __future__ import annotations

from aiohttp import web

from bot import api_models
from bot.api.common import ApiRequest, _today, client_json, endpoint, ok
from bot.services import audit, dashboard


@endpoint
async def client_dashboard(req: ApiRequest) -> web.Response:
    client = await req.client()
    board = await dashboard.build(req.session, actor=req.actor, client=client, today=_today(req))
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
