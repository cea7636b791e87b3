"""REST API: bulk operations."""

from __future__ import annotations

from aiohttp import web

from bot import api_models
from bot.api.common import ApiRequest, endpoint, ok
from bot.services import bulk


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
