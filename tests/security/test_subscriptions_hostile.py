"""Issue 13 parts 2 and 3 under attack: who may subscribe a channel or see the success metrics (recruiters,
Slack guests, forged requests), private figures kept out of channels shared with other organisations, and
client names carrying Slack markup into subscription posts."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from bot.models import ChannelSubscription, ClientStatus, Role, SubscriptionOutbox
from bot.scheduler import run_job
from bot.services import clients, feedback, periods
from bot.services import subscriptions as subs_service
from tests import factories
from tests.conftest import GUEST, MANAGER, RECRUITER
from tests.security.test_injection_slack_format import EVIL_NAME, markup_in
from tests.test_feedback import RATINGS
from tests.test_subscriptions import CHANNEL, _hire, _posts, _subscribe

pytestmark = pytest.mark.asyncio


async def _count(rt, model) -> int:
    async with rt.db.session() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def test_recruiters_and_guests_cannot_subscribe_or_unsubscribe(slack, fake, rt) -> None:
    acme = await factories.acme_with_team(rt.db)
    fake.add_channel(CHANNEL)
    assert "Only an HR Manager" in await _subscribe(slack, fake, acme.client_code, user_id=RECRUITER)
    assert "guest" in (await _subscribe(slack, fake, acme.client_code, user_id=GUEST)).lower()
    assert await _count(rt, ChannelSubscription) == 0
    await _subscribe(slack, fake, acme.client_code)  # the manager may
    await slack.command(f"unsubscribe {acme.client_code}", user_id=RECRUITER, channel_id=CHANNEL)
    assert "Only an HR Manager" in json.dumps(await fake.wait_for_response(slack.last_response_url))
    await slack.command("subscriptions", user_id=GUEST, channel_id=CHANNEL)
    listed = json.dumps(await fake.wait_for_response(slack.last_response_url))
    assert acme.client_code not in listed
    async with rt.db.session() as session:
        assert (await session.scalar(select(ChannelSubscription))).disabled_at is None


async def test_a_forged_subscribe_request_does_nothing(slack, fake, rt) -> None:
    acme = await factories.acme_with_team(rt.db)
    fake.add_channel(CHANNEL)
    reply = await slack.command(
        f"subscribe {acme.client_code}", user_id=MANAGER, channel_id=CHANNEL, signature="v0=" + "0" * 64
    )
    assert reply.status == 401
    assert await _count(rt, ChannelSubscription) == 0
    assert fake.calls_to("conversations.info") == []


@pytest.mark.parametrize("shared", [{"is_ext_shared": True}, {"is_shared": True}, {"is_org_shared": True}])
async def test_a_shared_channel_gets_no_fees_or_feedback_scores(slack, fake, rt, shared) -> None:
    acme = await factories.acme_with_team(rt.db)
    fake.add_channel(CHANNEL)
    await _subscribe(slack, fake, acme.client_code)
    fake.channels[CHANNEL] |= shared  # shared with another organisation after subscribing
    await _hire(rt, acme, fee="98765.00")
    quarter = periods.last_completed_quarter(clients_today(rt))
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        await feedback.submit(
            session,
            actor=manager,
            client_id=acme.id,
            today=clients_today(rt),
            data=feedback.parse_feedback(RATINGS | {"feedback_period": quarter}),
        )
        await feedback.finalize(session, actor=manager, client_id=acme.id, period=quarter)
    assert await run_job(rt, "subscription_posts") == "posted 2 update(s)"
    text = json.dumps([c.params for c in _posts(fake)], ensure_ascii=False)
    assert "Ada Lovelace" in text and quarter in text  # the events themselves are posted
    assert "98765" not in text and "· fee" not in text and "overall" not in text and "/ 5" not in text
    # The figures are kept in the outbox (for internal channels), not lost.
    async with rt.db.session() as session:
        payloads = [o.payload for o in await session.scalars(select(SubscriptionOutbox))]
    assert any(p.get("fee") == "98765.00" for p in payloads)


async def test_a_channel_whose_info_cannot_be_read_counts_as_shared(slack, fake, rt) -> None:
    acme = await factories.acme_with_team(rt.db)
    fake.add_channel(CHANNEL)
    await _subscribe(slack, fake, acme.client_code)
    await _hire(rt, acme, fee="5555.00")
    fake.failing["conversations.info"] = "internal_error"
    assert await run_job(rt, "subscription_posts") == "posted 1 update(s)"
    assert "5555" not in json.dumps(_posts(fake)[0].params)


async def test_markup_in_client_names_and_reasons_stays_text_in_posts(slack, fake, rt) -> None:
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        evil = await factories.client(session, manager, EVIL_NAME, website="https://acme.example.com")
    fake.add_channel(CHANNEL)
    answer = await _subscribe(slack, fake, evil.client_code)
    assert not markup_in(json.loads(answer))
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        await clients.change_status(
            session,
            actor=manager,
            client_id=evil.id,
            status=ClientStatus.ON_HOLD,
            reason="<!here> <http://evil.example|re-login> *now*",
        )
        await subs_service.publish(
            session,
            await clients.get(session, evil.id),
            subs_service.SubscriptionEvent.HEALTH,
            before="healthy",
            after="<!channel>",
            reasons=["<@U1>"],
        )
    assert await run_job(rt, "subscription_posts") == "posted 2 update(s)"
    for post in _posts(fake):
        assert not markup_in(post.params), post.params
    assert "&lt;!channel&gt;" in json.dumps(_posts(fake)[0].params)
    await slack.command("subscriptions", user_id=MANAGER, channel_id=CHANNEL)
    assert not markup_in(await fake.wait_for_response(slack.last_response_url))


async def test_oversized_and_odd_subscribe_arguments_are_refused(slack, fake, rt) -> None:
    acme = await factories.acme_with_team(rt.db)
    fake.add_channel(CHANNEL)
    answer = await _subscribe(slack, fake, f"{acme.client_code} " + "x" * 5000)
    assert "Unknown event" in answer and len(answer) < 2000
    assert "No client" in await _subscribe(slack, fake, "CLT-1999-9999")
    assert (
        "say which client" in (await _subscribe(slack, fake, '""')).lower()
        or await _count(rt, ChannelSubscription) == 0
    )
    assert await _count(rt, ChannelSubscription) == 0


def clients_today(rt):
    from bot import clock

    return clock.today(rt.settings.tz)


async def test_metrics_refuse_recruiters_guests_and_forged_requests(slack, fake, rt) -> None:
    await factories.acme_with_team(rt.db)
    for user in (RECRUITER, GUEST):
        await slack.command("metrics", user_id=user)
        answer = json.dumps(await fake.wait_for_response(slack.last_response_url))
        assert "Logging coverage" not in answer and ("Only an HR Manager" in answer or "guest" in answer)
    calls = len(fake.calls)
    reply = await slack.command("metrics", user_id=MANAGER, signature="v0=" + "f" * 64)
    assert reply.status == 401 and len(fake.calls) == calls


async def test_a_hostile_metrics_period_is_refused_as_text(slack, fake, rt) -> None:
    await factories.acme_with_team(rt.db)
    await slack.command("metrics <!channel>" + "9" * 3000, user_id=MANAGER)
    answer = await fake.wait_for_response(slack.last_response_url)
    assert "is not a period" in json.dumps(answer) and not markup_in(answer)
