"""`clientbot serve --workers N`: N aiohttp processes under gunicorn (`aiohttp.GunicornWebWorker`) sharing
nothing but the database. The master migrates once, then forks; each worker builds its own Runtime, Bolt app
and web app. The scheduler runs in one worker at a time: the one holding a lock file named after the master
(another worker takes over within a minute when it exits); its runs are claimed in the database anyway."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import math
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from gunicorn.app.base import BaseApplication

from bot.config import Settings
from bot.runtime import Runtime

log = logging.getLogger("clientbot.workers")
SCHEDULER_RETRY = 60.0  # seconds between a worker's attempts to become the scheduler's


class Gunicorn(BaseApplication):
    """gunicorn configured from code, not from a file or its own command line."""

    def __init__(self, factory: Callable[[], Any], options: dict[str, Any]) -> None:
        self.factory, self.options = factory, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # control_socket_disable is new in gunicorn 27
                self.cfg.set(key, value)

    def load(self) -> Callable[[], Any]:
        return self.factory


def run(settings: Settings, workers: int) -> None:
    """Serve Slack, /api and /healthz from `workers` processes on PORT (blocks until gunicorn stops)."""

    async def factory() -> web.Application:
        return worker_app(settings)

    Gunicorn(
        factory,
        {
            "bind": f"0.0.0.0:{settings.port}",
            "workers": workers,
            "worker_class": "aiohttp.GunicornWebWorker",
            "timeout": 60,
            "graceful_timeout": math.ceil(settings.shutdown_grace),  # each worker drains its acked work
            "keepalive": 75,
            "proc_name": "clientbot",
            "control_socket_disable": True,  # one fixed path per user: two instances would collide
        },
    ).run()


def worker_app(settings: Settings) -> web.Application:
    from bot.app import create_bolt_app, create_web_app
    from bot.memory import settle_heap_on_startup

    rt = Runtime.from_settings(settings)
    web_app = create_web_app(rt, create_bolt_app(rt))
    lock = Path(tempfile.gettempdir()) / f"clientbot-scheduler-{os.getppid()}.lock"
    web_app.cleanup_ctx.append(lambda _app: scheduler_when_elected(rt, lock))
    web_app.on_startup.append(settle_heap_on_startup)  # after the render pool and the other start-ups
    return web_app


async def scheduler_when_elected(rt: Runtime, lock: Path) -> AsyncIterator[None]:
    """Run the scheduler in this worker while it holds `lock` (an exclusive flock, released by the kernel
    when the process exits), trying again every SCHEDULER_RETRY seconds while another worker holds it."""
    from bot.scheduler import build_scheduler

    held: list[Any] = []

    async def elect() -> None:
        handle = lock.open("a")
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                await asyncio.sleep(SCHEDULER_RETRY)
                continue
            scheduler = build_scheduler(rt)
            scheduler.start()
            held.append((handle, scheduler))  # the open file holds the lock
            log.info("worker %s runs the scheduler", os.getpid())
            return

    task = asyncio.create_task(elect())
    try:
        yield
    finally:
        task.cancel()
        for handle, scheduler in held:
            scheduler.shutdown(wait=False)
            handle.close()
