"""A replica's life: ready, then draining (SIGTERM, or gunicorn stopping a worker), then gone.

While draining, `/readyz` answers 503 at once (the load balancer stops sending), `/healthz` stays 200
(liveness), new Slack and API requests get 503 (nothing new is acked: Slack retries an event elsewhere),
and the work already acked — listeners Bolt runs after `ack()`, scheduler runs — gets up to
CLIENTBOT_SHUTDOWN_GRACE seconds to finish. Whatever is still running then is cancelled (its transaction
rolls back, its scheduler lock and claims are released by their `finally`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

# Bolt (process_before_response=False) runs a listener's work after the ack in a task of this coroutine.
_BOLT_AFTER_ACK = "run_ack_function_asynchronously"
# Paths that keep answering while draining: probes and metrics.
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})


class Lifecycle:
    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.draining = False
        self._tracked: set[asyncio.Task[Any]] = set()
        self._drained: asyncio.Event | None = None

    def track(self, task: asyncio.Task[Any]) -> None:
        """Background work to finish before exit (scheduler runs, other fire-and-forget tasks)."""
        self._tracked.add(task)
        task.add_done_callback(self._tracked.discard)

    def in_flight(self) -> set[asyncio.Task[Any]]:
        current = asyncio.current_task()
        bolt = {
            t
            for t in asyncio.all_tasks()
            if not t.done() and _BOLT_AFTER_ACK in getattr(t.get_coro(), "__qualname__", "")
        }
        return {t for t in bolt | self._tracked if not t.done() and t is not current}

    async def drain(self) -> None:
        """Stop taking work, then wait for what was acked (at most `grace` seconds), then cancel the rest.
        Idempotent: the second caller (serve, then aiohttp's on_shutdown) waits for the first."""
        self.draining = True
        if self._drained is not None:
            await self._drained.wait()
            return
        self._drained = asyncio.Event()
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.grace
            while (pending := self.in_flight()) and (left := deadline - loop.time()) > 0:
                log.info("draining: waiting for %d task(s), %.0f s left", len(pending), left)
                await asyncio.wait(pending, timeout=min(left, 1.0))
            if pending := self.in_flight():
                log.warning("draining: grace period over, cancelling %d task(s)", len(pending))
                for task in pending:
                    task.cancel()
                await asyncio.wait(pending, timeout=5)
            log.info("drained: nothing in flight")
        finally:
            self._drained.set()


LIFECYCLE_KEY = web.AppKey("lifecycle", Lifecycle)


@web.middleware
async def refuse_while_draining(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.app[LIFECYCLE_KEY].draining and request.path not in PROBES:
        return web.json_response(
            {"error": "shutting_down", "detail": "This replica is shutting down; try again."},
            status=503,
            headers={"Retry-After": "1", "Connection": "close"},
        )
    return await handler(request)


async def drain_on_shutdown(web_app: web.Application) -> None:
    """aiohttp's on_shutdown: also what gunicorn's aiohttp worker runs when it is told to stop."""
    await web_app[LIFECYCLE_KEY].drain()
