"""Issue 12, first half: what a person meets on each surface — broken replies, privacy, confirmations,
errors with a next step and modals — driven through signed requests against the strict fake Slack."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot import clock
from bot.models import Client, ClientCommunication, Role
from bot.services import jobs
from tests import factories
from tests.conftest import ADMIN, MANAGER, RECRUITER
from tests.test_bulk_slack import make_clients, picked, with_operation
from tests.test_clients_slack import GOOD_FORM, open_new_client_modal, submit
from tests.test_dashboard import seed_account
from tests.test_feedback import _client as feedback_client
from tests.test_feedback import _two_quarters


async def two_o_clients(rt) -> tuple[Client, Client]:
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        orion = await factories.client(session, manager, "Orion Labs")
        omega = await factories.client(
            session, manager, "Omega Foods", contacts=[{"full_name": "Ann Bee", "email": "ann@omega.example"}]
        )
        await session.commit()
        return orion, omega


def elements(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Every interactive element of a message: actions blocks' elements and section accessories."""
    found = []
    for block in message.get("blocks", []):
        found += block.get("elements", []) if block["type"] == "actions" else []
        if block.get("accessory", {}).get("type") in ("button", "overflow", "static_select"):
            found.append(block["accessory"])
    return found


# -- 1. a name matching several clients ------------------------------------------------------------------
async def test_a_name_matching_several_clients_offers_to_pick_one(slack, fake, rt) -> None:
    orion, omega = await two_o_clients(rt)
    await slack.command("show o", user_id=MANAGER)
    answer = await fake.wait_for_response(slack.last_response_url)
    shown = json.dumps(answer)
    assert "Something went wrong" not in shown  # today: the reply read ORM rows after the rollback
    assert "matches several clients" in shown and orion.client_code in shown and omega.client_code in shown
    pick = next(e for e in elements(answer) if omega.client_code in e["value"])
    url = fake.new_response_url()
    await slack.block_action(pick["action_id"], value=pick["value"], user_id=MANAGER, response_url=url)
    board = await fake.wait_for_response(url, contains="Active jobs")
    assert board["blocks"][0]["text"]["text"] == "Omega Foods"


async def test_picking_runs_the_typed_command_again_with_the_code(slack, fake, rt) -> None:
    orion, _ = await two_o_clients(rt)
    await slack.command('history "o" type:call', user_id=MANAGER)
    answer = await fake.wait_for_response(slack.last_response_url, contains="matches several")
    pick = next(e for e in elements(answer) if orion.client_code in e["value"])
    url = fake.new_response_url()
    await slack.block_action(pick["action_id"], value=pick["value"], user_id=MANAGER, response_url=url)
    history = json.dumps(await fake.wait_for_response(url))
    assert "Orion Labs" in history and "matches several" not in history


# -- 2. progress never stays on screen, never replaces the message holding the button ---------------------
async def test_report_progress_is_replaced_by_the_error(slack, fake, rt) -> None:
    await two_o_clients(rt)
    await slack.command("report CLT-2001-0999", user_id=MANAGER)
    url = slack.last_response_url
    await fake.wait_for_response(url, contains="No client has the code")
    shown = json.dumps(fake.original(url))
    assert "Building" not in shown and "No client has the code" in shown  # today: "⏳ Building…" stays


async def test_report_progress_is_replaced_by_the_picker(slack, fake, rt) -> None:
    await two_o_clients(rt)
    await slack.command("report o", user_id=MANAGER)
    url = slack.last_response_url
    await fake.wait_for_response(url, contains="matches several")
    assert "Building" not in json.dumps(fake.original(url))


# -- 3. privacy ---------------------------------------------------------------------------------------------
async def test_report_chart_goes_to_the_requester_privately(slack, fake, rt) -> None:
    acme = await feedback_client(rt)
    await _two_quarters(rt, acme)
    await slack.command(f"report {acme.client_code}", user_id=MANAGER, channel_id="C0001")
    await fake.wait_for_response(slack.last_response_url, contains="Performance")
    [chart] = [u for u in fake.uploaded_files() if u.filename.endswith(".png")]
    assert chart.channel_id.startswith("D")  # today: uploaded into C0001 for everyone


async def _share(slack, fake, rt, channel: str) -> str:
    acme = await seed_account(rt)
    await slack.command(f"show {acme.client_code}", user_id=MANAGER, channel_id=channel)
    board = await fake.wait_for_response(slack.last_response_url, contains="Active jobs")
    assert "Person 1" in json.dumps(board)  # the private dashboard names candidates
    url = fake.new_response_url()
    await slack.block_action(
        "dashboard_share", value=str(acme.id), user_id=MANAGER, response_url=url, channel_id=channel
    )
    shared = await fake.wait_for_response(url)
    assert shared["response_type"] == "in_channel"
    return json.dumps(shared)


async def test_share_in_channel_posts_no_private_data(slack, fake, rt) -> None:
    shown = await _share(slack, fake, rt, "C0001")
    assert "Acme Analytics" in shown and "Hire for D-2" in shown and "John Doe" in shown
    for private in ("Revenue", "Person 1", "john@techcorp", "overall", "Check-in"):
        assert private not in shown, private  # today: candidate names, email, feedback score, subjects


async def test_share_in_a_slack_connect_channel_leaves_out_contact_and_activity(slack, fake, rt) -> None:
    fake.add_channel("CEXT", "acme-connect", ext_shared=True, shared=True)
    shown = await _share(slack, fake, rt, "CEXT")
    assert "Acme Analytics" in shown and "Active jobs" in shown
    for private in ("John Doe", "Recent activity", "D-2", "Revenue"):
        assert private not in shown, private
    assert fake.calls_to("conversations.info")[-1].params["channel"] == "CEXT"


# -- 4. confirmations on what can't be undone --------------------------------------------------------------
async def test_finalize_asks_with_a_red_dialog(slack, fake, rt) -> None:
    acme = await feedback_client(rt)
    await _two_quarters(rt, acme)
    await slack.command(f"report {acme.client_code}", user_id=MANAGER)
    report = await fake.wait_for_response(slack.last_response_url, contains="Performance")
    [finalize] = [e for e in elements(report) if e["action_id"] == "feedback_finalize"]
    assert finalize["style"] == "danger"  # today: green (primary) and no dialog
    assert (
        finalize["confirm"]["style"] == "danger" and "can't be undone" in finalize["confirm"]["text"]["text"]
    )


async def test_bulk_archive_runs_from_a_red_button_with_a_dialog(slack, fake, rt) -> None:
    made = await make_clients(rt, 2)
    await slack.command("bulk", user_id=ADMIN)
    form = await fake.filled(await fake.wait_for("views.open"))
    assert "reason" not in {b.get("block_id") for b in form["blocks"]}  # today: every operation's settings
    form = await with_operation(slack, fake, form, "archive", user_id=ADMIN)
    assert {"reason"} == {b.get("block_id") for b in form["blocks"]} & {"reason", "status", "manager", "jobs"}
    values = slack.form_values(form, {"operation": "archive", "reason": "closed"}) | picked(made)
    reply = await slack.view_submission(form, values, user_id=ADMIN)
    external_id = reply.json["view"]["external_id"]
    update = await fake.wait_for("views.update", lambda c: c.params.get("external_id") == external_id)
    preview = update.params["view"]
    assert preview.get("submit") is None  # today: a green *Confirm*
    [run] = [e for b in preview["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert (
        run["style"] == "danger"
        and run["confirm"]["style"] == "danger"
        and "Archive 2" in run["text"]["text"]
    )
    async with rt.db.session() as session:
        assert {c.status for c in await session.scalars(select(Client))} == {"active"}
    await slack.block_action(run["action_id"], user_id=ADMIN, view=preview)
    done = await fake.wait_for("views.update", lambda c: c.params["view"]["callback_id"] == "bulk_done")
    assert "2 changed, 0 failed" in json.dumps(done.params["view"])
    async with rt.db.session() as session:
        assert {c.status for c in await session.scalars(select(Client))} == {"archived"}


# -- 5. errors with a next step ------------------------------------------------------------------------------
async def test_a_typo_suggests_the_command_and_runs_it(slack, fake, rt) -> None:
    _, omega = await two_o_clients(rt)
    await slack.command(f"shwo {omega.client_code}", user_id=MANAGER)
    answer = await fake.wait_for_response(slack.last_response_url)
    shown = json.dumps(answer)
    assert "Did you mean `/client show" in shown and "Find a client" not in shown  # today: the whole help
    run = next(e for e in elements(answer) if e["text"]["text"] == "Run /client show")
    url = fake.new_response_url()
    await slack.block_action(run["action_id"], value=run["value"], user_id=MANAGER, response_url=url)
    board = await fake.wait_for_response(url, contains="Active jobs")
    assert board["blocks"][0]["text"]["text"] == "Omega Foods"


async def test_an_unknown_client_offers_close_names_and_the_list(slack, fake, rt) -> None:
    _, omega = await two_o_clients(rt)
    await slack.command('history "omgea foods" type:call', user_id=MANAGER)
    answer = await fake.wait_for_response(slack.last_response_url)
    shown = json.dumps(answer)
    assert "No client matches" in shown and "Did you mean" in shown
    texts = [e["text"]["text"] for e in elements(answer)]
    assert texts == ["Pick", "Browse clients"]  # today: the error alone
    [pick] = [e for e in elements(answer) if omega.client_code in e["value"]]
    url = fake.new_response_url()
    await slack.block_action(pick["action_id"], value=pick["value"], user_id=MANAGER, response_url=url)
    assert "Omega Foods" in json.dumps(await fake.wait_for_response(url))


async def test_a_refusal_names_who_can(slack, fake, rt) -> None:
    await two_o_clients(rt)  # MANAGER is an HR Manager
    await slack.command("new", user_id=RECRUITER)
    answer = json.dumps(await fake.wait_for_response(slack.last_response_url))
    assert "Only an HR Manager" in answer and f"<@{MANAGER}>" in answer  # today: no one to ask


async def test_help_is_grouped_and_shows_what_the_role_allows(slack, fake, rt) -> None:
    await slack.command("help", user_id=RECRUITER)
    mine = json.dumps(await fake.wait_for_response(slack.last_response_url))
    assert "Find a client" in mine and "/client log" in mine
    assert "/client role" not in mine and "/client bulk" not in mine  # today: admin-only ones to everyone
    await slack.command("help", user_id=ADMIN)
    everything = json.dumps(await fake.wait_for_response(slack.last_response_url))
    assert "Administer" in everything and "/client role" in everything


# -- 6. modals ------------------------------------------------------------------------------------------
async def test_new_client_shows_every_field_error_at_once(slack, fake, rt) -> None:
    await two_o_clients(rt)
    view = await open_new_client_modal(slack, fake)
    bad = GOOD_FORM | {"name": "", "contact_0_phone": "12", "website": "not a site"}
    reply = await submit(slack, view, bad)
    errors = reply.json["errors"]
    # today: the phone only in a second round. On failure, show the answer: once in CI (SQLite, a loaded
    # machine) only `name` came back, the shape of the precheck's timeout or an access refusal.
    assert {"name", "website", "contact_0_phone"} <= set(errors), errors


async def test_new_client_defaults_the_account_manager_to_the_creator(slack, fake, rt) -> None:
    await two_o_clients(rt)
    view = await open_new_client_modal(slack, fake)
    [manager] = [b for b in view["blocks"] if b.get("block_id") == "account_manager"]
    chosen = manager["element"]["initial_option"]["text"]["text"]  # today: nobody chosen
    assert chosen.lower() == MANAGER.lower()
    zeta = {
        "name": "Zeta Ltd",
        "website": "https://zeta.example.com",
        "contact_0_email": "a@zeta.example.com",
    }
    reply = await submit(slack, view, GOOD_FORM | zeta)
    assert reply.status == 200 and not reply.body
    await fake.wait_for_response(json.loads(view["private_metadata"])["response_url"])
    async with rt.db.session() as session:
        created = await session.scalar(select(Client).where(Client.name == "Zeta Ltd"))
        await session.refresh(created, ["account_manager"])
        assert created.account_manager.slack_user_id == MANAGER


async def test_duplicate_warning_opens_the_existing_client(slack, fake, rt) -> None:
    orion, _ = await two_o_clients(rt)
    view = await open_new_client_modal(slack, fake)
    reply = await submit(slack, view, GOOD_FORM | {"name": "Orion Labs"})
    warned = reply.json["view"]
    opens = [e for e in elements(warned) if e["text"]["text"] == "Open"]  # today: codes only
    [open_button] = [e for e in opens if e["value"] == str(orion.id)]
    fake.calls.clear()
    await slack.block_action(
        open_button["action_id"], value=open_button["value"], user_id=MANAGER, view=warned
    )
    card = await fake.filled(await fake.wait_for("views.push"))
    assert "Orion Labs" in json.dumps(card)


async def test_new_job_taken_reference_is_said_under_the_reference(slack, fake, rt) -> None:
    await two_o_clients(rt)
    async with rt.db.session() as session:
        actor = await factories.user(session, MANAGER, Role.MANAGER)
        await jobs.create_job(
            session, actor=actor, data=jobs.parse_job({"reference": "REF-1", "title": "One"})
        )
    await slack.command("job new", user_id=MANAGER)
    view = await fake.filled(await fake.wait_for("views.open"))
    values = slack.form_values(view, {"title": "Two", "reference": "REF-1", "status": "open"})
    reply = await slack.view_submission(view, values, user_id=MANAGER)
    errors = reply.json["errors"]
    assert "already exists" in errors.get("reference", "") and "title" not in errors  # today: under the title


async def test_log_to_client_names_people_and_suggests_the_client(slack, fake, rt) -> None:
    _, omega = await two_o_clients(rt)
    message = {
        "ts": "1700000000.000300",
        "user": "UMANAGER",
        "text": "Call with Omega Foods &amp; co: they want <@UCOLLEAGUE> on the next one",
    }
    await slack.message_shortcut("log_to_client", message, user_id=RECRUITER)
    pick = await fake.filled(await fake.wait_for("views.open"))
    [client_block] = [b for b in pick["blocks"] if b.get("block_id") == "client"]
    assert client_block["element"]["initial_option"]["value"] == str(omega.id)  # today: nothing suggested
    [notes] = [b for b in pick["blocks"] if b.get("block_id") == "notes"]
    text = notes["element"]["initial_value"]
    assert (
        "<@" not in text and "they want @ucolleague on" in text and "Foods & co" in text
    )  # today: <@UMANAGER>


async def test_log_form_has_no_follow_up_box_the_date_says_it(slack, fake, rt) -> None:
    _, omega = await two_o_clients(rt)
    await slack.command(f"log {omega.client_code}", user_id=MANAGER)
    form = await fake.filled(await fake.wait_for("views.open"))
    assert "Follow-up required" not in json.dumps(form)  # today: a box that repeats the date
    values = slack.form_values(form, {"type": "call", "subject": "Check-in", "when": 1772352000})
    due = clock.today(rt.settings.tz) + timedelta(days=30)
    values["follow_up_date"] = {"value": {"type": "datepicker", "selected_date": due.isoformat()}}
    await slack.view_submission(form, values, user_id=MANAGER)
    await fake.wait_for("views.update", lambda c: c.params["view"]["callback_id"] == "comm_logged")
    async with rt.db.session() as session:
        record = await session.scalar(select(ClientCommunication))
    assert record.follow_up_required and record.follow_up_date == due


async def test_new_client_folds_the_address_until_asked(slack, fake, rt) -> None:
    await two_o_clients(rt)
    view = await open_new_client_modal(slack, fake)
    inputs = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
    assert "city" not in inputs and "postal_code" not in inputs  # today: 16 inputs at once
    [unfold] = [e for e in elements(view) if e["text"]["text"] == "Add address"]
    typed = {"name": {"value": {"type": "plain_text_input", "value": "Zeta Ltd"}}}
    view["state"] = {"values": typed}
    await slack.block_action(unfold["action_id"], user_id=MANAGER, view=view, block_id="address_actions")
    update = await fake.wait_for("views.update", lambda c: "city" in json.dumps(c.params["view"]))
    grown = update.params["view"]
    assert {"address", "city", "state", "postal_code"} <= {b.get("block_id") for b in grown["blocks"]}
    assert "Zeta Ltd" in json.dumps(grown)  # what was typed stays
