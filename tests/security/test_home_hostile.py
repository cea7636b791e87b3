"""Hostile use of App Home and the card's menus (issue 12): someone else's follow-up, a guest's Home, forged
menu values, a client the clicker may not see, and unsigned clicks: no side effect, nothing shown."""

from __future__ import annotations

import json
from datetime import timedelta

from bot import clock
from bot.models import ClientCommunication, ClientStatus, Role
from bot.services import clients, communications
from tests import factories
from tests.conftest import ADMIN, GUEST, MANAGER, RECRUITER

OTHER = "UOTHERREC"


async def _record(rt):
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        recruiter = await factories.user(session, RECRUITER, Role.RECRUITER)
        await factories.user(session, OTHER, Role.RECRUITER)
        acme = await factories.client(session, manager, "Acme <!channel>", account_manager_id=MANAGER)
        record = await communications.log(
            session,
            actor=recruiter,
            client_id=acme.id,
            data=communications.parse_communication(
                {
                    "communication_type": "call",
                    "communication_date": clock.now() - timedelta(days=1),
                    "subject": "<@U999> *bold* <https://evil.example|click>",
                    "follow_up_date": clock.today(rt.settings.tz),
                }
            ),
        )
        return acme, record


async def test_another_recruiter_cannot_close_or_snooze_my_follow_up(slack, fake, rt) -> None:
    fake.add_user(OTHER, "other")
    _acme, record = await _record(rt)
    for action in ("home_follow_up_done", "home_follow_up_snooze"):
        await slack.block_action(
            action, value=str(record.id), user_id=OTHER, view={"type": "home", "blocks": []}
        )
    print("CALLS", [c.method for c in fake.calls])
    async with rt.db.session() as session:
        stored = await session.get(ClientCommunication, record.id)
        assert stored.follow_up_done_at is None and stored.follow_up_snoozed_until is None


async def test_user_text_on_home_is_escaped_and_a_guest_sees_nothing(slack, fake, rt) -> None:
    await _record(rt)
    await slack.open_home(RECRUITER)
    home = json.dumps((await fake.wait_for("views.publish")).params["view"])
    assert "<!channel>" not in home and "<@U999>" not in home and "<https://evil" not in home
    assert "Acme &lt;!channel&gt;" in home
    fake.calls.clear()
    await slack.open_home(GUEST)
    guest = json.dumps((await fake.wait_for("views.publish")).params["view"])
    assert "Acme" not in guest and "can't see client records" in guest


async def test_forged_or_unseen_menu_values_do_nothing(slack, fake, rt) -> None:
    acme, _ = await _record(rt)
    async with rt.db.session() as session:
        admin = await factories.user(session, ADMIN, Role.ADMIN)
        await clients.change_status(
            session, actor=admin, client_id=acme.id, status=ClientStatus.ARCHIVED, reason="gone"
        )
    for value in ("export:not-a-uuid", f"drop:{acme.id}", "export", f"share:{acme.id}"):
        option = {"value": value, "text": {"type": "plain_text", "text": "x"}}
        url = fake.new_response_url()
        await slack.block_action(
            "dashboard_more", selected_option=option, user_id=RECRUITER, response_url=url
        )
    assert fake.uploaded_files() == []
    assert "went wrong" not in json.dumps([c.params for c in fake.calls])  # forged values are ignored
    shared = [c for c in fake.calls if "in_channel" in json.dumps(c.params)]
    assert shared == []  # an archived client is not shared by a recruiter, whatever the menu says


async def test_an_unsigned_home_click_changes_nothing(slack, fake, rt) -> None:
    _acme, record = await _record(rt)
    reply = await slack.block_action(
        "home_follow_up_done",
        value=str(record.id),
        user_id=RECRUITER,
        view={"type": "home"},
        signature="v0=bad",
    )
    assert reply.status == 401
    async with rt.db.session() as session:
        assert (await session.get(ClientCommunication, record.id)).follow_up_done_at is None
    assert fake.calls_to("views.publish") == []
