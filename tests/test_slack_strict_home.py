"""App Home as Slack delivers it: once a Home was published, `app_home_opened` carries that view, and the
portfolio comes back with the filters and page the person left it on."""

from __future__ import annotations

import json

from bot.models import Role
from tests import factories
from tests.conftest import MANAGER


async def _portfolio(rt, count: int = 45) -> None:
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        for n in range(count):
            await factories.client(
                session,
                manager,
                f"Client {n:02d}",
                website=None,
                account_manager_id=MANAGER,
                contacts=[{"full_name": "C", "email": f"c@c{n}.example.com"}],
            )


def _status_select(home: dict) -> dict:
    controls = next(b for b in home["blocks"] if b.get("block_id") == "home_controls")
    return next(e for e in controls["elements"] if e["action_id"] == "home_filter_status")


async def test_reopening_home_keeps_the_filters_and_the_page(slack, fake, rt) -> None:
    await _portfolio(rt)
    await slack.open_home(MANAGER)  # the first time: no view in the event, the default Home
    first = (await fake.wait_for("views.publish")).params["view"]
    assert "page 1 of 3" in json.dumps(first)
    active = {"value": "active", "text": {"type": "plain_text", "text": "active"}}
    await slack.block_action("home_filter_status", selected_option=active, user_id=MANAGER, view=first)
    filtered = await fake.wait_for(
        "views.publish", lambda c: json.loads(c.params["view"]["private_metadata"]).get("status") == "active"
    )
    nav = next(b for b in filtered.params["view"]["blocks"] if b.get("block_id") == "home_nav")
    await slack.block_action(
        nav["elements"][-1]["action_id"], value="2", user_id=MANAGER, view=filtered.params["view"]
    )
    await fake.wait_for("views.publish", lambda c: "page 2 of 3" in json.dumps(c.params["view"]))

    before = len(fake.calls_to("views.publish"))
    await slack.open_home(MANAGER)  # back to the Home tab later: Slack sends the Home it shows
    await fake.wait_for("views.publish", lambda c: len(fake.calls_to("views.publish")) > before)
    again = fake.calls_to("views.publish")[-1].params["view"]
    assert "page 2 of 3" in json.dumps(again)
    assert _status_select(again)["initial_option"]["value"] == "active"
    assert json.loads(again["private_metadata"]) == {"status": "active", "page": 2}
