"""App Home for every role (issue 12): a recruiter's own follow-ups (Done, Snooze, Log), clients they
logged lately and jobs they own; an HR Manager's feedback due with *Give feedback*; an HR Admin's agency
overview. Empty states offer the next action. Driven through signed `app_home_opened` events and clicks."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from bot import clock
from bot.models import ClientCommunication, Job, Role
from bot.services import communications
from tests import factories
from tests.conftest import ADMIN, MANAGER, RECRUITER


async def _seed(rt) -> dict:
    """Acme (managed by UMANAGER): URECRUITER logged a call with a follow-up due yesterday and owns an
    open job for it. Orphan Ltd has no account manager."""
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        recruiter = await factories.user(session, RECRUITER, Role.RECRUITER)
        await factories.user(session, ADMIN, Role.ADMIN)
        acme = await factories.client(session, manager, "Acme Analytics", account_manager_id=MANAGER)
        await factories.client(
            session,
            manager,
            "Orphan Ltd",
            website=None,
            contacts=[{"full_name": "O", "email": "o@orphan.example.com"}],
        )
        record = await communications.log(
            session,
            actor=recruiter,
            client_id=acme.id,
            data=communications.parse_communication(
                {
                    "communication_type": "call",
                    "communication_date": clock.now() - timedelta(days=3),
                    "subject": "Renewal call",
                    "follow_up_date": clock.today(rt.settings.tz) - timedelta(days=1),
                }
            ),
        )
        session.add(Job(reference="R-1", title="Data Engineer", client_id=acme.id, owner_id=recruiter.id))
        return {"acme": acme.id, "code": acme.client_code, "record": record.id}


async def _home(slack, fake, user: str) -> dict:
    before = len(fake.calls_to("views.publish"))
    await slack.open_home(user)
    await fake.wait_for("views.publish", lambda c: len(fake.calls_to("views.publish")) > before)
    return fake.calls_to("views.publish")[-1].params["view"]


def _actions(view: dict) -> list[dict]:
    return [
        e
        for b in view["blocks"]
        for e in b.get("elements", []) + ([b["accessory"]] if "accessory" in b else [])
        if e.get("type") == "button"
    ]


async def test_a_recruiters_home_has_their_follow_ups_clients_and_jobs(slack, fake, rt) -> None:
    seeded = await _seed(rt)
    home = await _home(slack, fake, RECRUITER)
    text = json.dumps(home)
    assert "none with this status" not in text and "All statuses" not in text  # no portfolio filters
    assert f"Acme Analytics ({seeded['code']})" in text  # names with codes
    assert "Renewal call" in text and "yesterday" in text  # relative date…
    assert (clock.today(rt.settings.tz) - timedelta(days=1)).strftime(
        "%d %b %Y"
    ) in text  # …with the exact one
    assert "Clients you logged lately" in text and "3 days ago" in text
    assert "Jobs you own" in text and "Data Engineer" in text and "`R-1`" in text
    buttons = {(b["action_id"], b.get("value")) for b in _actions(home)}
    assert {
        ("home_follow_up_done", str(seeded["record"])),
        ("home_follow_up_snooze", str(seeded["record"])),
        ("comm_log_open", str(seeded["acme"])),
    } <= buttons

    await slack.block_action("home_follow_up_done", value=str(seeded["record"]), user_id=RECRUITER, view=home)
    after = await fake.wait_for(
        "views.publish", lambda c: "Nothing due this week" in json.dumps(c.params["view"])
    )
    assert after.params["user_id"] == RECRUITER
    async with rt.db.session() as session:
        record = await session.get(ClientCommunication, seeded["record"])
        assert record.follow_up_done_at is not None


async def test_snooze_on_home_stores_it_and_hides_the_follow_up(slack, fake, rt) -> None:
    seeded = await _seed(rt)
    home = await _home(slack, fake, RECRUITER)
    await slack.block_action(
        "home_follow_up_snooze", value=str(seeded["record"]), user_id=RECRUITER, view=home
    )
    await fake.wait_for("views.publish", lambda c: "Nothing due this week" in json.dumps(c.params["view"]))
    async with rt.db.session() as session:
        record = await session.get(ClientCommunication, seeded["record"])
        assert record.follow_up_snoozed_until == clock.today(rt.settings.tz) + timedelta(days=7)


async def test_a_managers_home_offers_give_feedback_per_client_due(slack, fake, rt) -> None:
    seeded = await _seed(rt)
    home = await _home(slack, fake, MANAGER)
    text = json.dumps(home)
    assert "Feedback due for" in text
    assert ("feedback_open", str(seeded["acme"])) in {
        (b["action_id"], b.get("value")) for b in _actions(home)
    }
    assert f"Acme Analytics ({seeded['code']})" in text and "last contact 3 days ago" in text


async def test_an_admins_home_has_the_agency_overview(slack, fake, rt) -> None:
    await _seed(rt)
    home = await _home(slack, fake, ADMIN)
    text = json.dumps(home)
    assert "Agency overview" in text
    fields = [f["text"] for b in home["blocks"] for f in b.get("fields", [])]
    assert "*:large_green_circle: Active*\n2" in fields
    assert "*Without account manager*\n1" in fields
    assert any(f.startswith("*Feedback for ") and f.endswith("0 of 2 clients (0%)") for f in fields)
    assert "Orphan Ltd (CLT-" in text


async def test_an_empty_home_offers_the_next_action(slack, fake, rt) -> None:
    async with rt.db.session() as session:
        await factories.user(session, RECRUITER, Role.RECRUITER)
    home = await _home(slack, fake, RECRUITER)
    assert "Nothing due this week" in json.dumps(home)
    await slack.block_action("home_log", user_id=RECRUITER, view=home)
    opened = await fake.wait_for("views.open")
    assert opened.params["view"]["callback_id"] == "comm_pick_client"
    async with rt.db.session() as session:
        assert not list(await session.scalars(select(ClientCommunication)))
