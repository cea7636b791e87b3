"""`/client bulk`: pick clients and an operation, see a dry-run preview, confirm, see the results."""

from __future__ import annotations

import uuid
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import DomainError, ValidationFailed
from bot.models import Role
from bot.roles import require
from bot.services import bulk
from handlers.commands import CommandRequest, subcommand
from handlers.common import acting, fill_pushed_view, open_modal_first, runtime, update_view
from views import bulk as bulk_views
from views.common import read_value, view_state


@subcommand("bulk")
async def command_bulk(request: CommandRequest) -> None:
    async def build() -> dict[str, Any]:
        async with acting(request.context, request.client) as (_session, actor):
            require(actor, Role.MANAGER, "run bulk operations")
        return bulk_views.bulk_form()

    await open_modal_first(
        request.client, request.trigger_id, context=request.context, title="Bulk operation", build=build
    )


async def choose_operation(
    ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
) -> None:
    """An operation chosen in the form: the form again with that operation's settings only."""
    await ack()
    operation = (action.get("selected_option") or {}).get("value")
    view = body["view"]
    await update_view(client, bulk_views.bulk_form(operation), view_id=view["id"], view_hash=view.get("hash"))


async def _actor_id(context: AsyncBoltContext, client: AsyncWebClient, data: bulk.BulkIn) -> Any:
    async with acting(context, client) as (_session, actor):
        require(actor, bulk.required_role(data), "run this bulk operation")
        return actor.id


async def submit_bulk_form(
    ack: Any, view: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """Check the form (field errors stay on it), ack at once by pushing a "working" view over the form
    (which keeps what was chosen), then dry-run and put the preview in its place."""
    try:
        data = bulk.parse_bulk(bulk_views.read_bulk_form(view_state(view)) | {"dry_run": True})
        bulk_views.check_fits(data)
    except ValidationFailed as error:
        await ack(response_action="errors", errors=bulk_views.bulk_errors(error.fields))
        return
    external_id = f"bulk-preview-{uuid.uuid4().hex}"
    await ack(response_action="push", view=bulk_views.working_view(external_id))
    try:
        actor_id = await _actor_id(context, client, data)
        results = await bulk.run(
            runtime(context).db, actor_id=actor_id, data=data, limit=bulk_views.MAX_MODAL_CLIENTS
        )
        preview = bulk_views.preview_view(results, data, external_id)
    except DomainError as error:
        text = error.detail
        preview = bulk_views.problem_view(text, external_id)
    # False: the user went back before the preview was ready; nothing was changed, nothing to show.
    await fill_pushed_view(client, preview, external_id=external_id)


async def submit_bulk_confirm(
    ack: Any, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """The preview's metadata (client codes, operation, parameters) run for real."""
    data = bulk.parse_bulk(read_value(view["private_metadata"]) | {"dry_run": False})
    await ack(response_action="update", view=bulk_views.running_view(len(data.client_ids or [])))
    await _run_confirmed(client, context, data, body["view"]["id"])


async def click_bulk_run(
    ack: Any, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """The red button of an archive/deactivate preview, once Slack's dialog was confirmed."""
    await ack()
    view = body["view"]
    data = bulk.parse_bulk(read_value(view["private_metadata"]) | {"dry_run": False})
    if await update_view(client, bulk_views.running_view(len(data.client_ids or [])), view_id=view["id"]):
        await _run_confirmed(client, context, data, view["id"])


async def _run_confirmed(
    client: AsyncWebClient, context: AsyncBoltContext, data: bulk.BulkIn, view_id: str
) -> None:
    try:
        actor_id = await _actor_id(context, client, data)
        results = await bulk.run(runtime(context).db, actor_id=actor_id, data=data)
        done, told = bulk_views.results_view(results, data.operation), None
    except DomainError as error:
        text = error.detail
        done, told = bulk_views.problem_view(text), bulk_views.problem_message(text)
    if not await update_view(client, done, view_id=view_id):
        # The user closed the modal while it ran: what was done is said in a DM, never lost.
        payload = told or bulk_views.results_message(results, data.operation)
        await client.chat_postMessage(channel=context.user_id, **payload)


def register(app: AsyncApp) -> None:
    app.view(bulk_views.FORM_CALLBACK)(submit_bulk_form)
    app.view(bulk_views.CONFIRM_CALLBACK)(submit_bulk_confirm)
    app.action(bulk_views.RUN_ACTION)(click_bulk_run)
    app.action(bulk_views.OPERATION_ACTION)(choose_operation)
