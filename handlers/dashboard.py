"""The client dashboard (`/client show`), sharing it, its chart and PDF export, and the App Home portfolio."""

from __future__ import annotations

import asyncio
import inspect
import re
import uuid
from collections.abc import Awaitable, Callable
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
from bot.services import clients, communications, dashboard, metrics
from handlers.commands import CommandRequest, subcommand
from handlers.common import (
    CommandProgress,
    DmProgress,
    acting,
    check_origin,
    domain_error_reply,
    internal_channel,
    notify_user,
    open_dm,
    reply,
    runtime,
    send_file_to_user,
)
from handlers.health import page_health, thresholds
from handlers.metrics import home_blocks as metrics_home
from views import communications as comm_views
from views import dashboard as dashboard_views
from views.common import info_message


def _today(rt: Runtime) -> Any:
    return clock.today(rt.settings.tz)


async def _load(
    context: AsyncBoltContext,
    client: AsyncWebClient,
    client_id: uuid.UUID | None = None,
    reference: str | None = None,
    *,
    with_health: bool = True,
) -> tuple[dashboard.Dashboard, bool]:
    """The dashboard the viewer may see; its live health only where it is shown (`with_health`: the card
    and the PDF, not the channel copy or the chart), as it costs six queries."""
    async with acting(context, client, read_only=True) as (session, actor):
        found = (
            None if client_id else await clients.find(session, reference or "", viewer=actor, entity=False)
        )
        board = await dashboard.build(
            session,
            actor=actor,
            client_id=client_id,
            client=found,
            today=_today(runtime(context)),
            thresholds=thresholds(context) if with_health else None,
        )
        return board, has_role(actor, Role.MANAGER)


@subcommand("show")
async def command_show(request: CommandRequest) -> None:
    board, can_edit = await _load(request.context, request.client, reference=request.args)
    await request.reply(dashboard_views.dashboard_message(board, can_edit=can_edit))


async def click_share(
    ack: Any,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Any,
    client: AsyncWebClient,
    context: AsyncBoltContext,
) -> None:
    """Post the dashboard for everyone in the conversation, without private data; in a channel shared with
    another company (Slack Connect, or one Slack can't tell us about) without the contact and activity."""
    await ack()
    # errors: the global handler replies; a channel copy shows no health (views.dashboard), so none is read
    board, _ = await _load(context, client, uuid.UUID(action["value"]), with_health=False)
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    external = not channel or not await internal_channel(client, channel)
    await respond(
        response_type="in_channel",
        replace_original=False,
        **dashboard_views.dashboard_message(board, shared=True, external=external),
    )


async def click_chart(
    ack: Any, action: dict[str, Any], respond: Any, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    board, _ = await _load(context, client, uuid.UUID(action["value"]), with_health=False)
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
    """Figures, then the PDF (in a render worker), then the upload. The progress steps go out while the
    work goes on (in order, the outcome last), and the DM is opened while the PDF is drawn: only the work
    and the upload's own round trips stand between the command and its last post."""
    progress.step(dashboard_views.progress_message("PDF report 1/3: gathering the figures…"))
    dm: asyncio.Task[str] | None = None
    try:
        board, _ = await _load(context, client, client_id, reference)
        progress.step(
            dashboard_views.progress_message(
                f"PDF report of {board.client.name} 2/3: drawing charts and pages…"
            )
        )
        dm = asyncio.create_task(open_dm(client, context.user_id))
        rt = runtime(context)
        pdf = await metrics.timed_build(
            rt.db, render.build_dashboard_pdf, board, rt.storage, kind="dashboard", client_id=board.client.id
        )
        progress.step(
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
            dm=dm,
        )
    except DomainError as error:
        await progress.show(domain_error_reply(error))
        return
    except Exception:  # the progress message never stays up after a failure; the error handler reports it
        await progress.show(dashboard_views.failed_message("The PDF report could not be built."))
        raise
    finally:
        if dm is not None and not dm.done():  # the build failed first: the DM is not needed
            dm.cancel()
        elif dm is not None and not dm.cancelled():
            dm.exception()  # a failed conversations.open was the upload's failure, or is moot: retrieved
    await progress.show(dashboard_views.sent_message(f"The PDF of {board.client.name} is in your DMs."))


@subcommand("export")
async def command_export(request: CommandRequest) -> None:
    await _export(request.context, request.client, CommandProgress(request.respond), reference=request.args)


async def click_export(
    ack: Any, action: dict[str, Any], respond: Any, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """The PDF button on a dashboard: the dashboard stays as it is; progress and the PDF go to the DM."""
    await ack()
    # A pointer, not a spinner: it can't be changed later (a response_url can only replace the dashboard),
    # so the progress, the PDF and any failure are in the one DM message.
    await reply(
        respond, info_message("Building the PDF report in your DMs: it, or what went wrong, will be there.")
    )
    await _export(context, client, DmProgress(client, context.user_id), client_id=uuid.UUID(action["value"]))


async def _acked() -> None:
    """`ack` for a listener a menu click is handed to: the click was acknowledged already."""


def _menu_listeners() -> dict[str, Callable[..., Awaitable[None]]]:
    """The button listeners the card's menus stand for, by action_id (imported here: those modules are
    registered beside this one)."""
    from handlers import clients as client_handlers
    from handlers import communications as comm_handlers
    from handlers import feedback as feedback_handlers
    from handlers import jobs as job_handlers

    return {
        dashboard_views.SHARE_ACTION: click_share,
        dashboard_views.CHART_ACTION: click_chart,
        dashboard_views.EXPORT_ACTION: click_export,
        dashboard_views.JOBS_ACTION: job_handlers.click_open_jobs,
        dashboard_views.FEEDBACK_HISTORY_ACTION: feedback_handlers.click_history,
        dashboard_views.FEEDBACK_ACTION: feedback_handlers.click_feedback,
        dashboard_views.EDIT_ACTION: client_handlers.click_edit_client,
        dashboard_views.HISTORY_ACTION: comm_handlers.click_history,
    }


async def click_menu(
    ack: Any,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Any,
    client: AsyncWebClient,
    context: AsyncBoltContext,
) -> None:
    """An option of the card's *More* or manage menu (`kind:client id`): handled by the listener of the
    button it stands for, exactly as if that button had been clicked."""
    await ack()
    kind, _, client_id = ((action.get("selected_option") or {}).get("value") or "").partition(":")
    choice = (dashboard_views.MORE_OPTIONS | dashboard_views.MANAGE_OPTIONS).get(kind)
    try:
        uuid.UUID(client_id)
    except ValueError:
        choice = None
    if choice is None:  # a forged value: nothing to do
        return
    clicked = {"type": "button", "action_id": choice[1], "value": client_id}
    listener = _menu_listeners()[choice[1]]
    offered = {
        "ack": _acked,
        "body": body | {"actions": [clicked]},
        "action": clicked,
        "respond": respond,
        "client": client,
        "context": context,
    }
    wanted = inspect.signature(listener).parameters
    await listener(**{name: value for name, value in offered.items() if name in wanted})


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
    today = _today(runtime(context))
    async with acting(context, client) as (session, actor):
        board = await dashboard.home(session, viewer=actor, today=today, filters=chosen, page=page)
        if board.portfolio:
            board.portfolio.health = await page_health(
                session, context, [row.client.id for row in board.portfolio.rows]
            )
        view = dashboard_views.home_view(
            actor, board, can_create=has_role(actor, Role.MANAGER), filters=filters, today=today
        )
        view["blocks"] = (view["blocks"] + await metrics_home(session, actor, runtime(context)))[:100]
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


async def clear_home_filters(
    ack: Any, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    await publish_home(client, context, body["user"]["id"])


async def click_home_follow_up(
    ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """Done or Snooze 1 week on a follow-up listed on Home: stored, then Home is published again without it
    (Home has no response_url to answer through)."""
    await ack()
    record_id = uuid.UUID(action["value"])
    try:
        async with acting(context, client) as (session, actor):
            if action["action_id"] == dashboard_views.HOME_SNOOZE_ACTION:
                await communications.snooze_follow_up(
                    session, actor=actor, communication_id=record_id, today=_today(runtime(context))
                )
            else:
                await communications.complete_follow_up(session, actor=actor, communication_id=record_id)
    except DomainError as error:  # Home has no response_url: the refusal goes to the DM
        await notify_user(client, body["user"]["id"], domain_error_reply(error))
        return
    filters, page = dashboard_views.read_home_metadata(body.get("view", {}).get("private_metadata"))
    await publish_home(client, context, body["user"]["id"], filters=filters, page=page)


async def click_home_log(
    ack: Any, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """*Log communication* on Home (no client yet): the same client picker as the global shortcut."""
    await ack()
    await check_origin(context, client)  # nothing for people from another organisation
    await client.views_open(
        trigger_id=body["trigger_id"], view=comm_views.pick_client_form(state=comm_views.LogFormState())
    )


def register(app: AsyncApp) -> None:
    app.action(dashboard_views.SHARE_ACTION)(click_share)
    app.action(dashboard_views.CHART_ACTION)(click_chart)
    app.action(dashboard_views.EXPORT_ACTION)(click_export)
    app.action(dashboard_views.MORE_ACTION)(click_menu)
    app.action(dashboard_views.MANAGE_ACTION)(click_menu)
    app.event("app_home_opened")(on_app_home_opened)
    for action_id in _FILTER_KEYS:
        app.action(action_id)(change_home_filter)
    app.action(re.compile(f"^{dashboard_views.HOME_PAGE_ACTION}_(prev|next)$"))(click_home_page)
    app.action(dashboard_views.HOME_CLEAR_ACTION)(clear_home_filters)
    app.action(dashboard_views.HOME_DONE_ACTION)(click_home_follow_up)
    app.action(dashboard_views.HOME_SNOOZE_ACTION)(click_home_follow_up)
    app.action(dashboard_views.HOME_LOG_ACTION)(click_home_log)
