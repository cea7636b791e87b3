"""Every periodic job, as a named async function, run by one APScheduler `AsyncIOScheduler` started
with the app. On PostgreSQL a job runs under an advisory lock, so replicas never run it twice at once;
each job is idempotent for its period on its own."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import text

from bot.runtime import Runtime
from bot.services import dashboard

log = logging.getLogger("clientbot.scheduler")
JobFunction = Callable[[Runtime, datetime], Awaitable[str]]


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    description: str
    run: JobFunction
    cron: dict[str, Any]


async def nightly_analytics(rt: Runtime, now: datetime) -> str:
    """At local midnight: one client_analytics row per client for the day that just ended."""
    day = (now.astimezone(rt.settings.tz) - timedelta(minutes=5)).date()
    async with rt.db.session() as session:
        count = await dashboard.snapshot_all(session, day)
    return f"snapshot of {count} clients for {day}"


JOBS = {
    job.name: job
    for job in [
        ScheduledJob(
            "nightly_analytics", "per-client analytics snapshot", nightly_analytics, {"hour": 0, "minute": 0}
        ),
    ]
}


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"clientbot:{name}".encode()).digest()[:8], "big", signed=True)


async def run_job(rt: Runtime, name: str, now: datetime | None = None) -> str:
    """Run one job now. On PostgreSQL, a replica already running it makes this one skip."""
    job = JOBS[name]
    now = now or datetime.now(rt.settings.tz)
    if not rt.db.is_postgres:
        return await job.run(rt, now)
    async with rt.db.engine.connect() as lock:
        got = (
            await lock.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": _lock_key(name)})
        ).scalar()
        if not got:
            return "skipped: running elsewhere"
        try:
            return await job.run(rt, now)
        finally:
            await lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _lock_key(name)})


def build_scheduler(rt: Runtime) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=rt.settings.tz)
    for job in JOBS.values():

        async def fire(name: str = job.name) -> None:
            try:
                log.info("%s: %s", name, await run_job(rt, name))
            except Exception:
                log.exception("scheduled job %s failed", name)

        scheduler.add_job(
            fire,
            CronTrigger(timezone=rt.settings.tz, **job.cron),
            id=job.name,
            name=job.description,
            coalesce=True,
            misfire_grace_time=3600,
            replace_existing=True,
        )
    return scheduler
