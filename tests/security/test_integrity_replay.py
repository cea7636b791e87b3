"""Issue 11 item 12: a signed request captured on the way (a proxy log, a browser extension) and sent
again byte for byte within Slack's 5-minute signature window, without `X-Slack-Retry-Num`, does nothing
the second time."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import func, select

from bot.models import AuditLog, ClientCommunication, Role
from tests import factories
from tests.conftest import MANAGER, RECRUITER, app_idle

FORM = {"type": "call", "subject": "Quarterly review", "notes": "Went well", "when": 1772352000}


async def _acme(rt):
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        return await factories.client(session, manager, "Acme")


async def _count(rt, model) -> int:
    async with rt.db.session() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_a_replayed_view_submission_logs_nothing_the_second_time(slack, fake, rt) -> None:
    """On main the middleware skipped a repeated body only when it carried X-Slack-Retry-Num: the replay
    was acked with the "Saving…" view and a second, identical communication was logged."""
    acme = await _acme(rt)
    await slack.command(f"log {acme.client_code}", user_id=RECRUITER)
    view = await fake.filled(await fake.wait_for("views.open"))
    reply = await slack.view_submission(view, slack.form_values(view, FORM), user_id=RECRUITER)
    assert reply.json["response_action"] == "update"
    await fake.wait_for("views.update", lambda c: c.params["view"]["callback_id"] == "comm_logged")
    assert await _count(rt, ClientCommunication) == 1
    updates = len(fake.calls_to("views.update"))  # the form filled in, then "logged"

    replay = await slack.replay_last()
    assert (replay.status, replay.body) == (200, "")
    await asyncio.sleep(0.5)  # anything the replay had started after its ack would have run by now
    assert await _count(rt, ClientCommunication) == 1
    assert len(fake.calls_to("views.update")) == updates


async def test_a_replayed_command_changes_nothing_the_second_time(slack, fake, rt) -> None:
    """A status change replayed: on main the command ran twice (a second audit entry and reply)."""
    acme = await _acme(rt)
    await slack.command(f"status {acme.client_code} on-hold", user_id=MANAGER)
    await fake.wait_for_response(slack.last_response_url)
    audits = await _count(rt, AuditLog)
    replay = await slack.replay_last()
    assert (replay.status, replay.body) == (200, "")
    await asyncio.sleep(0.5)
    assert await _count(rt, AuditLog) == audits
    assert len(fake.responses[slack.last_response_url.rsplit("/", 1)[-1]]) == 1


async def test_the_same_type_ahead_twice_is_answered_both_times(slack, fake, rt) -> None:
    """Options requests change nothing and repeat byte for byte when a user types the same text again:
    they are never taken for replays (nor written down before the ack)."""
    await _acme(rt)
    await slack.shortcut("log_communication", user_id=RECRUITER)
    pick = await fake.filled(await fake.wait_for("views.open"))
    block = next(b for b in pick["blocks"] if b.get("element", {}).get("type") == "external_select")
    action_id = block["element"]["action_id"]
    who = RECRUITER
    first, second = [
        await slack.block_suggestion(action_id, "acme", block_id=block["block_id"], view=pick, user_id=who)
        for _ in range(2)
    ]
    assert first.json == second.json and "Acme" in json.dumps(second.json["options"])


async def test_a_replayed_click_leaves_no_dispatch_waiting_for_its_ack(slack, fake, rt, caplog) -> None:
    """A replay is refused by DeliveryAck right after its ack (one INSERT). Bolt's asyncio runner then set
    `ack.response = None`; when that came within its 10 ms ack poll, the dispatch behind the ack polled
    for its 3 s ack timeout and warned that the listener never called ack()."""
    acme = await _acme(rt)
    await slack.block_action("client_open", value=str(acme.id), user_id=MANAGER)
    await fake.wait_for("views.update")
    assert await app_idle(rt)
    opened = len(fake.calls_to("views.open"))

    caplog.clear()
    for _ in range(5):  # each replay races Bolt's poll once
        replay = await slack.replay_last()
        assert (replay.status, replay.body) == (200, "")
    assert await app_idle(rt)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert not [w for w in warnings if "ack()" in w or "not handled" in w], warnings
    assert len(fake.calls_to("views.open")) == opened
