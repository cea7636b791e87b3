"""`/client import`: upload a CSV in a modal, see the dry run, then *Import*; the result comes by DM."""

from __future__ import annotations

import uuid
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import DomainError
from bot.models import Role
from bot.roles import require
from bot.services import client_imports
from handlers.commands import CommandRequest, subcommand
from handlers.common import (
    FileTooLarge,
    SlackFileRefused,
    acting,
    fetch_slack_file,
    fill_pushed_view,
    open_modal_first,
    runtime,
    send_file_to_user,
    update_view,
)
from views import imports as import_views
from views.common import view_state

FETCH_SECONDS = 20.0


@subcommand("import")
async def command_import(request: CommandRequest) -> None:
    async def build() -> dict[str, Any]:
        async with acting(request.context, request.client) as (_session, actor):
            require(actor, Role.MANAGER, "import clients")
        return import_views.import_form()

    await open_modal_first(
        request.client, request.trigger_id, context=request.context, title=import_views.TITLE, build=build
    )


async def _manager_id(context: AsyncBoltContext, client: AsyncWebClient) -> uuid.UUID:
    async with acting(context, client) as (_session, actor):
        require(actor, Role.MANAGER, "import clients")
        return actor.id


async def _file(context: AsyncBoltContext, client: AsyncWebClient, file_id: str) -> tuple[str, bytes]:
    """The uploaded CSV from Slack (files.info, then url_private with the bot token), size-limited;
    DomainError-free reasons come back as SlackFileRefused."""
    try:
        info, content = await fetch_slack_file(
            client,
            file_id,
            max_bytes=client_imports.UPLOAD_MAX_BYTES,
            seconds=FETCH_SECONDS,
            trusted_hosts=runtime(context).settings.slack_file_hosts,
            check_claim=False,  # client_imports.decode judges the bytes (text, not a workbook or binary)
        )
    except FileTooLarge:
        raise SlackFileRefused("The file is larger than 10 MB.") from None
    except (TimeoutError, SlackApiError, OSError):
        raise SlackFileRefused("Slack didn't hand over the file in time; please try again.") from None
    return str(info.get("name") or "the file"), content


async def submit_import_form(
    ack: Any, view: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """Ack at once by pushing a "working" view, then fetch the file, dry-run it and show the preview."""
    file_id, update = import_views.read_form(view_state(view))
    if not file_id:
        await ack(response_action="errors", errors={"file": "Choose a CSV file."})
        return
    external_id = f"import-preview-{uuid.uuid4().hex}"
    await ack(response_action="push", view=import_views.working_view(external_id))
    try:
        actor_id = await _manager_id(context, client)
        _name, content = await _file(context, client, file_id)
        report = await client_imports.import_clients(
            runtime(context).db,
            data=content,
            actor_id=actor_id,
            dry_run=True,
            update=update,
            tz=runtime(context).settings.tz,
            max_bytes=client_imports.UPLOAD_MAX_BYTES,
        )
        state = import_views.ImportState(file_id=file_id, update=update)
        preview = import_views.preview_view(report, state, external_id)
    except DomainError as error:
        preview = import_views.problem_view(error.detail, external_id)
    except SlackFileRefused as error:
        preview = import_views.problem_view(error.reason, external_id)
    await fill_pushed_view(client, preview, external_id=external_id)


async def submit_import_confirm(
    ack: Any, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """The previewed file, imported for real; the result and the refused lines (CSV) by DM."""
    state = import_views.ImportState.decode(view.get("private_metadata"))
    await ack(response_action="update", view=import_views.running_view())
    try:
        actor_id = await _manager_id(context, client)
        name, content = await _file(context, client, state.file_id)
        report = await client_imports.import_clients(
            runtime(context).db,
            data=content,
            actor_id=actor_id,
            update=state.update,
            tz=runtime(context).settings.tz,
            max_bytes=client_imports.UPLOAD_MAX_BYTES,
        )
    except (DomainError, SlackFileRefused) as error:
        text = error.detail if isinstance(error, DomainError) else error.reason
        await update_view(client, import_views.problem_view(text), view_id=body["view"]["id"])
        await client.chat_postMessage(channel=context.user_id, **import_views.problem_message(text))
        return
    await update_view(client, import_views.done_view(report), view_id=body["view"]["id"])
    await client.chat_postMessage(channel=context.user_id, **import_views.result_message(report, name))
    if report.refused_lines:
        await send_file_to_user(
            client,
            context.user_id,
            content=report.refused_csv().encode("utf-8-sig"),
            filename="refused-lines.csv",
            comment=f"{len(report.refused_lines)} refused line(s), with the reason for each.",
        )


def register(app: AsyncApp) -> None:
    app.view(import_views.FORM_CALLBACK)(submit_import_form)
    app.view(import_views.CONFIRM_CALLBACK)(submit_import_confirm)
