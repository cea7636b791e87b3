"""`/client bulk` in Slack: preview (dry run) pushed over the form, then confirm and results."""

from __future__ import annotations

import json

from sqlalchemy import select

from bot.models import Client, Role
from tests import factories
from tests.conftest import MANAGER, RECRUITER


async def test_bulk_preview_then_confirm(slack, fake, rt) -> None:
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        made = [
            await factories.client(
                session,
                manager,
                f"Bulk Co {n}",
                website=None,
                contacts=[{"full_name": "B", "email": f"b@bulkco{n}.example.com"}],
            )
            for n in range(2)
        ]
    await slack.command("bulk", user_id=RECRUITER)
    assert "Only an HR Manager" in json.dumps(await fake.wait_for_response(slack.last_response_url))
    await slack.command("bulk", user_id=MANAGER)
    form = (await fake.wait_for("views.open")).params["view"]
    picked = {
        "clients": {
            "client_picker": {
                "type": "multi_external_select",
                "selected_options": [
                    {"value": str(c.id), "text": {"type": "plain_text", "text": c.client_code}} for c in made
                ],
            }
        }
    }
    values = slack.form_values(form, {"operation": "change_status"}) | picked
    reply = await slack.view_submission(form, values, user_id=MANAGER)
    assert "use active, inactive, on-hold or archived" in reply.json["errors"]["status"]
    values = (
        slack.form_values(form, {"operation": "change_status", "status": "on-hold", "reason": "freeze"})
        | picked
    )
    reply = await slack.view_submission(form, values, user_id=MANAGER)
    assert reply.json["response_action"] == "push"
    preview = reply.json["view"]
    assert "will change" in json.dumps(preview) and "active → on-hold" in json.dumps(
        preview, ensure_ascii=False
    )
    async with rt.db.session() as session:
        assert {c.status for c in await session.scalars(select(Client))} == {
            "active"
        }  # preview wrote nothing
    reply = await slack.view_submission(preview, {}, user_id=MANAGER)
    assert reply.json["response_action"] == "update"
    done = await fake.wait_for("views.update", lambda c: c.params["view"]["callback_id"] == "bulk_done")
    assert "2 changed, 0 failed" in json.dumps(done.params["view"])
    async with rt.db.session() as session:
        assert {c.status for c in await session.scalars(select(Client))} == {"on-hold"}
