"""Every periodic job, as a named async function, run by one APScheduler `AsyncIOScheduler` started
with the app. On PostgreSQL a job runs under an advisory lock, so replicas never run it twice at once;
each job is idempotent for its period on its own."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from bot import reports
from bot.app import slack_client
from bot.models import ScheduledRun, User, utcnow
from bot.runtime import Runtime
from bot.services import communications, dashboard, deliveries, digest, feedback
from bot.services.periods import last_completed_quarter
from views import communications as comm_views
from views import digest as digest_views
from views import feedback as feedback_views

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
        await deliveries.forget_old(session)
    return f"snapshot of {count} clients for {day}"


def first_working_day_of_quarter(day: date) -> bool:
    """Monday to Friday, the first such day of January, April, July or October."""
    if day.month not in (1, 4, 7, 10) or day.weekday() >= 5:
        return False
    return all((day - timedelta(days=n)).weekday() >= 5 for n in range(1, day.day))


async def claim(rt: Runtime, job: str, period_key: str) -> bool:
    """Record that `job` runs for `period_key`; False when it already did (here, after a restart, or on
    another replica). Committed before any message goes out."""
    try:
        async with rt.db.session() as session:
            session.add(ScheduledRun(job=job, period_key=period_key))
    except IntegrityError:
        return False
    return True


async def _finish(rt: Runtime, job: str, period_key: str, result: str) -> str:
    async with rt.db.session() as session:
        await session.execute(
            update(ScheduledRun)
            .where(ScheduledRun.job == job, ScheduledRun.period_key == period_key)
            .values(finished_at=utcnow(), result=result)
        )
    return result


async def quarterly_feedback_reminder(rt: Runtime, now: datetime) -> str:
    """On the first working day of a quarter: DM each account manager their active clients without
    feedback for the quarter just ended, one button per client; a summary goes to the digest channel. Once."""
    today = now.astimezone(rt.settings.tz).date()
    if not first_working_day_of_quarter(today):
        return f"{today} is not the first working day of a quarter"
    period = last_completed_quarter(today)
    if not await claim(rt, "quarterly_feedback_reminder", period):
        return f"reminders for {period} were already sent"
    async with rt.db.session() as session:
        due = await feedback.reminders_due(session, period=period)
        managers = {u.id: u for u in await session.scalars(select(User).where(User.id.in_(due)))}
    client = slack_client(rt)
    sent: dict[str, int] = {}
    for manager_id, clients_due in due.items():
        manager = managers[manager_id]
        if manager.slack_user_id.startswith(("api:", "cli:", "email:")):
            continue
        channel = (await client.conversations_open(users=manager.slack_user_id))["channel"]["id"]
        await client.chat_postMessage(channel=channel, **feedback_views.reminder_message(period, clients_due))
        sent[manager.slack_user_id] = len(clients_due)
    if rt.settings.digest_channel and sent:
        await client.chat_postMessage(
            channel=rt.settings.digest_channel, **feedback_views.reminder_summary(period, sent)
        )
    result = f"reminded {len(sent)} manager(s) about {sum(sent.values())} client(s) for {period}"
    return await _finish(rt, "quarterly_feedback_reminder", period, result)


async def feedback_retention(rt: Runtime, now: datetime) -> str:
    """Monthly: remove feedback older than CLIENTBOT_FEEDBACK_RETENTION_YEARS (5 by default)."""
    years = rt.settings.feedback_retention_years
    today = now.astimezone(rt.settings.tz).date()
    async with rt.db.session() as session:
        removed = await feedback.purge_older_than(session, years=years, today=today)
    log.info("feedback retention: removed %s row(s) older than %s years", removed, years)
    return f"removed {removed} feedback row(s) older than {years} years"


async def follow_up_nudges(rt: Runtime, now: datetime) -> str:
    """Each morning: DM whoever logged a communication whose follow-up is due today or overdue."""
    today = now.astimezone(rt.settings.tz).date()
    if not await claim(rt, "follow_up_nudges", today.isoformat()):
        return f"nudges for {today} were already sent"
    async with rt.db.session() as session:
        due = await communications.open_follow_ups(session, today=today)
        people = {u.id: u for u in await session.scalars(select(User).where(User.id.in_(due)))}
    client = slack_client(rt)
    sent = 0
    for user_id, items in due.items():
        person = people[user_id]
        if person.slack_user_id.startswith(("api:", "cli:", "email:")):
            continue
        channel = (await client.conversations_open(users=person.slack_user_id))["channel"]["id"]
        await client.chat_postMessage(channel=channel, **comm_views.nudge_message(items, today))
        sent += 1
    return await _finish(
        rt,
        "follow_up_nudges",
        today.isoformat(),
        f"nudged {sent} person(s) about {sum(len(i) for i in due.values())} follow-up(s)",
    )


async def weekly_digest(rt: Runtime, now: datetime) -> str:
    """Mondays: the week's new clients, status changes, jobs, hires and revenue, feedback and overdue
    follow-ups, with a chart, in CLIENTBOT_DIGEST_CHANNEL. Once per ISO week."""
    if not rt.settings.digest_channel:
        return "no CLIENTBOT_DIGEST_CHANNEL configured"
    local = now.astimezone(rt.settings.tz)
    year, week, _ = local.isocalendar()
    key = f"{year}-W{week:02d}"
    if not await claim(rt, "weekly_digest", key):
        return f"the digest for {key} was already sent"
    end = datetime.combine(local.date(), datetime.min.time(), rt.settings.tz)
    async with rt.db.session() as session:
        summary = await digest.weekly(session, start=end - timedelta(days=7), end=end, today=local.date())
    chart = await asyncio.to_thread(
        reports.bar_chart,
        [d for d, _ in summary.hires_per_day],
        [n for _, n in summary.hires_per_day],
        title="Hires per day",
    )
    client = slack_client(rt)
    await client.chat_postMessage(channel=rt.settings.digest_channel, **digest_views.digest_message(summary))
    await client.files_upload_v2(
        channel=rt.settings.digest_channel,
        content=chart,
        filename=f"hires-{key}.png",
        title=f"Hires, week {key}",
    )
    return await _finish(rt, "weekly_digest", key, f"digest for {key}: {summary.hires} hire(s)")


JOBS = {
    job.name: job
    for job in [
        ScheduledJob(
            "nightly_analytics", "per-client analytics snapshot", nightly_analytics, {"hour": 0, "minute": 0}
        ),
        ScheduledJob(
            "quarterly_feedback_reminder",
            "feedback reminders for the quarter just ended",
            quarterly_feedback_reminder,
            {"month": "1,4,7,10", "day": "1-7", "day_of_week": "mon-fri", "hour": 9, "minute": 0},
        ),
        ScheduledJob(
            "follow_up_nudges", "morning follow-up reminders", follow_up_nudges, {"hour": 8, "minute": 0}
        ),
        ScheduledJob(
            "weekly_digest",
            "weekly channel digest",
            weekly_digest,
            {"day_of_week": "mon", "hour": 9, "minute": 0},
        ),
        ScheduledJob(
            "feedback_retention",
            "remove feedback past its retention",
            feedback_retention,
            {"day": 1, "hour": 3, "minute": 30},
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

        override = rt.settings.schedules.get(job.name)
        trigger = (
            CronTrigger.from_crontab(override, timezone=rt.settings.tz)
            if override
            else CronTrigger(timezone=rt.settings.tz, **job.cron)
        )
        scheduler.add_job(
            fire,
            trigger,
            id=job.name,
            name=job.description,
            coalesce=True,
            misfire_grace_time=3600,
            replace_existing=True,
        )
    return scheduler
