"""Interaction payloads the app did not expect, all correctly signed: view state of shapes Slack never
sends, a Home view with unreadable private_metadata. The app answers in the modal or falls back to the
defaults; nothing is half-written and nothing answers 500."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from bot.models import Client, ClientCommunication, ClientFeedback, Job, Role
from tests import factories
from tests.conftest import MANAGER, RECRUITER, eventually


async def _count(rt, model) -> int:
    async with rt.db.session() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def _manager_and_acme(rt):
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        await factories.user(session, RECRUITER)
        return await factories.client(session, manager, "Acme", account_manager_id=MANAGER, website=None)


async def _opened(slack, fake, command: str, user_id: str = MANAGER) -> dict:
    fake.calls.clear()
    await slack.command(command, user_id=user_id)
    return await fake.filled(await fake.wait_for("views.open"))


WRONG_SHAPES = [
    {"type": "plain_text_input", "value": ["a", "list"]},
    {"type": "plain_text_input", "value": {"$ne": None}},
    {"type": "static_select", "selected_option": "active"},
    {"type": "static_select", "selected_option": {"value": ["x"]}},
    {"type": "checkboxes", "selected_options": "primary"},
    {"type": "checkboxes", "selected_options": [{"text": "no value"}]},
    {"type": "file_input", "files": "F123"},
    {"type": "multi_users_select", "selected_users": "U1"},
    {"type": "datetimepicker", "selected_date_time": "tomorrow"},
    "not an object",
]


@pytest.mark.parametrize(
    ("command", "model"),
    [
        ("new", Client),
        ("log {code}", ClientCommunication),
        ("feedback {code}", ClientFeedback),
        ("job new", Job),
    ],
    ids=["client", "log", "feedback", "job"],
)
async def test_state_of_the_wrong_shape_is_refused_in_the_modal(slack, fake, rt, command, model) -> None:
    """Each input of the modal submitted with a value of a shape Slack never sends: the modal answers
    (no 500), nothing is stored."""
    acme = await _manager_and_acme(rt)
    view = await _opened(slack, fake, command.format(code=acme.client_code))
    before = await _count(rt, model)
    for shape in WRONG_SHAPES:
        values = {
            b["block_id"]: {(b.get("element") or {}).get("action_id", "value"): shape}
            for b in view["blocks"]
            if b.get("type") == "input"
        }
        reply = await slack.view_submission(view, values, user_id=MANAGER)
        assert reply.status == 200, (shape, reply.body)
        assert reply.json and reply.json.get("response_action") == "errors", (shape, reply.body)
    assert await _count(rt, model) == before


@pytest.mark.parametrize(
    "metadata", ["not json", "[1, 2]", '{"from": "2026-13-45", "page": "x"}', '{"status": 5, "page": -3}']
)
async def test_home_with_unreadable_metadata_still_answers(slack, fake, rt, metadata) -> None:
    await _manager_and_acme(rt)
    home = {"type": "home", "blocks": [], "private_metadata": metadata}
    option = {"value": "active", "text": {"type": "plain_text", "text": "active"}}
    await slack.block_action("home_filter_status", selected_option=option, user_id=MANAGER, view=home)
    published = await fake.wait_for("views.publish")
    assert json.loads(published.params["view"]["private_metadata"]) == {"status": "active", "page": 1}
    fake.calls.clear()
    await slack.event(
        {"type": "app_home_opened", "user": MANAGER, "channel": "DX", "tab": "home", "view": home}
    )
    assert "page 1 of 1" in json.dumps((await fake.wait_for("views.publish")).params["view"])


async def test_a_lone_surrogate_in_a_button_value_reads_as_a_replacement_character(slack, fake, rt) -> None:
    """JSON can escape half of a UTF-16 pair ("\\ud800"), which no UTF-8 text holds: forged into the JSON
    of a page button's value, it reached the database (which refused it: "Something went wrong"). It now
    reads as U+FFFD, and the page is answered."""
    await _manager_and_acme(rt)
    url = fake.new_response_url()
    value = json.dumps({"q": "status:active \ud800zz", "p": 1})
    await slack.block_action("client_list_page_next", value=value, user_id=MANAGER, response_url=url)
    reply = json.dumps(await fake.wait_for_response(url), ensure_ascii=False)
    assert "\ufffdzz" in reply and "went wrong" not in reply


async def test_a_lone_surrogate_typed_in_a_modal_is_kept_as_a_replacement_character(slack, fake, rt) -> None:
    """The same half pair escaped straight in a payload's text: mended before any listener reads it."""
    async with rt.db.session() as session:
        await factories.user(session, MANAGER, Role.MANAGER)
    view = await _opened(slack, fake, "new")
    form = {"name": "Half \udc00 Pair Ltd", "contact_0_name": "Ann Lee", "contact_0_email": "ann@x.example"}
    values = slack.form_values(view, form)
    reply = await slack.view_submission(view, values, user_id=MANAGER)
    assert reply.status == 200 and not reply.body

    async def stored() -> list[str]:
        async with rt.db.session() as session:
            return list(await session.scalars(select(Client.name)))

    assert await eventually(stored) == ["Half \ufffd Pair Ltd"]
