"""The user lifecycle against a Slack that answers like Slack: access fails closed when Slack can't say who
someone is, profiles are re-read after a day and on user_change / team_join, users of another
organisation and bots are refused, deactivated users lose their role, leave the pickers, get no DMs, and
their clients are listed to the HR Admins."""

from __future__ import annotations

import asyncio
import json
import re
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app
from slack_sdk.socket_mode.request import SocketModeRequest
from sqlalchemy import select

from bot import clock as app_clock
from bot.app import create_bolt_app
from bot.models import AuditLog, Role, User
from bot.scheduler import run_job
from tests import factories
from tests.conftest import ADMIN, MANAGER, RECRUITER, app_idle, eventually
from tests.slack_client import APP_ID
from tests.test_scheduler import FIRST_DAY_Q4, _log, _managed_clients

ROOT = Path(__file__).resolve().parent.parent
UNKNOWN = "couldn't tell clientbot who you are"


async def answer(slack, fake, text: str, user_id: str) -> str:
    """Run `/client TEXT` as `user_id`; what the app answered on the response_url."""
    await slack.command(text, user_id=user_id)
    return json.dumps(await fake.wait_for_response(slack.last_response_url))


async def stored(rt, slack_user_id: str) -> User | None:
    async with rt.db.session() as session:
        return await session.scalar(select(User).where(User.slack_user_id == slack_user_id))


async def acme_of(rt, manager_id: str = MANAGER, name: str = "Acme Analytics"):
    async with rt.db.session() as session:
        manager = await factories.user(session, manager_id, Role.MANAGER)
        return await factories.client(session, manager, name, account_manager_id=manager_id, website=None)


# -- item 1: access fails closed ----------------------------------------------------------------------
def _slack_cannot_tell(fake, how: str) -> str:
    """A new user whose users.info fails the way `how` says; returns their id."""
    if how == "user_not_found":
        return "UNOBODY"  # not registered: Slack doesn't know the id
    fake.add_user("UNEWBIE", "newbie")
    if how == "user_not_visible":
        fake.users["UNEWBIE"]["visible"] = False
    elif how == "ratelimited":  # 429 on the call and on both retries of the app's retry handler
        fake.rate_limited["users.info"] = 3
        fake.retry_after["users.info"] = 1
    elif how == "network":
        fake.disconnecting.add("users.info")
    return "UNEWBIE"


@pytest.mark.parametrize("how", ["user_not_found", "user_not_visible", "ratelimited", "network"])
async def test_when_slack_cannot_say_who_the_user_is_nothing_is_done_and_no_member_is_made(
    slack, fake, rt, how
) -> None:
    acme = await acme_of(rt)
    user_id = _slack_cannot_tell(fake, how)
    said = await answer(slack, fake, "list", user_id)
    assert UNKNOWN in said and acme.client_code not in said
    assert await stored(rt, user_id) is None  # no row with default member rights
    await slack.command("new", user_id=user_id)
    await fake.wait_for_response(slack.last_response_url)
    # The modal opens on the trigger at once (it must, within 3 s) and then only says why: no form.
    shown = [c.params["view"] for c in fake.calls_to("views.open") + fake.calls_to("views.update")]
    assert all(v["callback_id"] in ("loading", "notice") for v in shown), shown
    # Once Slack can tell (a 429 within the retries is fine), the same person is served.
    fake.add_user(user_id, "newbie")
    fake.disconnecting.clear()
    fake.rate_limited["users.info"] = 1
    assert acme.client_code in await answer(slack, fake, "list", user_id)
    assert (await stored(rt, user_id)).role == Role.RECRUITER.value


# -- freshness: re-read after a day, user_change and team_join at once ------------------------------
async def test_a_member_made_a_guest_loses_access_once_the_profile_is_a_day_old(
    slack, fake, rt, clock
) -> None:
    acme = await acme_of(rt)
    assert "Acme Analytics" in await answer(slack, fake, f"show {acme.client_code}", RECRUITER)
    fake.users[RECRUITER]["guest"] = True  # made a guest in Slack; no event reached us
    clock.shift(timedelta(hours=2))
    assert "Acme Analytics" in await answer(slack, fake, f"show {acme.client_code}", RECRUITER)
    assert len([c for c in fake.calls_to("users.info") if c.params["user"] == RECRUITER]) == 1
    clock.shift(timedelta(days=1))
    said = await answer(slack, fake, f"show {acme.client_code}", RECRUITER)
    assert "guest" in said and "Acme Analytics" not in said
    assert (await stored(rt, RECRUITER)).is_guest


async def test_user_change_makes_a_guest_at_once(slack, fake, rt) -> None:
    acme = await acme_of(rt)
    assert "Acme Analytics" in await answer(slack, fake, f"show {acme.client_code}", RECRUITER)
    fake.users[RECRUITER]["guest"] = True
    await slack.event({"type": "user_change", "user": fake.user_object(RECRUITER)})

    async def guest() -> bool:
        return (await stored(rt, RECRUITER)).is_guest

    assert await eventually(guest)
    said = await answer(slack, fake, f"show {acme.client_code}", RECRUITER)
    assert "guest" in said and "Acme Analytics" not in said


async def test_what_a_request_changes_on_its_sender_is_stored(slack, fake, rt) -> None:
    """The sender's user comes from the delivery record's own statement (`deliveries.receive`), not from
    the listener's session: a change to it (a configured HR Admin found stored with another role) is
    still written, and the next request reads the row as it is now, not as the previous one read it."""
    for user_id in (ADMIN, RECRUITER):
        await answer(slack, fake, "list", user_id)  # first sight
    async with rt.db.session() as session:
        (await session.scalar(select(User).where(User.slack_user_id == ADMIN))).role = Role.MANAGER.value
    await answer(slack, fake, "list", ADMIN)
    assert (await stored(rt, ADMIN)).role == Role.ADMIN.value
    async with rt.db.session() as session:
        (await session.scalar(select(User).where(User.slack_user_id == RECRUITER))).is_guest = True
    assert "guest" in await answer(slack, fake, "list", RECRUITER)


async def test_team_join_stores_the_new_member_with_their_profile(slack, fake, rt) -> None:
    fake.add_user("UJOINER", "joiner", tz="Europe/Paris", email="joiner@agency.example.com")
    await slack.event({"type": "team_join", "user": fake.user_object("UJOINER")})
    joiner = await eventually(lambda: stored(rt, "UJOINER"))
    assert joiner is not None and joiner.role == Role.RECRUITER.value
    assert (joiner.tz, joiner.email, joiner.display_name) == (
        "Europe/Paris",
        "joiner@agency.example.com",
        "joiner",
    )
    assert joiner.profile_checked_at is not None
    await answer(slack, fake, "list", "UJOINER")
    assert not [c for c in fake.calls_to("users.info") if c.params["user"] == "UJOINER"]  # fresh already


# -- item 9: the email comes with users:read.email ----------------------------------------------------
async def test_the_manifest_scopes_bring_the_users_email(slack, fake, rt) -> None:
    fake.add_user("UMAILED", "mailed", email="mailed@agency.example.com")
    await answer(slack, fake, "list", "UMAILED")
    assert (await stored(rt, "UMAILED")).email == "mailed@agency.example.com"


# -- item 2: other organisations ----------------------------------------------------------------------
async def test_a_slack_connect_user_is_refused_before_anything_is_read(slack, fake, rt) -> None:
    acme = await acme_of(rt)
    fake.add_user("UPARTNER", "partner", team_id="T0PARTNER")
    slack.team_id = "T0PARTNER"  # the payload carries the user's own team
    said = await answer(slack, fake, f"show {acme.client_code}", "UPARTNER")
    assert "another organisation" in said and "Acme Analytics" not in said
    assert fake.calls_to("users.info") == []  # refused on the payload alone
    assert await stored(rt, "UPARTNER") is None


async def test_a_user_slack_places_in_another_team_is_refused(slack, fake, rt) -> None:
    """The payload names the installation's team, but Slack's profile says the user is someone else's
    (a Slack Connect user in a shared channel)."""
    acme = await acme_of(rt)
    fake.add_user("UPARTNER", "partner", team_id="T0PARTNER")
    said = await answer(slack, fake, f"show {acme.client_code}", "UPARTNER")
    assert "another organisation" in said and "Acme Analytics" not in said
    assert await stored(rt, "UPARTNER") is None
    asked = len(fake.calls_to("auth.test"))  # the installation's organisation is asked once per process
    assert "Acme Analytics" in await answer(slack, fake, f"show {acme.client_code}", MANAGER)
    assert len(fake.calls_to("auth.test")) == asked


async def test_bots_are_refused(slack, fake, rt) -> None:
    acme = await acme_of(rt)
    fake.add_user("UROBOT", "robot", tz=None, is_bot=True)
    said = await answer(slack, fake, f"show {acme.client_code}", "UROBOT")
    assert "bots and apps" in said and "Acme Analytics" not in said
    assert await stored(rt, "UROBOT") is None


# -- item 3: deactivated users ------------------------------------------------------------------------
async def _deactivate_by_event(slack, fake, rt, user_id: str) -> User:
    fake.users[user_id]["deleted"] = True
    await slack.event({"type": "user_change", "user": fake.user_object(user_id)})

    async def gone() -> User | None:
        user = await stored(rt, user_id)
        return user if user and user.is_deleted else None

    return await eventually(gone)


async def test_a_deactivated_manager_loses_the_role_and_the_admins_get_the_clients(slack, fake, rt) -> None:
    acme = await acme_of(rt)
    globex = await acme_of(rt, name="Globex")
    assert globex.client_code != acme.client_code
    await answer(slack, fake, "list", ADMIN)  # the admin is known
    gone = await _deactivate_by_event(slack, fake, rt, MANAGER)
    assert gone is not None and gone.role == Role.RECRUITER.value
    async with rt.db.session() as session:
        audit = await session.scalar(select(AuditLog).where(AuditLog.action == "user.deactivated"))
    assert (
        audit.entity_id == gone.id
        and audit.before["role"] == "manager"
        and audit.after["role"] == "recruiter"
    )
    dm = await fake.wait_for("chat.postMessage", lambda c: c.params["channel"] == "D" + ADMIN[:10])
    text = json.dumps(dm.params)
    assert acme.client_code in text and globex.client_code in text and "Globex" in text
    assert "Reassign account manager" in text
    assert fake.calls_to("conversations.open")[0].params["users"] == ADMIN


async def test_a_deactivated_user_never_appears_in_the_account_manager_picker(slack, fake, rt) -> None:
    async with rt.db.session() as session:
        await factories.user(session, "UMANAGER2", Role.MANAGER, name="umanager2")
        await factories.user(session, MANAGER, Role.MANAGER, name="umanager")
    await _deactivate_by_event(slack, fake, rt, "UMANAGER2")
    await slack.command("new", user_id=ADMIN)
    view = await fake.filled(await fake.wait_for("views.open"))
    picker = next(b for b in view["blocks"] if b.get("block_id") == "account_manager")
    names = {o["text"]["text"] for o in picker["element"]["options"]}
    assert "umanager" in names and "umanager2" not in names


async def test_a_deactivated_user_cannot_be_given_a_role(slack, fake, rt) -> None:
    fake.users["UMANAGER2"]["deleted"] = True
    said = await answer(slack, fake, "role <@UMANAGER2|umanager2> manager", ADMIN)
    assert "deactivated in Slack" in said and "can't be given a role" in said
    target = await stored(rt, "UMANAGER2")
    assert target is None or target.role != Role.MANAGER.value


async def test_a_role_needs_slack_to_know_the_user(slack, fake, rt) -> None:
    said = await answer(slack, fake, "role <@UNOBODY|nobody> manager", ADMIN)
    assert "Slack can't tell clientbot who" in said
    assert await stored(rt, "UNOBODY") is None


async def test_a_user_deactivated_since_last_seen_is_refused_and_demoted_at_the_next_read(
    slack, fake, rt, clock
) -> None:
    acme = await acme_of(rt)
    await answer(slack, fake, f"show {acme.client_code}", MANAGER)
    fake.users[MANAGER]["deleted"] = True
    clock.shift(timedelta(days=1, minutes=1))
    said = await answer(slack, fake, f"show {acme.client_code}", MANAGER)
    assert "deactivated" in said and "Acme Analytics" not in said
    manager = await stored(rt, MANAGER)
    assert manager.is_deleted and manager.role == Role.RECRUITER.value


async def test_reminders_skip_a_deactivated_manager_instead_of_failing_forever(fake, rt) -> None:
    made = await _managed_clients(rt)
    fake.users["UOTHERMGR"]["deleted"] = True  # deactivated; we haven't heard yet
    result = await run_job(rt, "quarterly_feedback_reminder", FIRST_DAY_Q4)
    assert result == "reminded 1 manager(s) about 2 client(s) for 2026-Q3"  # nothing left to retry
    other = await stored(rt, "UOTHERMGR")
    assert other.is_deleted and other.role == Role.RECRUITER.value
    dm = await fake.wait_for("chat.postMessage", lambda c: c.params["channel"] == "D" + ADMIN[:10])
    assert made["Initech"].client_code in json.dumps(dm.params)
    opened = len(fake.calls_to("conversations.open"))
    assert "already sent" in await run_job(rt, "quarterly_feedback_reminder", FIRST_DAY_Q4)
    assert len(fake.calls_to("conversations.open")) == opened


async def test_nudges_are_not_sent_to_a_deactivated_user(slack, fake, rt) -> None:
    acme = await acme_of(rt)
    async with rt.db.session() as session:
        recruiter = await factories.user(session, RECRUITER)
        await _log(session, recruiter, acme, "Call back", app_clock.today(rt.settings.tz))
    await _deactivate_by_event(slack, fake, rt, RECRUITER)
    result = await run_job(rt, "follow_up_nudges", app_clock.now())  # run now, as an operator would
    assert result.startswith("nudged 0 person(s)") and "failed" not in result
    assert not [c for c in fake.calls_to("conversations.open") if c.params["users"] == RECRUITER]


# -- item 10: Socket Mode retries -------------------------------------------------------------------
def test_slack_bolt_is_required_at_a_version_that_passes_socket_mode_retries_on() -> None:
    """Bolt < 1.29 dropped Socket Mode's retry_attempt, so a redelivered event ran twice."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    bolt = next(Requirement(d) for d in deps if Requirement(d).name == "slack-bolt")
    assert not bolt.specifier.contains("1.28.9") and bolt.specifier.contains("1.29.0")


async def test_a_socket_mode_retry_of_an_event_is_handled_once(fake, rt) -> None:
    """Dispatched the way slack_bolt's Socket Mode adapter does (adapter/socket_mode/async_internals.py:
    `AsyncBoltRequest(mode="socket_mode", body=req.payload, headers=build_headers(req))`)."""
    app = create_bolt_app(rt)
    envelope = {
        "token": "legacy-verification-token",
        "team_id": "T0001",
        "api_app_id": APP_ID,
        "event": {"type": "app_home_opened", "user": ADMIN, "channel": "D0ADMIN", "tab": "home"},
        "type": "event_callback",
        "event_id": "Ev0SOCKET01",
        "event_time": int(app_clock.now().timestamp()),
        "authorizations": [{"team_id": "T0001", "user_id": "UBOT", "is_bot": True}],
    }
    first = SocketModeRequest("events_api", "env-1", envelope)
    retry = SocketModeRequest("events_api", "env-2", envelope, retry_attempt=1, retry_reason="timeout")
    assert (await run_async_bolt_app(app, first)).status == 200
    await fake.wait_for("views.publish")
    assert (await run_async_bolt_app(app, retry)).status == 200
    await app_idle(rt, within=5.0)
    await asyncio.sleep(0.2)
    assert len(fake.calls_to("views.publish")) == 1


def test_manifest_subscribes_to_user_events_and_asks_for_emails() -> None:
    text = (ROOT / "manifest.yml").read_text()
    assert re.search(r"^\s+- users:read\.email\b", text, re.M)
    assert re.search(r"^\s+- user_change\b", text, re.M) and re.search(r"^\s+- team_join\b", text, re.M)
