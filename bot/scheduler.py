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

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import IntegrityError

from bot import clock, render, telemetry
from bot.app import slack_client
from bot.models import ScheduledRun, User, utcnow
from bot.runtime import Runtime
from bot.services import (
    app_state,
    communications,
    dashboard,
    deliveries,
    digest,
    feedback,
    health,
    subscriptions,
    users,
)
from bot.services.periods import last_completed_quarter
from handlers.common import internal_channel as _internal_channel
from handlers.common import tell_admins_of_departure
from views import communications as comm_views
from views import digest as digest_views
from views import feedback as feedback_views
from views import subscriptions as subscription_views

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
        except asyncio.CancelledError:
            # Stopped mid-send (a shutdown past its grace period): the next run, here or elsewhere, sends it.
            log.warning("%s %s: sending to %s was cut short; a later run retries it", job, period, recipient)
            await _release(rt, job, key)
            raise
        except Exception:
            log.exception("%s %s: sending to %s failed; a later run retries it", job, period, recipient)
            await _release(rt, job, key)
            failed.append(recipient)
        else:
            sent.append(recipient)
    return sent, failed


async def _release(rt: Runtime, job: str, key: str) -> None:
    async with rt.db.session() as session:
        await session.execute(
            delete(ScheduledRun).where(ScheduledRun.job == job, ScheduledRun.period_key == key)
        )


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
        await subscriptions.forget_old_claims(session)
    return f"snapshot of {count} clients for {day}"


async def nightly_health(rt: Runtime, now: datetime) -> str:
    """Just after local midnight: every active and on-hold client's health as of the new day, the history
    behind the digest's "newly at risk" and the order of `/client list sort:health`. Once per day; a re-run
    (or a catch-up after a restart the same night) rewrites that day's rows."""
    job = "nightly_health"
    day = now.astimezone(rt.settings.tz).date()
    if not await _begin(rt, job, day.isoformat()):
        return f"health snapshot for {day} was already taken"
    async with rt.db.session() as session:
        count = await health.snapshot_all(session, day, thresholds=health.Thresholds.of(rt.settings))
    return await _finish(rt, job, day.isoformat(), f"health of {count} clients for {day}", [])


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
        summary.health = await health.risk_report(session, today=local.date())
    client = slack_client(rt)
    message = digest_views.digest_message(summary, private=await _internal_channel(client, channel))
    posted = f"{key}:{channel}"  # the message's claim row keeps its ts: the chart goes in its thread

    async def post_message() -> None:
        answer = await client.chat_postMessage(channel=channel, **message)
        async with rt.db.session() as session:
            await session.execute(
                update(ScheduledRun)
                .where(ScheduledRun.job == job, ScheduledRun.period_key == posted)
                .values(result=answer["ts"])
            )

    async def post_chart() -> None:
        async with rt.db.session() as session:
            ts = await session.scalar(
                select(ScheduledRun.result).where(ScheduledRun.job == job, ScheduledRun.period_key == posted)
            )
        if not ts:
            raise RuntimeError("the digest message is not posted yet; its chart follows it next run")
        chart = await render.report(
            "bar_chart",
            [d for d, _ in summary.hires_per_day],
            [n for _, n in summary.hires_per_day],
            title=f"Hires per day, {digest_views.digest_span(summary)}",
            unit="hires",
        )
        await client.files_upload_v2(
            channel=channel,
            thread_ts=ts,
            content=chart,
            filename=f"hires-{key}.png",
            title=f"Hires, week {key}",
            initial_comment=digest_views.chart_comment(summary),
        )

    sends: dict[str, Send] = {channel: post_message}
    if summary.hires:  # a week without hires says so in the message: no empty chart
        sends[f"{channel}:chart"] = post_chart
    failed, problem = await to_channel(rt, job, key, channel, sends, what=f"The weekly digest for {key}")
    if problem:
        result = f"digest for {key} not posted: {problem} in {channel}; the HR Admins were told"
        return await _finish(rt, job, key, result, failed)
    return await _finish(rt, job, key, f"digest for {key}: {summary.hires} hire(s)", failed)


async def subscription_posts(rt: Runtime, now: datetime) -> str:
    """Every minute: post what subscribed channels are owed (the outbox, see services/subscriptions.py),
    oldest first, each exactly once: claimed through `deliver` before it is sent, marked delivered after.
    Private figures stay out of channels shared with other organisations; a channel the bot cannot post
    into disables its subscription (audited) instead of being retried."""
    job = subscriptions.CLAIM_JOB
    async with rt.db.session() as session:
        due = await subscriptions.pending(session)
    if not due:
        return "nothing to post"
    client = slack_client(rt)
    internal: dict[str, bool] = {}
    gone: set[uuid.UUID] = set()
    posted = 0

    async def post(item: subscriptions.Pending) -> None:
        nonlocal posted
        if item.subscription_id in gone:
            return  # its channel refused an earlier post of this run; the disabling dropped this one
        if item.channel_id not in internal:
            internal[item.channel_id] = await _internal_channel(client, item.channel_id)
        year, week_number, _ = item.created_at.astimezone(rt.settings.tz).isocalendar()
        week = f"{year}-W{week_number:02d}"
        async with rt.db.session() as session:
            thread_ts = await subscriptions.thread_for(session, item, week)
        payload = subscriptions.public(item.payload, private=internal[item.channel_id])
        message = subscription_views.post_message(item.event, payload, week=week, starts_thread=not thread_ts)
        try:
            answer = await client.chat_postMessage(
                channel=item.channel_id, **message, **({"thread_ts": thread_ts} if thread_ts else {})
            )
        except SlackApiError as error:
            if error.response.get("error") not in CHANNEL_ERRORS:
                raise
            log.warning("%s: cannot post to %s: %s", job, item.channel_id, error.response["error"])
            gone.add(item.subscription_id)
            async with rt.db.session() as session:
                await subscriptions.channel_gone(session, item.subscription_id, str(error.response["error"]))
            return
        posted += 1
        try:
            async with rt.db.session() as session:
                await subscriptions.delivered(
                    session, item, ts=answer["ts"], week=week, new_thread=not thread_ts
                )
        except Exception:  # posted: the claim (kept) is what stops it going twice; the row stays pending
            log.exception("%s: outbox %s was posted but not marked delivered", job, item.id)

    _, failed = await deliver(rt, job, "outbox", {str(item.id): partial(post, item) for item in due})
    result = f"posted {posted} update(s)"
    if gone:
        result += f"; {len(gone)} subscription(s) disabled: the bot cannot post there"
    if failed:
        result += f"; {len(failed)} failed and will be retried"
    return result


JOBS = {
    job.name: job
    for job in [
        ScheduledJob(
            "nightly_analytics", "per-client analytics snapshot", nightly_analytics, {"hour": 0, "minute": 0}
        ),
        ScheduledJob(
            "nightly_health",
            "per-client health snapshot",
            nightly_health,
            {"hour": 0, "minute": 10},
            catch_up=timedelta(hours=12),
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
        # No catch-up: what is owed stays in the outbox across restarts, and the next minute posts it.
        ScheduledJob(
            "subscription_posts", "post subscribed channels' updates", subscription_posts, {"minute": "*"}
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
            if rt.lifecycle.draining:
                return  # shutting down: another replica (or the next start) runs it
            task = asyncio.current_task()
            if task is not None:
                rt.lifecycle.track(task)
            telemetry.SCHEDULER_RUNS.labels(name).inc()
            try:
                log.info("%s: %s", name, await run_job(rt, name))
            except Exception:
                telemetry.SCHEDULER_FAILURES.labels(name).inc()
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
    scheduler.add_listener(_note_lag, EVENT_JOB_SUBMITTED)
    return scheduler


def _note_lag(event: JobSubmissionEvent) -> None:
    """How late the run starts after its scheduled time (a busy loop, a missed fire caught up)."""
    if event.scheduled_run_times:
        late = (clock.now() - max(event.scheduled_run_times)).total_seconds()
        telemetry.SCHEDULER_LAG.labels(event.job_id).set(max(late, 0.0))
