"""`/client bulk`: pick clients and an operation, see a dry-run preview, confirm, see the results."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import DomainError, ValidationFailed
from bot.models import Role
from bot.roles import require
from bot.services import bulk
from handlers.commands import CommandRequest, subcommand
from handlers.common import acting, runtime
from views import bulk as bulk_views


@subcommand("bulk")
async def command_bulk(request: CommandRequest) -> None:
    async with acting(request.context, request.client) as (_session, actor):
        require(actor, Role.MANAGER, "run bulk operations")
    await request.client.views_open(trigger_id=request.trigger_id, view=bulk_views.bulk_form())


async def _actor_id(context: AsyncBoltContext, client: AsyncWebClient, data: bulk.BulkIn) -> Any:
    async with acting(context, client) as (_session, actor):
        require(actor, bulk.required_role(data), "run this bulk operation")
        return actor.id


async def submit_bulk_form(
    ack: Any, view: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """Validate, then dry-run: the preview is pushed on top of the form, which keeps what was chosen."""
    request = bulk_views.read_bulk_form(view["state"]["values"])
    try:
        data = bulk.parse_bulk(request | {"dry_run": True})
        actor_id = await _actor_id(context, client, data)
        results = await bulk.run(runtime(context).db, actor_id=actor_id, data=data)
    except ValidationFailed as error:
        await ack(response_action="errors", errors=bulk_views.bulk_errors(error.fields))
        return
    except DomainError as error:
        await ack(response_action="errors", errors={"operation": str(error)[:150]})
        return
    await ack(response_action="push", view=bulk_views.preview_view(results, request))


async def submit_bulk_confirm(
    ack: Any, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    request = json.loads(view["private_metadata"])
    data = bulk.parse_bulk(request | {"dry_run": False})
    await ack(response_action="update", view=bulk_views.running_view(len(data.client_ids)))
    actor_id = await _actor_id(context, client, data)
    results = await bulk.run(runtime(context).db, actor_id=actor_id, data=data)
    await client.views_update(
        view_id=body["view"]["id"], view=bulk_views.results_view(results, data.operation)
    )


def register(app: AsyncApp) -> None:
    app.view(bulk_views.FORM_CALLBACK)(submit_bulk_form)
    app.view(bulk_views.CONFIRM_CALLBACK)(submit_bulk_confirm)
