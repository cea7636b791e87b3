"""Hostile input on the buttons that run a command again (*Pick*, *Run /client …*, *Browse clients*):
their value is the clicker's to forge, so it runs with the clicker's rights and nothing more."""

from __future__ import annotations

import json

from sqlalchemy import select

from bot.models import User
from tests.conftest import ADMIN, RECRUITER


async def test_a_forged_run_button_has_only_the_clickers_rights(slack, fake, rt) -> None:
    await slack.command("help", user_id=ADMIN)  # the admin exists
    await fake.wait_for_response(slack.last_response_url)
    forged = json.dumps({"n": "role", "a": f"<@{ADMIN}> recruiter"})
    url = fake.new_response_url()
    await slack.block_action("client_pick_run", value=forged, user_id=RECRUITER, response_url=url)
    assert "Only an HR Admin" in json.dumps(await fake.wait_for_response(url))
    async with rt.db.session() as session:
        admin = await session.scalar(select(User).where(User.slack_user_id == ADMIN))
    assert admin.role == "admin"


async def test_malformed_values_do_nothing(slack, fake) -> None:
    for value in ("not json", "[]", '{"n": 3}', '{"n": "nope", "a": ""}', '{"a": "x"}'):
        url = fake.new_response_url()
        reply = await slack.block_action("client_pick_0", value=value, user_id=RECRUITER, response_url=url)
        assert reply.status == 200
        assert fake.responses.get(url.rsplit("/", 1)[-1]) is None


async def test_an_unknown_command_is_escaped(slack, fake) -> None:
    await slack.command("<!channel>shwo", user_id=RECRUITER)
    shown = json.dumps(await fake.wait_for_response(slack.last_response_url))
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown
