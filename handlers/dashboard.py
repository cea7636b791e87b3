"""The client dashboard (`/client show`), sharing it, its chart and PDF export, and the App Home portfolio."""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot import clock, render
from bot.errors import DomainError
from bot.models import Role
from bot.roles import has_role
from bot.runtime import Runtime
from bot.services import clients, dashboard
from handlers.commands import CommandRequest, subcommand
from handlers.common import (
    CommandProgress,
    DmProgress,
    acting,
    domain_error_reply,
    reply,
    runtime,
    send_file_to_user,
)
from views import dashboard as dashboard_views


def _today(rt: Runtime) -> Any:
    return clock.today(rt.settings.tz)


async def _load(
    context: AsyncBoltContext,
    client: AsyncWebClient,
    client_id: uuid.UUID | None = None,
    reference: str | None = None,
) -> tuple[dashboard.Dashboard, bool]:
    async with acting(context, client) as (session, actor):
        found = None if client_id else await clients.find(session, reference or "", viewer=actor)
        board = await dashboard.build(
            session, actor=actor, client_id=client_id, client=found, today=_today(runtime(context))
        )
        return board, has_role(actor, Role.MANAGER)


@subcommand("show")
async def command_show(request: CommandRequest) -> None:
    board, can_edit = await _load(request.context, request.client, reference=request.args)
    await request.reply(dashboard_views.dashboard_message(board, can_edit=can_edit))


async def click_share(
    ack: Any, action: dict[str, Any], respond: Any, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """Post the dashboard for everyone in the conversation, without the private figures."""
    await ack()
    board, _ = await _load(context, client, uuid.UUID(action["value"]))  # errors: the global handler replies
    await respond(
        response_type="in_channel",
        replace_original=False,
        **dashboard_views.dashboard_message(board, shared=True),
    )


async def click_chart(
    ack: Any, action: dict[str, Any], respond: Any, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    board, _ = await _load(context, client, uuid.UUID(action["value"]))
    png = await render.report("dashboard_chart", board)  # matplotlib in a worker process
    await send_file_to_user(
        client,
        context.user_id,
        content=png,
        filename=f"{board.client.client_code}-pipeline.png",
        comment=dashboard_views.chart_comment(board.client),
    )


async def _export(
    context: AsyncBoltContext,
    client: AsyncWebClient,
    progress: CommandProgress | DmProgress,
    *,
    client_id: uuid.UUID | None = None,
    reference: str | None = None,
) -> None:
    await progress.show(dashboard_views.progress_message("PDF report 1/3: gathering the figures…"))
    try:
        board, _ = await _load(context, client, client_id, reference)
        await progress.show(
            dashboard_views.progress_message(
                f"PDF report of {board.client.name} 2/3: drawing charts and pages…"
            )
        )
        pdf = await render.report("build_dashboard_pdf", board, runtime(context).storage)
        await progress.show(
            dashboard_views.progress_message(
                f"PDF report of {board.client.name} 3/3: sending it to your DMs…"
            )
        )
        await send_file_to_user(
            client,
            context.user_id,
            content=pdf,
            filename=f"{board.client.client_code}-dashboard.pdf",
            comment=dashboard_views.export_comment(board.client),
        )
    except DomainError as error:
        await progress.show(domain_error_reply(error))
        return
    except Exception:  # the progress message never stays up after a failure; the error handler reports it
        await progress.show(dashboard_views.failed_message("The PDF report could not be built."))
        raise
    await progress.show(dashboard_views.sent_message(f"The PDF of {board.client.name} is in your DMs."))


@subcommand("export")
async def command_export(request: CommandRequest) -> None:
    await _export(request.context, request.client, CommandProgress(request.respond), reference=request.args)


async def click_export(
    ack: Any, action: dict[str, Any], respond: Any, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """The PDF button on a dashboard: the dashboard stays as it is; progress and the PDF go to the DM."""
    await ack()
    await reply(respond, dashboard_views.progress_message("Building the PDF report: follow it in your DMs."))
    await _export(context, client, DmProgress(client, context.user_id), client_id=uuid.UUID(action["value"]))


async def publish_home(
    client: AsyncWebClient,
    context: AsyncBoltContext,
    user_id: str,
    *,
    filters: dict[str, Any] | None = None,
    page: int = 1,
) -> None:
    """Publish the portfolio with `filters` ({"status", "industry", "from", "to"}, kept in the Home view)."""
    filters = {k: v for k, v in (filters or {}).items() if v and v != "all"}
    chosen = dashboard.PortfolioFilter(
        status=filters.get("status"),
        industry=filters.get("industry"),
        created_from=date.fromisoformat(filters["from"]) if filters.get("from") else None,
        created_to=date.fromisoformat(filters["to"]) if filters.get("to") else None,
    )
    async with acting(context, client) as (session, actor):
        board = await dashboard.portfolio(
            session,
            manager_id=actor.id,
            today=_today(runtime(context)),
            filters=chosen,
            page=page,
            viewer=actor,
        )
        view = dashboard_views.home_view(
            actor, board, can_create=has_role(actor, Role.MANAGER), filters=filters
        )
    await client.views_publish(user_id=user_id, view=view)


async def on_app_home_opened(
    event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """Republish Home where the person left it: once a Home was published, Slack's event carries that view
    (https://api.slack.com/events/app_home_opened), whose private_metadata keeps the filters and page."""
    if event.get("tab") in (None, "home"):
        shown = event.get("view") if isinstance(event.get("view"), dict) else {}
        filters, page = dashboard_views.read_home_metadata(shown.get("private_metadata"))
        await publish_home(client, context, event["user"], filters=filters, page=page)


_FILTER_KEYS = {
    dashboard_views.HOME_FILTER_ACTION: "status",
    dashboard_views.HOME_INDUSTRY_ACTION: "industry",
    dashboard_views.HOME_FROM_ACTION: "from",
    dashboard_views.HOME_TO_ACTION: "to",
}


async def change_home_filter(
    ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """Any Home filter: update that one in the view's filters and publish page 1."""
    await ack()
    filters, _ = dashboard_views.read_home_metadata(body.get("view", {}).get("private_metadata"))
    value = (action.get("selected_option") or {}).get("value") or action.get("selected_date")
    filters[_FILTER_KEYS[action["action_id"]]] = value
    await publish_home(client, context, body["user"]["id"], filters=filters)


async def click_home_page(
    ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    filters, _ = dashboard_views.read_home_metadata(body.get("view", {}).get("private_metadata"))
    await publish_home(client, context, body["user"]["id"], filters=filters, page=int(action["value"]))


def register(app: AsyncApp) -> None:
    app.action(dashboard_views.SHARE_ACTION)(click_share)
    app.action(dashboard_views.CHART_ACTION)(click_chart)
    app.action(dashboard_views.EXPORT_ACTION)(click_export)
    app.event("app_home_opened")(on_app_home_opened)
    for action_id in _FILTER_KEYS:
        app.action(action_id)(change_home_filter)
    app.action(re.compile(f"^{dashboard_views.HOME_PAGE_ACTION}_(prev|next)$"))(click_home_page)
