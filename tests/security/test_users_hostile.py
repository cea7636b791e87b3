"""Hostile users: forged team ids, Slack guests, deactivated admins, other enterprises. Each is refused
before any client data is read, whatever role the database gives them."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from bot.models import Client, Role, User
from tests import factories
from tests.conftest import ADMIN, MANAGER


async def _acme(rt):
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        return await factories.client(session, manager, "Acme Analytics", account_manager_id=MANAGER)


async def _answer(slack, fake, text: str, user_id: str) -> str:
    await slack.command(text, user_id=user_id)
    return json.dumps(await fake.wait_for_response(slack.last_response_url))


async def _stored(rt, slack_user_id: str) -> User | None:
    async with rt.db.session() as session:
        return await session.scalar(select(User).where(User.slack_user_id == slack_user_id))


async def test_a_forged_team_id_on_an_admins_command_is_refused(slack, fake, rt) -> None:
    """A signed command naming the admin's user id but another team: the admin of another workspace with
    the same id, or a forgery. Refused on the payload, before Slack or the database are asked."""
    acme = await _acme(rt)
    slack.team_id = "T0EVIL"
    said = await _answer(slack, fake, f"show {acme.client_code}", ADMIN)
    assert "another organisation" in said and "Acme Analytics" not in said
    assert fake.calls_to("users.info") == []
    assert await _stored(rt, ADMIN) is None


async def test_a_forged_user_team_on_a_shortcut_opens_nothing(slack, fake, rt) -> None:
    """Interactions carry `user.team_id`: a Slack Connect user in a shared channel has their own."""
    payload = slack._base("shortcut", ADMIN) | {"callback_id": "new_client", "trigger_id": "1.2.abc"}
    payload["user"]["team_id"] = "T0EVIL"
    await slack._interaction(payload)
    dm = await fake.wait_for("chat.postMessage")
    assert "another organisation" in json.dumps(dm.params)
    assert fake.calls_to("views.open") == []


async def test_a_manager_made_a_guest_keeps_no_manager_rights(slack, fake, rt, clock) -> None:
    await _acme(rt)
    await _answer(slack, fake, "list", MANAGER)
    fake.users[MANAGER]["guest"] = True  # a multi-channel guest now
    clock.shift(timedelta(days=1, minutes=1))
    said = await _answer(slack, fake, "new", MANAGER)
    assert "guest" in said
    # The modal opened on the trigger says why, and no client form is ever shown.
    shown = [c.params["view"] for c in fake.calls_to("views.open") + fake.calls_to("views.update")]
    assert all(v["callback_id"] in ("loading", "notice") for v in shown), shown
    said = await _answer(slack, fake, "list", MANAGER)
    assert "Acme Analytics" not in said


async def test_a_single_channel_guest_gets_no_client_list(slack, fake, rt) -> None:
    """Single-channel guests are `is_ultra_restricted` (and `is_restricted`): no client data, the list
    included."""
    await _acme(rt)
    fake.add_user("USINGLE", "single", ultra_restricted=True)
    said = await _answer(slack, fake, "list", "USINGLE")
    assert "Acme Analytics" not in said and "guest" in said


async def test_a_deactivated_configured_admin_is_refused_and_not_made_admin_again(slack, fake, rt) -> None:
    acme = await _acme(rt)
    fake.users[ADMIN]["deleted"] = True
    said = await _answer(slack, fake, f"deactivate {acme.client_code} closing", ADMIN)
    assert "deactivated" in said
    admin = await _stored(rt, ADMIN)
    assert admin is None or (admin.role != Role.ADMIN.value)
    said = await _answer(slack, fake, f"show {acme.client_code}", ADMIN)
    assert "Acme Analytics" not in said
    async with rt.db.session() as session:
        assert (await session.get(Client, acme.id)).status == "active"


async def test_another_enterprise_is_refused_by_payload_and_by_profile(slack, fake, rt) -> None:
    """Enterprise Grid: the installation is in E0HOME. Another enterprise is refused whether the payload
    says so or only Slack's profile (`enterprise_user.enterprise_id`) does; another workspace of the same
    enterprise is the same organisation."""
    fake.enterprise_id = "E0HOME"
    acme = await _acme(rt)
    payload = slack._base("shortcut", "UOUTSIDER") | {"callback_id": "new_client", "trigger_id": "1.2.abc"}
    payload["enterprise"] = {"id": "E0OTHER", "name": "Other Corp"}
    fake.add_user("UOUTSIDER", "outsider", enterprise_id="E0OTHER")
    await slack._interaction(payload)
    assert "another organisation" in json.dumps((await fake.wait_for("chat.postMessage")).params)
    assert fake.calls_to("users.info") == []

    said = await _answer(slack, fake, f"show {acme.client_code}", "UOUTSIDER")  # payload silent on it
    assert "another organisation" in said and "Acme Analytics" not in said
    assert await _stored(rt, "UOUTSIDER") is None

    fake.add_user("USISTER", "sister", team_id="T0SISTER")  # same enterprise (E0HOME), another workspace
    assert "Acme Analytics" in await _answer(slack, fake, f"show {acme.client_code}", "USISTER")
