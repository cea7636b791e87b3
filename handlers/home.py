"""The App Home tab, published when a user opens it."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.models import Role
from bot.roles import has_role
from bot.services import clients
from handlers.common import acting
from views.home import home_view


async def on_app_home_opened(
    event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    if event.get("tab") not in (None, "home"):
        return
    async with acting(context, client) as (session, actor):
        page = await clients.list_clients(
            session, filters=clients.ClientFilter(account_manager_id=actor.id), per_page=40
        )
        view = home_view(actor, page.clients, total=page.total, can_create=has_role(actor, Role.MANAGER))
    await client.views_publish(user_id=event["user"], view=view)


def register(app: AsyncApp) -> None:
    app.event("app_home_opened")(on_app_home_opened)
