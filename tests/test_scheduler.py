"""Scheduled jobs with a frozen clock: follow-up nudges, the weekly digest, quarterly reminders; exactly
once per recipient (a Slack failure for one is retried later, nothing goes twice), two real schedulers on
one PostgreSQL database sending one digest, catching up after downtime, and `clientbot jobs list|run`."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from sqlalchemy import func, select

from bot.db import Database
from bot.models import (
    Application,
    AppState,
    ClientCommunication,
    ClientFeedback,
    ClientStatus,
    Job,
    Role,
    ScheduledRun,
)
from bot.runtime import Runtime
from bot.scheduler import JOBS, build_scheduler, first_working_day_of_quarter, last_due, run_job
from bot.services import clients, communications, feedback, pipeline
from bot.services.inputs import parse_input
from bot.storage import LocalStorage
from tests import factories
from tests.clientbot_at import cli_argv, cli_env
from tests.conftest import ADMIN, MANAGER, RECRUITER
from tests.test_feedback import RATINGS

PROJECT = str(Path(__file__).resolve().parents[1])
TODAY = date(2026, 11, 30)  # a Monday
MORNING = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture
def settings(settings):
    settings.digest_channel = "CDIGEST"
    return settings


async def _log(session, actor, client, subject: str, follow_up: date | None, **extra) -> ClientCommunication:
    return await communications.log(
        session,
        actor=actor,
        client_id=client.id,
        data=communications.parse_communication(
            {
                "communication_type": "call",
                "communication_date": "2026-11-20T10:00",
                "subject": subject,
                "follow_up_date": follow_up,
            }
        ),
        **extra,
    )


async def test_follow_up_nudges_go_to_the_right_people_once(slack, fake, rt, clock) -> None:
    clock.move_to(MORNING)
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        recruiter = await factories.user(session, RECRUITER)
        acme = await factories.client(session, manager, "Acme")
        today = await _log(session, recruiter, acme, "Send shortlist", TODAY)
        late = await _log(session, recruiter, acme, "Chase contract", TODAY - timedelta(days=3))
        await _log(session, recruiter, acme, "Not yet", TODAY + timedelta(days=1))
        done = await _log(session, recruiter, acme, "Already done", TODAY - timedelta(days=1))
        await communications.complete_follow_up(session, actor=recruiter, communication_id=done.id)
        snoozed = await _log(session, recruiter, acme, "Snoozed", TODAY - timedelta(days=1))
        await communications.snooze_follow_up(
            session, actor=recruiter, communication_id=snoozed.id, today=TODAY
        )
        gone = await _log(session, recruiter, acme, "Archived", TODAY - timedelta(days=1))
        await communications.archive(session, actor=recruiter, communication_id=gone.id)
        await _log(session, manager, acme, "Manager's own", TODAY)
    assert await run_job(rt, "follow_up_nudges", MORNING) == "nudged 2 person(s) about 3 follow-up(s)"
    assert "already sent" in await run_job(rt, "follow_up_nudges", MORNING)
    dms = {
        c.params["channel"]: json.dumps(c.params, ensure_ascii=False)
        for c in fake.calls_to("chat.postMessage")
    }
    assert len(dms) == 2
    mine = dms["D" + RECRUITER[:10]]
    assert "Send shortlist" in mine and "Chase contract" in mine and "overdue, due 3 days ago" in mine
    assert f"*Acme ({acme.client_code})*" in mine  # the client by name, with its code (issue 12)
    for absent in ("Not yet", "Already done", "Snoozed", "Archived", "Manager's own"):
        assert absent not in mine
    url = fake.new_response_url()
    await slack.block_action("follow_up_done", value=str(today.id), user_id=RECRUITER, response_url=url)
    assert "Done" in json.dumps(await fake.wait_for_response(url))
    url = fake.new_response_url()
    await slack.block_action("follow_up_snooze", value=str(late.id), user_id=RECRUITER, response_url=url)
    assert "Snoozed" in json.dumps(await fake.wait_for_response(url))
    async with rt.db.session() as session:
        assert (await session.get(ClientCommunication, today.id)).follow_up_done_at is not None
        assert (await session.get(ClientCommunication, late.id)).follow_up_snoozed_until > TODAY


async def _a_busy_week(rt) -> None:
    async with rt.db.session() as session:
        admin = await factories.user(session, ADMIN, Role.ADMIN)
        acme = await factories.client(session, admin, "Acme")
        week_ago = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
        acme_row = await clients.get(session, acme.id)
        acme_row.created_at = week_ago
        await clients.change_status(
            session, actor=admin, client_id=acme.id, status=ClientStatus.ON_HOLD, reason="budget"
        )
        job = Job(
            reference="W-1",
            title="Engineer",
            client_id=acme.id,
            status="filled",
            fee=Decimal("8000"),
            opened_at=week_ago,
            filled_at=week_ago + timedelta(days=2),
            owner_id=admin.id,
        )
        session.add(job)
        await session.flush()
        person, _ = await pipeline.upsert_candidate(
            session,
            actor=admin,
            data=parse_input(pipeline.CandidateIn, {"full_name": "Ann", "email": "ann@x.com"}),
        )
        session.add(
            Application(
                job_id=job.id, candidate_id=person.id, stage="hired", hired_at=week_ago + timedelta(days=2)
            )
        )
        await _log(session, admin, acme, "Overdue thing", TODAY - timedelta(days=4))


async def test_weekly_digest_with_a_frozen_clock(fake, rt, clock) -> None:
    clock.move_to(datetime(2026, 11, 26, 15, 0, tzinfo=UTC))  # the busy week's Thursday
    await _a_busy_week(rt)
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert await run_job(rt, "weekly_digest", monday) == "digest for 2026-W49: 1 hire(s)"
    [post] = fake.calls_to("chat.postMessage")
    text = json.dumps(post.params, ensure_ascii=False)
    assert post.params["channel"] == "CDIGEST"
    assert "active → on-hold" in text and "1 · 1" in text and "8,000.00" in text and "Overdue thing" in text
    [chart] = fake.uploaded_files()
    assert chart.channel_id == "CDIGEST" and chart.content.startswith(b"\x89PNG")
    assert "already sent" in await run_job(rt, "weekly_digest", monday + timedelta(hours=1))


async def test_the_digest_names_hires_owners_and_last_week_and_threads_its_chart(fake, rt, clock) -> None:
    """Issue 12: the header ends on the chart's last day (Sun 29, not Mon 30); hires with names; overdue
    follow-ups with their owner; the week before for comparison; the chart in the digest's thread;
    on-hold → on-hold is no change."""
    clock.move_to(datetime(2026, 11, 26, 15, 0, tzinfo=UTC))
    await _a_busy_week(rt)
    async with rt.db.session() as session:
        admin = await factories.user(session, ADMIN, Role.ADMIN)
        [acme] = (await clients.list_clients(session, filters=clients.ClientFilter())).clients
        await clients.change_status(  # the same status with a new reason: not a change
            session, actor=admin, client_id=acme.id, status=ClientStatus.ON_HOLD, reason="still no budget"
        )
        code = acme.client_code
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert await run_job(rt, "weekly_digest", monday) == "digest for 2026-W49: 1 hire(s)"
    [post] = fake.calls_to("chat.postMessage")
    blocks = post.params["blocks"]
    text = json.dumps(blocks, ensure_ascii=False)
    assert blocks[0]["text"]["text"] == "Weekly client digest · 23 Nov – 29 Nov 2026"
    assert "Ann" in text and f"Acme ({code})" in text  # the hire, by name, with the client's name
    assert f"Acme ({code}): active → on-hold" in text and "on-hold → on-hold" not in text
    assert "<@UADMIN>" in text and "Overdue thing" in text  # the owner of the overdue follow-up
    assert "(+1 vs last week)" in text  # 1 hire against none the week before
    [chart] = fake.uploaded_files()
    assert chart.thread_ts == fake.calls_to("chat.postMessage")[0].response["ts"]
    assert chart.channel_id == "CDIGEST"


async def test_a_week_without_hires_has_no_empty_chart(fake, rt) -> None:
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert await run_job(rt, "weekly_digest", monday) == "digest for 2026-W49: 0 hire(s)"
    assert "No hires this week" in json.dumps(fake.calls_to("chat.postMessage")[0].params)
    assert not fake.uploaded_files()


@pytest.mark.parametrize("shared", [{"is_ext_shared": True}, {"is_shared": True}])
async def test_a_channel_shared_with_other_organisations_gets_no_revenue(fake, rt, shared, clock) -> None:
    clock.move_to(datetime(2026, 11, 26, 15, 0, tzinfo=UTC))
    await _a_busy_week(rt)
    fake.channels["CDIGEST"] = shared
    assert "1 hire(s)" in await run_job(rt, "weekly_digest", datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    text = json.dumps(fake.calls_to("chat.postMessage")[0].params, ensure_ascii=False)
    assert "Hires" in text and "8,000.00" not in text and "revenue" not in text.lower()


async def _run_schedulers(replicas: list[Runtime], only: str | None = None, fire: str | None = None) -> None:
    """Build and start one real scheduler per runtime (as `clientbot serve` does) and wait until every
    job they fire has finished. `only` keeps one job; `fire` makes it fire in half a second, in all of
    them at the same moment."""
    done = asyncio.Event()
    expected = 0
    finished = 0

    def count(_event) -> None:
        nonlocal finished
        finished += 1
        if finished >= expected:
            done.set()

    schedulers = []
    for replica in replicas:
        scheduler = build_scheduler(replica)
        scheduler.add_listener(count, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        schedulers.append(scheduler)
    at = datetime.now(UTC) + timedelta(seconds=0.5)
    for scheduler in schedulers:
        if only:
            for job in scheduler.get_jobs():
                if job.id != only:
                    job.remove()
        if fire:
            scheduler.start(paused=True)
            scheduler.modify_job(fire, next_run_time=at)
            scheduler.resume()
        else:
            scheduler.start()
        expected += sum(1 for job in scheduler.get_jobs() if job.next_run_time <= at)
    try:
        await asyncio.wait_for(done.wait(), timeout=30)
    finally:
        for scheduler in schedulers:
            scheduler.shutdown(wait=False)


async def _installed(rt: Runtime, at: datetime) -> None:
    """The database was installed (first migrated) at `at`: catch-ups reach back no further."""
    async with rt.db.session() as session:
        await session.merge(AppState(key="installed_at", value=at.isoformat()))


async def test_two_schedulers_on_one_postgres_send_one_digest(fake, rt, settings, is_postgres) -> None:
    """Two app processes started together: two real schedulers, each with its own engine on the same
    PostgreSQL database, fire the weekly digest at the same moment; one digest reaches Slack."""
    if not is_postgres:
        pytest.skip("the advisory lock is PostgreSQL's; CI runs this with TEST_DATABASE_URL")
    await _a_busy_week(rt)
    await _installed(rt, datetime.now(UTC) - timedelta(days=30))
    replicas = [
        Runtime(settings=settings, db=Database(rt.db.url), storage=LocalStorage(settings.storage_dir))
        for _ in range(2)
    ]
    try:
        await _run_schedulers(replicas, only="weekly_digest", fire="weekly_digest")
    finally:
        for replica in replicas:
            await replica.db.dispose()
    assert [c.params["channel"] for c in fake.calls_to("chat.postMessage")] == ["CDIGEST"]
    assert len(fake.uploaded_files()) == 1
    async with rt.db.session() as session:
        runs = list(await session.scalars(select(ScheduledRun).where(ScheduledRun.job == "weekly_digest")))
    week = next(r.period_key for r in runs if ":" not in r.period_key)
    assert sorted(r.period_key for r in runs) == [week, f"{week}:CDIGEST", f"{week}:CDIGEST:chart"]
    assert all(r.period_key != week or r.finished_at is not None for r in runs)


def test_schedules_are_configurable(settings, db) -> None:
    settings.schedules = {"weekly_digest": "30 16 * * fri"}
    scheduler = build_scheduler(Runtime(settings=settings, db=db, storage=LocalStorage(settings.storage_dir)))
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == set(JOBS)
    assert "day_of_week='fri'" in str(jobs["weekly_digest"].trigger) and "hour='16'" in str(
        jobs["weekly_digest"].trigger
    )
    assert "hour='0'" in str(jobs["nightly_analytics"].trigger)


# -- per-recipient delivery: one failure does not stop the others, a re-run sends only what is missing --
FIRST_DAY_Q4 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)  # a Thursday: the first working day of 2026-Q4


async def _managed_clients(rt) -> dict[str, object]:
    made = {}
    for name, manager_id in (("Acme", MANAGER), ("Globex", MANAGER), ("Initech", "UOTHERMGR")):
        async with rt.db.session() as session:
            manager = await factories.user(session, manager_id, Role.MANAGER)
            made[name] = await factories.client(
                session,
                manager,
                name,
                account_manager_id=manager_id,
                website=None,
                contacts=[{"full_name": "C", "email": f"c@{name.lower()}.example.com"}],
            )
    return made


def _failing_for(fake, slack_user_id: str) -> None:
    """Slack answers conversations.open for this one user with an error (e.g. a deactivated account)."""
    real = fake._conversations_open

    def flaky(params: dict) -> dict:
        if params.get("users") == slack_user_id:
            return {"ok": False, "error": "user_not_found"}
        return real(params)

    fake._conversations_open = flaky


def _posts(fake) -> dict[str, str]:
    return {c.params["channel"]: json.dumps(c.params) for c in fake.calls_to("chat.postMessage")}


async def test_a_reminder_failing_for_one_manager_reaches_the_others_then_is_retried(fake, rt) -> None:
    made = await _managed_clients(rt)
    _failing_for(fake, "UOTHERMGR")
    result = await run_job(rt, "quarterly_feedback_reminder", FIRST_DAY_Q4)
    assert result == (
        "reminded 1 manager(s) about 2 client(s) for 2026-Q3; 1 failed and will be retried: UOTHERMGR"
    )
    posts = _posts(fake)
    assert set(posts) == {"D" + MANAGER[:10], "CDIGEST"}
    assert made["Acme"].client_code in posts["D" + MANAGER[:10]]
    assert MANAGER in posts["CDIGEST"] and "UOTHERMGR" not in posts["CDIGEST"]
    del fake._conversations_open  # Slack works again; a restart or `clientbot jobs run` retries
    fake.calls.clear()
    result = await run_job(rt, "quarterly_feedback_reminder", FIRST_DAY_Q4)
    assert result == "reminded 1 manager(s) about 1 client(s) for 2026-Q3"
    posts = _posts(fake)
    assert list(posts) == ["DUOTHERMGR"] and made["Initech"].client_code in posts["DUOTHERMGR"]
    fake.calls.clear()
    assert "already sent" in await run_job(rt, "quarterly_feedback_reminder", FIRST_DAY_Q4)
    assert fake.calls_to("chat.postMessage") == []


async def test_a_failed_nudge_does_not_stop_the_others_and_goes_out_on_the_next_run(fake, rt) -> None:
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        recruiter = await factories.user(session, RECRUITER)
        acme = await factories.client(session, manager, "Acme")
        await _log(session, recruiter, acme, "Recruiter's", TODAY)
        await _log(session, manager, acme, "Manager's", TODAY)
    _failing_for(fake, RECRUITER)
    assert "nudged 1 person(s) about 1 follow-up(s); 1 failed" in await run_job(
        rt, "follow_up_nudges", MORNING
    )
    assert list(_posts(fake)) == ["D" + MANAGER[:10]]
    del fake._conversations_open
    fake.calls.clear()
    assert await run_job(rt, "follow_up_nudges", MORNING) == "nudged 1 person(s) about 1 follow-up(s)"
    assert list(_posts(fake)) == ["D" + RECRUITER[:10]]
    assert "already sent" in await run_job(rt, "follow_up_nudges", MORNING)


async def test_a_failed_digest_is_sent_by_the_next_run(fake, rt) -> None:
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    fake.rate_limited["chat.postMessage"] = 10  # more 429s than the retry handler waits out
    assert "1 failed and will be retried: CDIGEST" in await run_job(rt, "weekly_digest", monday)
    assert not fake.uploaded_files()  # a week without hires has no chart
    fake.rate_limited.clear()
    fake.calls.clear()
    assert await run_job(rt, "weekly_digest", monday) == "digest for 2026-W49: 0 hire(s)"
    assert len(fake.calls_to("chat.postMessage")) == 1 and not fake.uploaded_files()
    assert "already sent" in await run_job(rt, "weekly_digest", monday)


# -- missed runs: a start catches up ---------------------------------------------------------------------
def test_first_working_day_of_quarter_skips_weekends_and_new_year() -> None:
    firsts = [
        d for d in (date(2026, 1, 1) + timedelta(n) for n in range(800)) if first_working_day_of_quarter(d)
    ]
    assert firsts == [
        date(2026, 1, 2),  # 1 January is a holiday
        date(2026, 4, 1),
        date(2026, 7, 1),
        date(2026, 10, 1),
        date(2027, 1, 4),  # Fri 1 January is a holiday, then a weekend
        date(2027, 4, 1),
        date(2027, 7, 1),
        date(2027, 10, 1),
        date(2028, 1, 3),
    ]


async def test_new_year_is_not_a_working_day(fake, rt) -> None:
    await _managed_clients(rt)
    assert "not the first working day" in await run_job(
        rt, "quarterly_feedback_reminder", datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    )
    assert fake.calls_to("chat.postMessage") == []
    assert "for 2025-Q4" in await run_job(
        rt, "quarterly_feedback_reminder", datetime(2026, 1, 2, 9, tzinfo=UTC)
    )


async def test_a_start_after_a_missed_reminder_sends_it_once(fake, rt, settings, clock) -> None:
    """The process was down at 09:00 on the quarter's first working day and starts the next morning: the
    started scheduler sends the missed reminders; another restart sends nothing more."""
    made = await _managed_clients(rt)
    await _installed(rt, datetime(2026, 9, 1, tzinfo=UTC))
    clock.move_to(datetime(2026, 10, 2, 7, 30, tzinfo=UTC))
    await _run_schedulers([rt])
    posts = _posts(fake)
    assert made["Acme"].client_code in posts["D" + MANAGER[:10]]
    assert made["Initech"].client_code in posts["DUOTHERMGR"]
    channel = [
        c.params["text"] for c in fake.calls_to("chat.postMessage") if c.params["channel"] == "CDIGEST"
    ]
    assert sorted(channel) == ["Feedback reminders for 2026-Q3", "Weekly client digest 21 Sep – 27 Sep 2026"]
    reminders = len(fake.calls_to("chat.postMessage"))
    await _run_schedulers([Runtime(settings=settings, db=rt.db, storage=LocalStorage(settings.storage_dir))])
    assert len(fake.calls_to("chat.postMessage")) == reminders


def test_each_job_catches_up_on_its_latest_due_fire(rt) -> None:
    due = {name: last_due(rt, job, datetime(2026, 10, 2, 7, 30, tzinfo=UTC)) for name, job in JOBS.items()}
    assert due == {
        "nightly_analytics": None,  # a late snapshot would file later figures under the earlier day
        "nightly_health": datetime(2026, 10, 2, 0, 10, tzinfo=UTC),  # the same night only
        "quarterly_feedback_reminder": datetime(2026, 10, 1, 9, 0, tzinfo=UTC),
        "follow_up_nudges": None,  # yesterday's; this morning's at 08:00 lists what is overdue
        "weekly_digest": datetime(2026, 9, 28, 9, 0, tzinfo=UTC),
        "feedback_retention": datetime(2026, 10, 1, 3, 30, tzinfo=UTC),
        "subscription_posts": None,  # every minute; what is owed waits in the outbox
    }
    late_in_quarter = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    assert last_due(rt, JOBS["quarterly_feedback_reminder"], late_in_quarter) == FIRST_DAY_Q4


# -- retention and the command line ---------------------------------------------------------------------
async def _feedback_on(rt, *days: date) -> None:
    async with rt.db.session() as session:
        acme = await factories.client(session, await factories.user(session, ADMIN, Role.ADMIN), "Acme")
        for n, day in enumerate(days):
            await feedback.submit(
                session,
                actor=await factories.user(session, f"URET{n}", Role.MANAGER),
                client_id=acme.id,
                today=day,
                data=feedback.parse_feedback(RATINGS | {"feedback_period": f"{day.year}-Q1"}),
            )


async def _feedback_count(rt) -> int:
    async with rt.db.session() as session:
        return await session.scalar(select(func.count()).select_from(ClientFeedback))


async def test_retention_honours_a_configured_number_of_years(rt, settings) -> None:
    await _feedback_on(rt, date(2023, 1, 10), date(2024, 12, 1), date(2026, 1, 5))
    settings.feedback_retention_years = 2
    result = await run_job(rt, "feedback_retention", datetime(2026, 12, 1, 3, 30, tzinfo=UTC))
    assert result == "removed 1 feedback row(s) older than 2 years"
    assert await _feedback_count(rt) == 2


async def _cli(tmp_path, database_url: str, *argv: str, **env: str) -> tuple[int, str, str]:
    """`clientbot ARGS` in a separate process, configured by its environment only (no `.env`)."""
    process = await asyncio.create_subprocess_exec(
        *cli_argv(*argv),
        cwd=tmp_path,
        env=cli_env(
            {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": PROJECT}, DATABASE_URL=database_url, **env
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode(), err.decode()


async def test_cli_jobs_list_and_run(rt, database_url, tmp_path) -> None:
    code, out, _ = await _cli(
        tmp_path, database_url, "jobs", "list", CLIENTBOT_SCHEDULES='{"weekly_digest": "0 9 * * fri"}'
    )
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert set(lines) == set(JOBS) and all(" next " in line for line in lines.values())
    assert datetime.strptime(lines["weekly_digest"].split()[2], "%Y-%m-%d").weekday() == 4  # a Friday
    today = datetime.now(UTC).date()
    await _feedback_on(rt, today - timedelta(days=3 * 366), today - timedelta(days=366))
    code, out, _ = await _cli(
        tmp_path, database_url, "jobs", "run", "feedback_retention", CLIENTBOT_FEEDBACK_RETENTION_YEARS="2"
    )
    assert (code, out.strip()) == (0, "feedback_retention: removed 1 feedback row(s) older than 2 years")
    assert await _feedback_count(rt) == 1
    code, _, err = await _cli(tmp_path, database_url, "jobs", "run", "no_such_job")
    assert code == 2 and "unknown job" in err
