"""Scheduled jobs with a frozen clock: follow-up nudges, the weekly digest, and exactly-once delivery
when two schedulers run against the same database."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from bot.db import Database
from bot.models import Application, ClientCommunication, ClientStatus, Job, Role
from bot.runtime import Runtime
from bot.scheduler import run_job
from bot.services import clients, communications, pipeline
from bot.services.inputs import parse_input
from bot.storage import LocalStorage
from tests import factories
from tests.conftest import ADMIN, MANAGER, RECRUITER

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


async def test_follow_up_nudges_go_to_the_right_people_once(slack, fake, rt) -> None:
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
    assert "Send shortlist" in mine and "Chase contract" in mine and "3 day(s) overdue" in mine
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
        assert (await session.get(ClientCommunication, late.id)).follow_up_snoozed_until > date.today()


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


async def test_weekly_digest_with_a_frozen_clock(fake, rt) -> None:
    await _a_busy_week(rt)
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert await run_job(rt, "weekly_digest", monday) == "digest for 2026-W49: 1 hire(s)"
    [post] = fake.calls_to("chat.postMessage")
    text = json.dumps(post.params, ensure_ascii=False)
    assert post.params["channel"] == "CDIGEST"
    assert "active → on-hold" in text and "1 / 1" in text and "8,000.00" in text and "Overdue thing" in text
    [chart] = fake.uploaded_files()
    assert chart.channel_id == "CDIGEST" and chart.content.startswith(b"\x89PNG")
    assert "already sent" in await run_job(rt, "weekly_digest", monday + timedelta(hours=1))


async def test_two_schedulers_on_one_database_send_one_digest(fake, rt, settings) -> None:
    await _a_busy_week(rt)
    replicas = [
        Runtime(settings=settings, db=Database(rt.db.url), storage=LocalStorage(settings.storage_dir))
        for _ in range(2)
    ]
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    results = await asyncio.gather(*(run_job(r, "weekly_digest", monday) for r in replicas))
    assert sorted(r.split(":")[0] for r in results) in (
        ["digest for 2026-W49", "the digest for 2026-W49 was already sent"],
        ["digest for 2026-W49", "skipped"],
    )
    assert len(fake.calls_to("chat.postMessage")) == 1
    for replica in replicas:
        await replica.db.dispose()
    async with rt.db.session() as session:
        assert len(list(await session.scalars(select(Job)))) == 1


def test_schedules_are_configurable(settings, db) -> None:
    from bot.scheduler import JOBS, build_scheduler

    settings.schedules = {"weekly_digest": "30 16 * * fri"}
    scheduler = build_scheduler(Runtime(settings=settings, db=db, storage=LocalStorage(settings.storage_dir)))
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == set(JOBS)
    assert "day_of_week='fri'" in str(jobs["weekly_digest"].trigger) and "hour='16'" in str(
        jobs["weekly_digest"].trigger
    )
    assert "hour='0'" in str(jobs["nightly_analytics"].trigger)
