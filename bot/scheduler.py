"""Every periodic job, as a named async function, run by one APScheduler `AsyncIOScheduler` started
with the app.

Exactly once, across restarts and replicas:
- On PostgreSQL a job runs under an advisory lock, so replicas never run it at the same moment.
- Each run of a job for a period (`quarterly_feedback_reminder` / `2026-Q3`) has a `scheduled_runs` row,
  marked finished once everything for the period went out; later runs answer "already sent".
- Each message is claimed on its own (`2026-Q3:U123`) before it is sent, and the claim is released
  when the send fails: one recipient's Slack error is logged and does not stop the others, and a re-run
  (a restart, the next scheduled fire, `clientbot jobs run NAME`) sends only what has not gone out yet.
- The in-memory job store forgets fires missed while the process was down, so starting the scheduler
  runs each job once for its latest due occurrence (within the job's catch-up window); thanks to the
  above that only sends what was not sent for that period.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import IntegrityError

from bot import clock, render
from bot.app import slack_client
from bot.models import ScheduledRun, User, utcnow
from bot.runtime import Runtime
from bot.services import app_state, communications, dashboard, deliveries, digest, feedback, users
from bot.services.periods import last_completed_quarter
from handlers.common import tell_admins_of_departure
from views import communications as comm_views
from views import digest as digest_views
from views import feedback as feedback_views

log = logging.getLogger("clientbot.scheduler")
JobFunction = Callable[[Runtime, datetime], Awaitable[str]]
Send = Callable[[], Awaitable[Any]]


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    description: str
    run: JobFunction
    cron: dict[str, Any]
    # How far back a start (or `jobs run NAME`) looks for a missed fire to catch up; zero: never.
    catch_up: timedelta = timedelta(0)
    # Keep only the cron's fire times on days for which this answers True.
    only_on: Callable[[date], bool] | None = None


# -- exactly once -------------------------------------------------------------------------------------
async def claim(rt: Runtime, job: str, key: str) -> bool:
    """Record `job` / `key` (a period, or `period:recipient`); False when that row already exists (sent
    here before, after a restart, or by another replica). Committed before any message goes out."""
    try:
        async with rt.db.session() as session:
            session.add(ScheduledRun(job=job, period_key=key))
    except IntegrityError:
        return False
    return True


async def _begin(rt: Runtime, job: str, period: str) -> bool:
    """Open (or reopen) the run of `job` for `period`; False when a run already finished it."""
    if await claim(rt, job, period):
        return True
    async with rt.db.session() as session:
        finished = await session.scalar(
            select(ScheduledRun.finished_at).where(ScheduledRun.job == job, ScheduledRun.period_key == period)
        )
    return finished is None


async def _finish(rt: Runtime, job: str, period: str, result: str, failed: list[str]) -> str:
    """Store the result; the period counts as done only when nothing failed (else a re-run retries)."""
    if failed:
        result += f"; {len(failed)} failed and will be retried: {', '.join(failed)}"
    async with rt.db.session() as session:
        await session.execute(
            update(ScheduledRun)
            .where(ScheduledRun.job == job, ScheduledRun.period_key == period)
            .values(finished_at=None if failed else utcnow(), result=result)
        )
    return result


async def deliver(rt: Runtime, job: str, period: str, sends: dict[str, Send]) -> tuple[list[str], list[str]]:
    """Send each recipient's message at most once, and at least once across re-runs: claim
    `period:recipient` first, release the claim when the send fails (logged; the others still go).
    Returns (sent, failed); recipients claimed before (sent already, or by another replica) are in neither."""
    sent: list[str] = []
    failed: list[str] = []
    for recipient, send in sends.items():
        key = f"{period}:{recipient}"
        if not await claim(rt, job, key):
            continue
        try:
            await send()
        except RecipientGone:
            log.info("%s %s: %s is deactivated in Slack; skipped for good", job, period, recipient)
        except Exception:
            log.exception("%s %s: sending to %s failed; a later run retries it", job, period, recipient)
            async with rt.db.session() as session:
                await session.execute(
                    delete(ScheduledRun).where(ScheduledRun.job == job, ScheduledRun.period_key == key)
                )
            failed.append(recipient)
        else:
            sent.append(recipient)
    return sent, failed


# Slack's answers when the bot cannot post into a channel at all (chat.postMessage and
# files.completeUploadExternal): trying again does not help until an HR Admin fixes the channel.
CHANNEL_ERRORS = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
CHANNEL_NOTICE = "channel_notice"  # scheduled_runs job: the admins were told about `error:channel`


async def to_channel(
    rt: Runtime, job: str, period: str, channel: str, sends: dict[str, Send], *, what: str
) -> tuple[list[str], str | None]:
    """`deliver` for posts into `channel`. When Slack answers that the bot cannot post there (not a
    member, no such channel, archived), the rest is skipped and the period is not retried: the claims stay
    (a restart or a re-run does not try again), the HR Admins are told once, with the fix, and the next
    period posts as usual, so a digest goes out again as soon as the bot is invited. A successful post
    clears the notice, so the channel breaking again is reported again.
    Returns (failed, the channel error if any)."""
    problem: str | None = None

    async def guarded(send: Send) -> None:
        nonlocal problem
        if problem:
            return  # e.g. the chart after the message was refused: same channel, same answer
        try:
            await send()
        except SlackApiError as error:
            if error.response.get("error") not in CHANNEL_ERRORS:
                raise
            problem = str(error.response["error"])
            log.warning("%s %s: cannot post to %s: %s", job, period, channel, problem)

    sent, failed = await deliver(rt, job, period, {key: partial(guarded, s) for key, s in sends.items()})
    if problem:
        await _tell_admins(rt, channel, problem, what=what)
    elif sent:
        async with rt.db.session() as session:
            await session.execute(
                delete(ScheduledRun).where(
                    ScheduledRun.job == CHANNEL_NOTICE,
                    ScheduledRun.period_key.in_([_notice_key(e, channel) for e in CHANNEL_ERRORS]),
                )
            )
    return failed, problem


def _notice_key(error: str, channel: str) -> str:
    return f"{error}:{channel}"[:50]


async def _tell_admins(rt: Runtime, channel: str, error: str, *, what: str) -> None:
    """DM every HR Admin about a channel the bot cannot post to, once per channel and error."""
    if not await claim(rt, CHANNEL_NOTICE, _notice_key(error, channel)):
        return
    async with rt.db.session() as session:
        admins = await users.admin_slack_ids(session, admins=rt.settings.admins)
    if not admins:
        log.error("cannot post to %s (%s); no HR Admin to tell (CLIENTBOT_ADMINS)", channel, error)
    notice = digest_views.channel_problem_message(what=what, channel=channel, error=error)
    client = slack_client(rt)
    for admin in admins:
        try:
            await _dm(rt, client, admin, notice)
        except Exception:
            log.exception("telling %s that %s is unreachable failed", admin, channel)


def _in_slack(due: dict[Any, list[Any]], people: dict[Any, User]) -> dict[str, list[Any]]:
    """What is due per user, keyed by Slack user id; service accounts (API, CLI, email), users deactivated
    in Slack and bots are left out (Slack would answer `user_disabled` forever)."""
    return {
        people[user_id].slack_user_id: items
        for user_id, items in due.items()
        if not users.is_service_account(people[user_id])
        and not people[user_id].is_deleted
        and not people[user_id].is_bot
    }


class RecipientGone(Exception):
    """Slack says the recipient is deactivated (`user_disabled`): nothing to retry."""


async def _dm(rt: Runtime, client: AsyncWebClient, slack_user_id: str, message: dict[str, Any]) -> None:
    try:
        channel = (await client.conversations_open(users=slack_user_id))["channel"]["id"]
    except SlackApiError as error:
        if error.response.get("error") != "user_disabled":
            raise
        # Deactivated since we last looked: learn it now (role taken away, clients listed to the admins).
        async with rt.db.session() as session:
            gone = await users.by_slack_id(session, slack_user_id)
            departure = await users.deactivate(session, gone, admins=rt.settings.admins) if gone else None
        await tell_admins_of_departure(client, departure)
        raise RecipientGone(slack_user_id) from error
    await client.chat_postMessage(channel=channel, **message)


# -- the jobs -----------------------------------------------------------------------------------------
async def nightly_analytics(rt: Runtime, now: datetime) -> str:
    """At local midnight: one client_analytics row per client for the day that just ended. Not caught up
    after downtime: a late snapshot would file later figures under the earlier day."""
    day = (now.astimezone(rt.settings.tz) - timedelta(minutes=5)).date()
    async with rt.db.session() as session:
        count = await dashboard.snapshot_all(session, day)
        await deliveries.forget_old(session)
    return f"snapshot of {count} clients for {day}"


def working_day(day: date) -> bool:
    """Monday to Friday, except 1 January (the one holiday every office shares)."""
    return day.weekday() < 5 and (day.month, day.day) != (1, 1)


def first_working_day_of_quarter(day: date) -> bool:
    """The first working day (see `working_day`) of January, April, July or October: so the Q4 reminder
    goes out on 2 January at the earliest, or the Monday after when 2 January falls on a weekend."""
    if day.month not in (1, 4, 7, 10) or not working_day(day):
        return False
    return not any(working_day(day.replace(day=n)) for n in range(1, day.day))


async def quarterly_feedback_reminder(rt: Runtime, now: datetime) -> str:
    """On the first working day of a quarter: DM each account manager their active clients without
    feedback for the quarter just ended, one button per client; a summary goes to the digest channel.
    Once per manager and quarter."""
    job = "quarterly_feedback_reminder"
    today = now.astimezone(rt.settings.tz).date()
    if not first_working_day_of_quarter(today):
        return f"{today} is not the first working day of a quarter"
    period = last_completed_quarter(today)
    if not await _begin(rt, job, period):
        return f"reminders for {period} were already sent"
    async with rt.db.session() as session:
        due = await feedback.reminders_due(session, period=period)
        managers = {u.id: u for u in await session.scalars(select(User).where(User.id.in_(due)))}
    client = slack_client(rt)
    by_slack_id = _in_slack(due, managers)
    sent, failed = await deliver(
        rt,
        job,
        period,
        {
            s: partial(_dm, rt, client, s, feedback_views.reminder_message(period, clients_due))
            for s, clients_due in by_slack_id.items()
        },
    )
    counts = {s: len(by_slack_id[s]) for s in sent}
    if rt.settings.digest_channel and sent:
        summary = feedback_views.reminder_summary(period, counts)
        channel = rt.settings.digest_channel
        failed += (
            await to_channel(
                rt,
                job,
                period,
                channel,
                {"summary": partial(client.chat_postMessage, channel=channel, **summary)},
                what=f"The feedback reminder summary for {period}",
            )
        )[0]
    result = f"reminded {len(sent)} manager(s) about {sum(counts.values())} client(s) for {period}"
    return await _finish(rt, job, period, result, failed)


async def feedback_retention(rt: Runtime, now: datetime) -> str:
    """Monthly: remove feedback older than CLIENTBOT_FEEDBACK_RETENTION_YEARS (5 by default)."""
    years = rt.settings.feedback_retention_years
    today = now.astimezone(rt.settings.tz).date()
    async with rt.db.session() as session:
        removed = await feedback.purge_older_than(session, years=years, today=today)
    log.info("feedback retention: removed %s row(s) older than %s years", removed, years)
    return f"removed {removed} feedback row(s) older than {years} years"


async def follow_up_nudges(rt: Runtime, now: datetime) -> str:
    """Each morning: DM whoever logged a communication whose follow-up is due today or overdue. Once per
    person and day."""
    job = "follow_up_nudges"
    today = now.astimezone(rt.settings.tz).date()
    period = today.isoformat()
    if not await _begin(rt, job, period):
        return f"nudges for {today} were already sent"
    async with rt.db.session() as session:
        due = await communications.open_follow_ups(session, today=today)
        people = {u.id: u for u in await session.scalars(select(User).where(User.id.in_(due)))}
    client = slack_client(rt)
    by_slack_id = _in_slack(due, people)
    sent, failed = await deliver(
        rt,
        job,
        period,
        {s: partial(_dm, rt, client, s, comm_views.nudge_message(i, today)) for s, i in by_slack_id.items()},
    )
    result = f"nudged {len(sent)} person(s) about {sum(len(by_slack_id[s]) for s in sent)} follow-up(s)"
    return await _finish(rt, job, period, result, failed)


async def _internal_channel(client: AsyncWebClient, channel: str) -> bool:
    """Whether the channel is this workspace's own (not Slack Connect): only then may private figures such
    as revenue appear in it. Unknown counts as shared."""
    try:
        info = (await client.conversations_info(channel=channel))["channel"]
    except SlackApiError as error:
        log.warning(
            "conversations.info %s: %s; keeping private figures out", channel, error.response["error"]
        )
        return False
    return not (info.get("is_ext_shared") or info.get("is_shared") or info.get("is_org_shared"))


async def weekly_digest(rt: Runtime, now: datetime) -> str:
    """Mondays: the week's new clients, status changes, jobs, hires and revenue, feedback and overdue
    follow-ups, with a chart, in CLIENTBOT_DIGEST_CHANNEL. Once per ISO week."""
    job = "weekly_digest"
    channel = rt.settings.digest_channel
    if not channel:
        return "no CLIENTBOT_DIGEST_CHANNEL configured"
    local = now.astimezone(rt.settings.tz)
    year, week, _ = local.isocalendar()
    key = f"{year}-W{week:02d}"
    if not await _begin(rt, job, key):
        return f"the digest for {key} was already sent"
    end = datetime.combine(local.date(), datetime.min.time(), rt.settings.tz)
    async with rt.db.session() as session:
        summary = await digest.weekly(session, start=end - timedelta(days=7), end=end, today=local.date())
    chart = await render.report(
        "bar_chart",
        [d for d, _ in summary.hires_per_day],
        [n for _, n in summary.hires_per_day],
        title="Hires per day",
    )
    client = slack_client(rt)
    message = digest_views.digest_message(summary, private=await _internal_channel(client, channel))
    failed, problem = await to_channel(
        rt,
        job,
        key,
        channel,
        {
            channel: partial(client.chat_postMessage, channel=channel, **message),
            f"{channel}:chart": partial(
                client.files_upload_v2,
                channel=channel,
                content=chart,
                filename=f"hires-{key}.png",
                title=f"Hires, week {key}",
            ),
        },
        what=f"The weekly digest for {key}",
    )
    if problem:
        result = f"digest for {key} not posted: {problem} in {channel}; the HR Admins were told"
        return await _finish(rt, job, key, result, failed)
    return await _finish(rt, job, key, f"digest for {key}: {summary.hires} hire(s)", failed)


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
            catch_up=timedelta(days=92),  # a start late in a quarter still sends what its first day missed
            only_on=first_working_day_of_quarter,
        ),
        ScheduledJob(
            "follow_up_nudges",
            "morning follow-up reminders",
            follow_up_nudges,
            {"hour": 8, "minute": 0},
            catch_up=timedelta(hours=12),  # the same day only; tomorrow's nudges list what is overdue
        ),
        ScheduledJob(
            "weekly_digest",
            "weekly channel digest",
            weekly_digest,
            {"day_of_week": "mon", "hour": 9, "minute": 0},
            catch_up=timedelta(days=7),
        ),
        ScheduledJob(
            "feedback_retention",
            "remove feedback past its retention",
            feedback_retention,
            {"day": 1, "hour": 3, "minute": 30},
            catch_up=timedelta(days=31),
        ),
    ]
}


# -- scheduling ---------------------------------------------------------------------------------------
class OnlyOn(BaseTrigger):
    """A cron trigger's fire times on the days `keep` accepts (e.g. the first working day of a quarter)."""

    def __init__(self, cron: BaseTrigger, keep: Callable[[date], bool]) -> None:
        self.cron, self.keep = cron, keep

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        fire = self.cron.get_next_fire_time(previous_fire_time, now)
        for _ in range(2000):  # a crontab that never lands on such a day gives up instead of spinning
            if fire is None or self.keep(fire.date()):
                return fire
            fire = self.cron.get_next_fire_time(fire, fire + timedelta(seconds=1))
        return None

    def __str__(self) -> str:
        return f"{self.cron} on days kept by {self.keep.__name__}"


def trigger(rt: Runtime, job: ScheduledJob) -> BaseTrigger:
    """The job's cron (or its CLIENTBOT_SCHEDULES override) in CLIENTBOT_TIMEZONE."""
    override = rt.settings.schedules.get(job.name)
    cron = (
        CronTrigger.from_crontab(override, timezone=rt.settings.tz)
        if override
        else CronTrigger(timezone=rt.settings.tz, **job.cron)
    )
    return OnlyOn(cron, job.only_on) if job.only_on else cron


def last_due(rt: Runtime, job: ScheduledJob, now: datetime) -> datetime | None:
    """The job's latest fire time at or before `now`, within its catch-up window."""
    schedule = trigger(rt, job)
    last = None
    fire = schedule.get_next_fire_time(None, now - job.catch_up) if job.catch_up else None
    while fire is not None and fire <= now:
        last, fire = fire, schedule.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return last


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"clientbot:{name}".encode()).digest()[:8], "big", signed=True)


async def run_job(rt: Runtime, name: str, now: datetime | None = None, *, since_install: bool = True) -> str:
    """Run one job for `now`; without it (a scheduled fire, a start, `clientbot jobs run NAME`), for the
    job's latest due fire time, so a late or repeated run catches up on that occurrence, but never on one
    due before the install (a first start, or one after `clientbot demo` or an import, sends nothing
    for the time before; an operator's `jobs run` passes `since_install=False`). On PostgreSQL, a
    replica already running it makes this one skip."""
    job = JOBS[name]
    if now is None:
        current = clock.local_now(rt.settings.tz)
        due = last_due(rt, job, current)
        if due is not None and since_install:
            async with rt.db.session() as session:
                installed = await app_state.installed_at(session)
            if due < installed:
                return f"nothing to catch up: last due {due.isoformat(' ', 'minutes')}, before the install"
        now = due or current
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


class Scheduler(AsyncIOScheduler):
    """Starting it (not paused) also fires every job once right away: each catches up on its latest due
    occurrence, which sends only what was not sent for that period (see the module docstring)."""

    def start(self, paused: bool = False) -> None:
        super().start(paused=paused)
        if not paused:
            now = clock.local_now(self.timezone)
            for job in self.get_jobs():
                if JOBS[job.id].catch_up:
                    job.modify(next_run_time=now)


def build_scheduler(rt: Runtime) -> Scheduler:
    scheduler = Scheduler(timezone=rt.settings.tz)
    for job in JOBS.values():

        async def fire(name: str = job.name) -> None:
            try:
                log.info("%s: %s", name, await run_job(rt, name))
            except Exception:
                log.exception("scheduled job %s failed", name)

        scheduler.add_job(
            fire,
            trigger(rt, job),
            id=job.name,
            name=job.description,
            coalesce=True,
            misfire_grace_time=3600,
            replace_existing=True,
        )
    return scheduler
