"""Payloads as Slack sends them (bolt-python's own fixtures): a submission carries every input of the
modal, untouched ones with their initial value or Slack's null/empty shape; every payload names the team,
the enterprise and whether the install is org-wide; a click in an ephemeral message carries no `message`."""

from __future__ import annotations

import json

from sqlalchemy import select

from bot.models import Client, Role
from tests import factories
from tests.conftest import MANAGER, RECRUITER
from tests.slack_client import full_state
from tests.test_clients_slack import GOOD_FORM, open_new_client_modal
from tests.test_communications_slack import FORM as LOG_FORM
from tests.test_communications_slack import _acme, _open_log
from tests.test_dashboard import seed_account

GRID = {"id": "E0GRID", "name": "Sandbox Org"}


def test_full_state_has_every_stateful_element_with_slacks_empty_shapes() -> None:
    view = {
        "blocks": [
            {"type": "input", "block_id": "t", "element": {"type": "plain_text_input", "action_id": "v"}},
            {
                "type": "input",
                "block_id": "t2",
                "element": {"type": "plain_text_input", "action_id": "v", "initial_value": "kept"},
            },
            {"type": "input", "block_id": "s", "element": {"type": "static_select", "action_id": "v"}},
            {"type": "input", "block_id": "m", "element": {"type": "multi_users_select", "action_id": "v"}},
            {"type": "input", "block_id": "c", "element": {"type": "checkboxes", "action_id": "v"}},
            {"type": "input", "block_id": "d", "element": {"type": "datepicker", "action_id": "v"}},
            {"type": "input", "block_id": "f", "element": {"type": "file_input", "action_id": "v"}},
            {"type": "input", "block_id": "n", "element": {"type": "number_input", "action_id": "v"}},
            {"type": "actions", "block_id": "a", "elements": [{"type": "button", "action_id": "b"}]},
            {"type": "section", "block_id": "x", "text": {"type": "mrkdwn", "text": "no state"}},
        ]
    }
    typed = {"s": {"v": {"type": "static_select", "selected_option": {"value": "1", "text": {}}}}}
    assert full_state(view, typed | {"gone": {"v": {}}}) == {
        "t": {"v": {"type": "plain_text_input", "value": None}},
        "t2": {"v": {"type": "plain_text_input", "value": "kept"}},
        "s": typed["s"],
        "m": {"v": {"type": "multi_users_select", "selected_users": []}},
        "c": {"v": {"type": "checkboxes", "selected_options": []}},
        "d": {"v": {"type": "datepicker", "selected_date": None}},
        "f": {"v": {"type": "file_input", "files": []}},
        "n": {"v": {"type": "number_input", "value": None}},
    }


async def test_a_client_modal_submitted_with_its_full_state_creates_the_client(slack, fake, rt) -> None:
    async with rt.db.session() as session:
        await factories.user(session, MANAGER, Role.MANAGER)
    view = await open_new_client_modal(slack, fake)
    reply = await slack.submit_form(
        view, {k: GOOD_FORM[k] for k in ("name", "contact_0_name", "contact_0_email")}, user_id=MANAGER
    )
    assert reply.status == 200 and not reply.body
    done = await fake.wait_for_response(json.loads(view["private_metadata"])["response_url"])
    assert "Created *Tech Corp Inc.*" in json.dumps(done)
    async with rt.db.session() as session:
        made = await session.scalar(select(Client))
    assert made.name == "Tech Corp Inc." and made.website is None and made.city is None


async def test_enterprise_grid_payloads_and_an_ephemeral_click_without_message(slack, fake, rt) -> None:
    """In an Enterprise Grid workspace (the app installed on the team, not org-wide), with the dashboard
    shown ephemerally: its Share button arrives without `message`, and still shares."""
    fake.enterprise_id = GRID["id"]
    slack.enterprise = GRID
    acme = await seed_account(rt)
    await slack.command(f"show {acme.client_code}", user_id=MANAGER)
    board = await fake.wait_for_response(slack.last_response_url)
    share = next(  # the card's *More* menu
        o
        for b in board["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        for o in e.get("options", [])
        if o["value"].startswith("share:")
    )
    url = fake.new_response_url()
    await slack.block_action("dashboard_more", selected_option=share, user_id=MANAGER, response_url=url)
    shared = await fake.wait_for_response(url)
    assert shared["response_type"] == "in_channel" and "Acme Analytics" in json.dumps(shared)


async def test_a_submission_carries_the_id_the_fake_gave_the_opened_modal(slack, fake, rt) -> None:
    """The view in a submission is the one the app opened (its id and hash from views.open), so the
    progress the app shows after the ack goes to that very modal."""
    acme = await _acme(rt)
    view = await _open_log(slack, fake, acme)
    opened = fake.calls_to("views.open")[-1].response["view"]
    await slack.submit_form(view, LOG_FORM | {"type": "call"}, user_id=RECRUITER)
    done = await fake.wait_for("views.update", lambda c: c.params["view"]["callback_id"] == "comm_logged")
    assert done.params["view_id"] == opened["id"]
