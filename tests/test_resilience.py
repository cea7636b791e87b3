"""Slack retries never write twice."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import func, select

from bot.models import Client, Role
from tests import factories
from tests.conftest import MANAGER
from tests.test_clients_slack import GOOD_FORM, open_new_client_modal


async def test_a_retried_view_submission_stores_one_row(slack, fake, rt) -> None:
    async with rt.db.session() as session:
        await factories.user(session, MANAGER, Role.MANAGER)
    view = await open_new_client_modal(slack, fake)
    first = await slack.view_submission(view, slack.form_values(view, GOOD_FORM), user_id=MANAGER)
    retries = [await slack.retry_last(retry_num=n) for n in (1, 2)]
    assert first.status == 200 and all(r.status == 200 and r.body == "" for r in retries)
    url = json.loads(view["private_metadata"])["response_url"]
    await fake.wait_for_response(url)
    await asyncio.sleep(0.3)
    assert len(fake.responses[url.rsplit("/", 1)[-1]]) == 1  # one confirmation: the retries did nothing
    async with rt.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Client)) == 1


async def test_a_retried_event_is_handled_once(slack, fake, rt) -> None:
    await slack.event(
        {"type": "app_home_opened", "user": MANAGER, "channel": "D1", "tab": "home"}, event_id="Ev1"
    )
    await fake.wait_for("views.publish")
    await slack.retry_last(retry_num=1)
    await slack.event(
        {"type": "app_home_opened", "user": MANAGER, "channel": "D1", "tab": "home"}, event_id="Ev2"
    )
    await fake.wait_for("views.publish", lambda c: len(fake.calls_to("views.publish")) >= 2)
    await asyncio.sleep(0.3)
    assert len(fake.calls_to("views.publish")) == 2  # Ev1 once, its retry skipped, Ev2 once


async def test_database_outage_gives_a_clear_message_and_writes_nothing(down_app_url, fake) -> None:
    from tests.conftest import SIGNING_SECRET
    from tests.slack_client import SlackClient

    client = SlackClient(down_app_url, SIGNING_SECRET, fake)
    try:
        reply = await client.command("list", user_id=MANAGER)
        assert reply.status == 200
        answer = json.dumps(await fake.wait_for_response(client.last_response_url, timeout=15))
        assert "database can't be reached" in answer and "nothing was saved" in answer
    finally:
        await client.close()


async def test_rate_limited_web_api_calls_are_retried(slack, fake, rt) -> None:
    async with rt.db.session() as session:
        await factories.user(session, MANAGER, Role.MANAGER)
    fake.rate_limited["views.open"] = 1
    await slack.command("new", user_id=MANAGER)
    await fake.wait_for("views.open", lambda c: len(fake.calls_to("views.open")) == 2, timeout=8)
    assert fake.rate_limited["views.open"] == 0  # the 429 was honoured (Retry-After) and the call repeated
