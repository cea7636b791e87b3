"""REST API under /api for integrations: bearer tokens with roles, pydantic validation, JSON errors
`{"error": {"code", "message", "fields"}}`, never a 500 for bad input.

One module per feature (as in handlers/ and views/); this one wires them into the aiohttp app."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from bot.api import openapi
from bot.api.common import RUNTIME, error_response, log
from bot.api.routes import ROUTES
from bot.runtime import Runtime

__all__ = ["ROUTES", "RUNTIME", "add_routes", "error_response", "json_errors"]


# SQLSTATEs that mean the connection or the server went away, not that the query was wrong: class 08
# (connection exception) and 57P01-57P03 (admin shutdown, e.g. pg_terminate_backend; crash shutdown;
# cannot connect now). https://www.postgresql.org/docs/current/errcodes-appendix.html
LOST_CONNECTION_STATES = ("08", "57P01", "57P02", "57P03")


def connection_lost(error: BaseException) -> bool:
    """The driver says the request's connection died under it (a killed backend, a failover, a dropped
    socket): SQLAlchemy flags it `connection_invalidated` from the dialect's own disconnect check, and the
    SQLSTATE names it where the driver gives one."""
    if not isinstance(error, DBAPIError):
        return False
    state = str(getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None) or "")
    return error.connection_invalidated or state.startswith(LOST_CONNECTION_STATES)


async def database_unavailable(rt: Runtime, error: BaseException) -> bool:
    """A failure that comes from the database going away: the request's connection was lost, or the
    database does not answer the same ping `/healthz` uses. An outage (503, try again), not a bug (500)."""
    if connection_lost(error):
        return True
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
