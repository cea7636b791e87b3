"""REST API under /api for integrations: bearer tokens with roles, pydantic validation, JSON errors
`{"error": {"code", "message", "fields"}}`, never a 500 for bad input.

One module per feature (as in handlers/ and views/); this one wires them into the aiohttp app."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot.api import openapi
from bot.api.common import RUNTIME, error_response, log
from bot.api.routes import ROUTES
from bot.runtime import Runtime

__all__ = ["ROUTES", "RUNTIME", "add_routes", "error_response", "json_errors"]


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


def add_routes(app: web.Application, rt: Runtime) -> None:
    app[RUNTIME] = rt
    app.middlewares.append(json_errors)
    app.router.add_get("/api/openapi.json", openapi.openapi)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
