"""Channel subscriptions through signed `/client subscribe | subscriptions | unsubscribe` requests, and
their posts: one thread per client and week, exactly once across runs, replicas and restarts, a channel
the bot cannot post into disabling the subscription."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from decimal import Decimal

import aiohttp
from sqlalchemy import func, select, update

from bot import clock
from bot.models import (
    AuditLog,
    ChannelSubscription,
    ClientStatus,
    Role,
    ScheduledRun,
    SubscriptionEvent,
    SubscriptionOutbox,
    SubscriptionThread,
)
from bot.runtime import Runtime
from bot.scheduler import JOBS, run_job
from bot.services import communications, feedback, jobs, periods, pipeline, subscriptions
from bot.storage import LocalStorage
from tests import factories
from tests.conftest import ADMIN, MANAGER, RECRUITER
from tests.test_api import Api, token
from tests.test_feedback import RATINGS

CHANNEL = "CACCOUNTS"


async def _subscribe(slack, fake, text: str, *, user_id: str = MANAGER, channel: str = CHANNEL) -> str:
    await slack.command(f"subscribe {text}", user_id=user_id, channel_id=channel)
    return json.dumps(await fake.wait_for_response(slack.last_response_url), ensure_ascii=False)


async def _acme(rt):
    return await factories.acme_with_team(rt.db)


async def _set_status(rt, client, status: ClientStatus, reason: str | None = None) -> None:
    from bot.services import clients

    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        await clients.change_status(session, actor=manager, client_id=client.id, status=status, reason=reason)


async def _log_important(rt, client, subject: str) -> None:
    async with rt.db.session() as session:
        recruiter = await factories.user(session, RECRUITER)
        await communications.log(
            session,
            actor=recruiter,
            client_id=client.id,
            data=communications.parse_communication(
                {
                    "communication_type": "meeting",
                    "communication_date": clock.now().isoformat(timespec="minutes"),
                    "subject": subject,
                    "is_important": True,
                }
            ),
        )


async def _hire(rt, client, fee: str = "12000.00") -> None:
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        job = await jobs.create_job(
            session,
            actor=manager,
            data=jobs.JobIn.model_validate(
                {"title": "Data engineer", "client_id": client.client_code, "fee": fee}
            ),
        )
        candidate, _ = await pipeline.upsert_candidate(
            session,
            actor=manager,
            data=pipeline.CandidateIn(full_name="Ada Lovelace", email="ada@example.com"),
        )
        await pipeline.create_application(
            session,
            actor=manager,
            data=pipeline.ApplicationIn.model_validate(
                {"job_id": str(job.id), "candidate_id": str(candidate.id), "stage": "hired"}
            ),
        )


async def _outbox(rt) -> list[SubscriptionOutbox]:
    async with rt.db.session() as session:
        return list(await session.scalars(select(SubscriptionOutbox).order_by(SubscriptionOutbox.id)))


def _posts(fake, channel: str = CHANNEL) -> list:
    return [c for c in fake.calls_to("chat.postMessage") if c.params.get("channel") == channel]


async def test_a_manager_subscribes_and_the_channel_gets_a_thread_per_week(slack, fake, rt, clock) -> None:
    acme = await _acme(rt)
    fake.add_channel(CHANNEL, "acme-account")
    answer = await _subscribe(slack, fake, acme.client_code)
    assert "will now get status changes, hires, important communications" in answer
    async with rt.db.session() as session:
        [sub] = await session.scalars(select(ChannelSubscription))
        assert sub.channel_id == CHANNEL and sub.events == [e.value for e in SubscriptionEvent]
        assert await session.scalar(select(AuditLog.action).where(AuditLog.entity_id == sub.id)) == (
            "subscription.created"
        )
    await _set_status(rt, acme, ClientStatus.ON_HOLD, "budget freeze")
    await _log_important(rt, acme, "Renewal signed")
    await _hire(rt, acme)
    assert [o.event for o in await _outbox(rt)] == ["status", "important", "hire"]
    assert await run_job(rt, "subscription_posts") == "posted 3 update(s)"
    first, second, third = _posts(fake)
    text = json.dumps(first.params, ensure_ascii=False)
    assert acme.client_code in text and "*active* → *on-hold*" in text and "budget freeze" in text
    assert "thread_ts" not in first.params
    ts = fake.refused == [] and first.response["ts"]
    assert second.params["thread_ts"] == ts and third.params["thread_ts"] == ts
    assert "Renewal signed" in json.dumps(second.params) and "Ada Lovelace" in json.dumps(third.params)
    assert "12000.00" in json.dumps(third.params)  # the workspace's own channel sees the fee
    assert all(o.delivered_at and o.outcome == "posted" and o.message_ts for o in await _outbox(rt))
    # Nothing goes twice.
    assert await run_job(rt, "subscription_posts") == "nothing to post"
    assert len(_posts(fake)) == 3
    # A week later the client gets a new thread.
    clock.move_to(clock_now_plus(days=7))
    await _set_status(rt, acme, ClientStatus.ACTIVE)
    assert await run_job(rt, "subscription_posts") == "posted 1 update(s)"
    assert "thread_ts" not in _posts(fake)[-1].params
    async with rt.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(SubscriptionThread)) == 2


def clock_now_plus(**delta: int):
    return clock.now() + timedelta(**delta)


async def test_only_the_chosen_events_are_posted_and_unsubscribing_stops_them(slack, fake, rt) -> None:
    acme = await _acme(rt)
    fake.add_channel(CHANNEL)
    answer = await _subscribe(slack, fake, f"{acme.client_code} hires feedback")
    assert "hires, finalised feedback" in answer and "status" not in answer
    await _set_status(rt, acme, ClientStatus.ON_HOLD)
    assert await _outbox(rt) == []
    quarter = periods.last_completed_quarter(clock.today(rt.settings.tz))
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        await feedback.submit(
            session,
            actor=manager,
            client_id=acme.id,
            today=clock.today(rt.settings.tz),
            data=feedback.parse_feedback(RATINGS | {"feedback_period": quarter}),
        )
        await feedback.finalize(session, actor=manager, client_id=acme.id, period=quarter)
    assert await run_job(rt, "subscription_posts") == "posted 1 update(s)"
    text = json.dumps(_posts(fake)[0].params, ensure_ascii=False)
    assert quarter in text and "overall 4.0 / 5" in text
    await slack.command("subscriptions", user_id=RECRUITER, channel_id=CHANNEL)
    listed = json.dumps(await fake.wait_for_response(slack.last_response_url), ensure_ascii=False)
    assert acme.client_code in listed and "hires, finalised feedback" in listed
    await slack.command(f"unsubscribe {acme.client_code}", user_id=MANAGER, channel_id=CHANNEL)
    assert "no longer gets updates" in json.dumps(await fake.wait_for_response(slack.last_response_url))
    await _hire(rt, acme)
    assert await run_job(rt, "subscription_posts") == "nothing to post"
    async with rt.db.session() as session:
        sub = await session.scalar(select(ChannelSubscription))
        assert sub.disabled_reason == "unsubscribed"
        actions = list(await session.scalars(select(AuditLog.action).where(AuditLog.entity_id == sub.id)))
        assert "subscription.removed" in actions


async def test_subscribing_where_the_bot_cannot_post_is_refused_clearly(slack, fake, rt) -> None:
    acme = await _acme(rt)
    fake.add_channel(CHANNEL)
    fake.add_channel("COUT", member=False)
    fake.add_channel("CARCH", archived=True)
    fake.add_channel("CPRIV", private=True, member=False)
    assert "/invite @clientbot" in await _subscribe(slack, fake, acme.client_code, channel="COUT")
    assert "archived" in await _subscribe(slack, fake, acme.client_code, channel="CARCH")
    assert "can't see this channel" in await _subscribe(slack, fake, acme.client_code, channel="CPRIV")
    assert "not in a direct message" in await _subscribe(slack, fake, acme.client_code, channel="D0001")
    assert "Unknown event" in await _subscribe(slack, fake, f"{acme.client_code} gossip")
    async with rt.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(ChannelSubscription)) == 0


async def test_a_channel_that_goes_away_disables_its_subscription_with_an_audit_entry(
    slack, fake, rt
) -> None:
    acme = await _acme(rt)
    fake.add_channel(CHANNEL)
    await _subscribe(slack, fake, acme.client_code)
    await _set_status(rt, acme, ClientStatus.ON_HOLD)
    await _log_important(rt, acme, "Call")
    fake.channels[CHANNEL]["is_member"] = False  # the bot was removed from the channel
    result = await run_job(rt, "subscription_posts")
    assert "1 subscription(s) disabled" in result
    assert len(_posts(fake)) == 1  # the second post was not even tried
    async with rt.db.session() as session:
        sub = await session.scalar(select(ChannelSubscription))
        assert sub.disabled_at is not None and sub.disabled_reason == "slack: not_in_channel"
        entry = await session.scalar(select(AuditLog).where(AuditLog.action == "subscription.disabled"))
        assert entry.entity_id == sub.id and entry.actor_id is None
    assert {o.outcome for o in await _outbox(rt)} == {"dropped: slack: not_in_channel"}
    await _set_status(rt, acme, ClientStatus.ACTIVE)
    assert await run_job(rt, "subscription_posts") == "nothing to post"
    # Inviting the bot and subscribing again re-enables it.
    fake.invite_bot(CHANNEL)
    assert "now gets" in await _subscribe(slack, fake, acme.client_code)


async def test_a_failed_post_is_retried_and_nothing_goes_twice(slack, fake, rt) -> None:
    acme = await _acme(rt)
    fake.add_channel(CHANNEL)
    await _subscribe(slack, fake, acme.client_code)
    await _set_status(rt, acme, ClientStatus.ON_HOLD)
    fake.failing["chat.postMessage"] = "internal_error"
    assert "1 failed and will be retried" in await run_job(rt, "subscription_posts")
    del fake.failing["chat.postMessage"]
    # A restart: another runtime on the same database delivers what is still owed.
    other = Runtime(settings=rt.settings, db=rt.db, storage=LocalStorage(rt.settings.storage_dir))
    assert await run_job(other, "subscription_posts") == "posted 1 update(s)"
    assert await run_job(rt, "subscription_posts") == "nothing to post"
    assert len([c for c in _posts(fake) if c.response]) == 1


async def test_two_replicas_post_each_update_once(slack, fake, rt, settings, database_url) -> None:
    from bot.db import Database

    acme = await _acme(rt)
    fake.add_channel(CHANNEL)
    await _subscribe(slack, fake, acme.client_code)
    for n in range(5):
        await _log_important(rt, acme, f"Meeting {n}")
    replica = Runtime(
        settings=settings, db=Database(database_url), storage=LocalStorage(settings.storage_dir)
    )
    try:
        await asyncio.gather(run_job(rt, "subscription_posts"), run_job(replica, "subscription_posts"))
    finally:
        await replica.db.dispose()
    subjects = [s for c in _posts(fake) for s in [json.dumps(c.params)] if "Meeting" in s]
    assert len(subjects) == 5
    assert all(o.outcome == "posted" for o in await _outbox(rt))


async def test_publish_is_the_health_hook(rt) -> None:
    """The health service publishes health changes through the same entry point."""
    acme = await _acme(rt)
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        state = subscriptions.ChannelState(CHANNEL, is_member=True)
        await subscriptions.subscribe(
            session,
            actor=manager,
            channel=state,
            reference=acme.client_code,
            events=[SubscriptionEvent.HEALTH],
        )
        client = await session.get(type(acme), acme.id)
        owed = await subscriptions.publish(
            session,
            client,
            SubscriptionEvent.HEALTH,
            before="healthy",
            after="at-risk",
            reasons=["2 overdue"],
        )
        assert owed == 1
        assert (
            await subscriptions.publish(session, client, SubscriptionEvent.STATUS, before="a", after="b") == 0
        )
    [row] = await _outbox(rt)
    assert row.payload["after"] == "at-risk" and row.payload["client_code"] == acme.client_code


def test_the_job_is_scheduled_every_minute_without_catch_up() -> None:
    job = JOBS["subscription_posts"]
    assert job.cron == {"minute": "*"} and job.catch_up == timedelta(0)


async def test_fees_are_decimal_safe_in_payloads(rt) -> None:
    acme = await _acme(rt)
    async with rt.db.session() as session:
        manager = await factories.user(session, ADMIN, Role.ADMIN)
        state = subscriptions.ChannelState(CHANNEL, is_member=True)
        await subscriptions.subscribe(
            session, actor=manager, channel=state, reference=acme.client_code, events=[SubscriptionEvent.HIRE]
        )
        client = await session.get(type(acme), acme.id)
        await subscriptions.publish(session, client, SubscriptionEvent.HIRE, fee=Decimal("10.50"))
    [row] = await _outbox(rt)
    assert row.payload["fee"] == "10.50"


async def test_old_claims_are_forgotten_and_an_unconfirmed_post_is_never_sent_again(
    slack, fake, rt, clock
) -> None:
    acme = await _acme(rt)
    fake.add_channel(CHANNEL)
    await _subscribe(slack, fake, acme.client_code)
    await _set_status(rt, acme, ClientStatus.ON_HOLD)
    await _set_status(rt, acme, ClientStatus.ACTIVE)
    assert await run_job(rt, "subscription_posts") == "posted 2 update(s)"
    [_, second] = await _outbox(rt)
    # The process died after Slack's answer to the second post, before marking it.
    async with rt.db.session() as session:
        await session.execute(
            update(SubscriptionOutbox)
            .where(SubscriptionOutbox.id == second.id)
            .values(delivered_at=None, outcome=None)
        )
    assert await run_job(rt, "subscription_posts") == "posted 0 update(s)"  # its claim holds it back
    clock.move_to(clock_now_plus(days=3))
    async with rt.db.session() as session:
        assert await subscriptions.forget_old_claims(session) == 2
    assert await run_job(rt, "subscription_posts") == "nothing to post"
    assert len(_posts(fake)) == 2
    assert [o.outcome for o in await _outbox(rt)] == [
        "posted",
        "unconfirmed: claimed, Slack's answer not recorded",
    ]
    async with rt.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(ScheduledRun)) == 0


async def test_changes_made_in_slack_and_over_the_api_reach_the_channel(slack, fake, rt, app_url) -> None:
    acme = await _acme(rt)
    fake.add_channel(CHANNEL)
    await _subscribe(slack, fake, acme.client_code)
    await slack.command(f"status {acme.client_code} on-hold hiring paused", user_id=MANAGER)
    await fake.wait_for_response(slack.last_response_url)
    async with aiohttp.ClientSession() as http:
        api = Api(app_url, http)
        key = await token(rt, Role.MANAGER)
        status, job = await api.call(
            "POST", "/api/jobs", key, {"title": "Platform lead", "client_id": acme.client_code, "fee": "7000"}
        )
        assert status == 201, job
        status, candidate = await api.call(
            "POST", "/api/candidates", key, {"full_name": "Grace Hopper", "email": "grace@example.com"}
        )
        assert status == 201, candidate
        body = {"job_id": job["id"], "candidate_id": candidate["id"], "stage": "interviewed"}
        status, application = await api.call("POST", "/api/applications", key, body)
        assert status == 201, application
        assert await _outbox(rt) and len(await _outbox(rt)) == 1  # not a hire yet
        status, _ = await api.call("PATCH", f"/api/applications/{application['id']}", key, {"stage": "hired"})
        assert status == 200
    assert await run_job(rt, "subscription_posts") == "posted 2 update(s)"
    status_post, hire_post = _posts(fake)
    assert "hiring paused" in json.dumps(status_post.params)
    assert "Grace Hopper" in json.dumps(hire_post.params) and "7000" in json.dumps(hire_post.params)
