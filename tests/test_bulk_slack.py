"""`/client bulk` in Slack: the form is acked at once with a "working" view pushed over it, the dry-run
preview replaces that view, then confirm and results. Clients are picked or chosen by a filter."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import select

from bot.models import Client, Role
from tests import factories
from tests.conftest import MANAGER, RECRUITER, eventually
from views.bulk import OPERATIONS


def picked(clients: list[Client]) -> dict:
    return {
        "clients": {
            "client_picker": {
                "type": "multi_external_select",
                "selected_options": [
                    {"value": str(c.id), "text": {"type": "plain_text", "text": c.client_code}}
                    for c in clients
                ],
            }
        }
    }


async def make_clients(rt, count: int, **fields) -> list[Client]:
    async with rt.db.session() as session:
        manager = await factories.user(session, MANAGER, Role.MANAGER)
        return [
            await factories.client(
                session,
                manager,
                f"Bulk Co {fields.get('industry', '')}{n}",
                website=None,
                contacts=[
                    {"full_name": "B", "email": f"b@bulkco{fields.get('industry', '')}{n}.example.com"}
                ],
                **fields,
            )
            for n in range(count)
        ]


async def open_form(slack, fake) -> dict:
    fake.calls.clear()
    await slack.command("bulk", user_id=MANAGER)
    return await fake.filled(await fake.wait_for("views.open"))


async def with_operation(slack, fake, form: dict, operation: str, user_id: str = MANAGER) -> dict:
    """Choose the operation in the form (the select dispatches): the form with that operation's settings."""
    chosen = {"value": operation, "text": {"type": "plain_text", "text": operation}}
    await slack.block_action(
        "bulk_operation", user_id=user_id, view=form, block_id="operation", selected_option=chosen
    )

    def shows(call) -> bool:
        blocks = call.params["view"].get("blocks", [])
        picked = [b["element"].get("initial_option") for b in blocks if b.get("block_id") == "operation"]
        return picked == [
            {"text": {"type": "plain_text", "text": OPERATIONS[operation], "emoji": True}, "value": operation}
        ]

    return (await fake.wait_for("views.update", shows)).params["view"]


async def preview_of(slack, fake, form: dict, values: dict) -> dict:
    """Submit the form: the ack pushes a working view at once; the preview then replaces it."""
    reply = await slack.view_submission(form, values, user_id=MANAGER)
    assert reply.json["response_action"] == "push"
    working = reply.json["view"]
    assert "Working out the preview" in json.dumps(working, ensure_ascii=False)
    external_id = working["external_id"]

    async def preview() -> dict | None:
        """The app's update may overtake the push (not_found) and be sent again: the one that took."""
        shown = [e.view for e in fake.views.values() if e.view.get("external_id") == external_id]
        return shown[0] if shown and shown[0].get("callback_id") != working.get("callback_id") else None

    shown = await eventually(preview, timeout=10)
    assert shown, f"the preview never replaced {external_id}"
    return shown


async def test_bulk_preview_then_confirm(slack, fake, rt) -> None:
    made = await make_clients(rt, 2)
    await slack.command("bulk", user_id=RECRUITER)
    assert "Only an HR Manager" in json.dumps(await fake.wait_for_response(slack.last_response_url))
    form = await with_operation(slack, fake, await open_form(slack, fake), "change_status")
    shown = {b.get("block_id") for b in form["blocks"]}
    assert {"status", "reason"} <= shown and "jobs" not in shown and "manager" not in shown
    values = slack.form_values(form, {"operation": "change_status"}) | picked(made)
    reply = await slack.view_submission(form, values, user_id=MANAGER)
    assert "Use active, inactive, on-hold or archived" in reply.json["errors"]["status"]
    values = slack.form_values(
        form, {"operation": "change_status", "status": "on-hold", "reason": "freeze"}
    ) | picked(made)
    preview = await preview_of(slack, fake, form, values)
    assert preview["callback_id"] == "bulk_confirm"
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


async def test_form_errors_clients_or_filter_and_oversize_text(slack, fake, rt) -> None:
    made = await make_clients(rt, 1)
    form = await with_operation(slack, fake, await open_form(slack, fake), "archive")
    nothing = slack.form_values(form, {"operation": "archive", "reason": "closed"})
    reply = await slack.view_submission(form, nothing, user_id=MANAGER)
    assert reply.json["response_action"] == "errors" and "filter" in reply.json["errors"]["clients"]
    both = slack.form_values(form, {"operation": "archive", "reason": "x", "filter_industry": "IT"}) | picked(
        made
    )
    reply = await slack.view_submission(form, both, user_id=MANAGER)
    assert "not both" in reply.json["errors"]["clients"]
    # Quotes and backslashes double in JSON: long text is refused on its field, never cut in the metadata.
    long_reason = '"\\' * 300
    values = slack.form_values(form, {"operation": "archive", "reason": long_reason}) | picked(made)
    reply = await slack.view_submission(form, values, user_id=MANAGER)
    assert reply.json["response_action"] == "errors" and "Too long" in reply.json["errors"]["reason"]
    jobs = " ".join(f"JOB-2026-{n:04d}" for n in range(60))
    form = await with_operation(slack, fake, form, "link_jobs")
    values = slack.form_values(form, {"operation": "link_jobs", "jobs": jobs}) | picked(made)
    reply = await slack.view_submission(form, values, user_id=MANAGER)
    assert "Too long" in reply.json["errors"]["jobs"]
    values = slack.form_values(form, {"operation": "link_jobs", "jobs": "JOB-2026-0001", "reason": "r"})
    reply = await slack.view_submission(form, values | picked(made), user_id=MANAGER)
    assert reply.json["response_action"] == "push"  # a reason typed for another operation is ignored


async def test_bulk_by_filter_keeps_metadata_small_and_whole(slack, fake, rt) -> None:
    it = await make_clients(rt, 3, industry="IT")
    await make_clients(rt, 2, industry="Retail")
    form = await with_operation(slack, fake, await open_form(slack, fake), "change_status")
    reason = "Long reason with “quotes” and \\ backslashes. " * 9
    values = slack.form_values(
        form,
        {"operation": "change_status", "status": "on-hold", "reason": reason[:490], "filter_industry": "it"},
    )
    preview = await preview_of(slack, fake, form, values)
    text = json.dumps(preview, ensure_ascii=False)
    assert "3 will change" in text and all(c.client_code in text for c in it)
    metadata = preview["private_metadata"]
    assert len(metadata) <= 3000
    request = json.loads(metadata)
    assert sorted(request["client_ids"]) == sorted(c.client_code for c in it)
    assert request["parameters"]["reason"] == reason[:490].strip()
    reply = await slack.view_submission(preview, {}, user_id=MANAGER)
    done = await fake.wait_for("views.update", lambda c: c.params["view"]["callback_id"] == "bulk_done")
    assert "3 changed, 0 failed" in json.dumps(done.params["view"])
    async with rt.db.session() as session:
        statuses = {c.industry: c.status for c in await session.scalars(select(Client))}
    assert statuses == {"IT": "on-hold", "Retail": "active"}
    assert reply.json["response_action"] == "update"

    # A filter that matches nothing: the working view turns into an explanation, with nothing to confirm.
    values = slack.form_values(
        form, {"operation": "change_status", "status": "active", "filter_industry": "Mining"}
    )
    problem = await preview_of(slack, fake, form, values)
    assert "No client matches the filter" in json.dumps(problem) and "submit" not in problem


async def test_going_back_before_the_preview_is_ready_is_quiet(slack, fake, rt) -> None:
    made = await make_clients(rt, 1)
    form = await with_operation(slack, fake, await open_form(slack, fake), "change_status")
    fake.calls.clear()
    fake.failing["views.update"] = "not_found"  # the working view was closed meanwhile
    values = slack.form_values(form, {"operation": "change_status", "status": "on-hold"}) | picked(made)
    reply = await slack.view_submission(form, values, user_id=MANAGER)
    assert reply.json["response_action"] == "push"
    await fake.wait_for("views.update")
    await asyncio.sleep(0.3)
    assert not fake.calls_to("chat.postEphemeral") and not fake.calls_to("chat.postMessage")
