"""Communication logging in Slack: `/client log`, the card button, the "Log communication" global
shortcut, the "Log to client" message shortcut, `/client history`, downloads and archiving."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import date
from html import unescape
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import clock
from bot.errors import DomainError, ValidationFailed
from bot.models import Client, Role
from bot.roles import has_role, require
from bot.services import clients, communications, jobs, users
from bot.services.communications import HistoryFilter, IncomingFile
from bot.storage import ATTACHMENT_MAX_BYTES
from handlers.commands import CommandRequest, subcommand
from handlers.common import (
    FileTooLarge,
    SlackFileRefused,
    acting,
    check_origin,
    domain_error_reply,
    fetch_slack_file,
    notify_user,
    open_modal_first,
    reply,
    runtime,
    send_stored_files_to_user,
    show_modal_first,
    slack_profile,
    split_args,
    update_view,
)
from views import communications as comm_views
from views.common import error_message, view_state
from views.communications import LogFormState
from views.jobs import CLIENT_PICKER

log = logging.getLogger("clientbot.communications")
LOG_TITLE = "Log communication"
MENTIONS = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_FILTER = re.compile(r"^(type|job|from|to):(.+)$", re.IGNORECASE)


async def _log_form_for(
    session: Any, actor: Any, client: Client, state: LogFormState, initial: dict[str, Any] | None = None
) -> dict[str, Any]:
    require(actor, Role.RECRUITER, "log communications")
    communications.require_view(actor, client)
    state.client_id = client.id
    return comm_views.log_form(
        state=state,
        client=client,
        jobs=await jobs.choices_for_client(session, client_id=client.id),
        initial=initial,
        now=clock.now(),
    )


@subcommand("log")
async def command_log(request: CommandRequest) -> None:
    async def build() -> dict[str, Any]:
        async with acting(request.context, request.client) as (session, actor):
            client = await clients.find(session, request.args, viewer=actor)
            return await _log_form_for(
                session, actor, client, LogFormState(response_url=request.response_url)
            )

    await open_modal_first(
        request.client, request.trigger_id, context=request.context, title=LOG_TITLE, build=build
    )


async def click_log(
    ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()

    async def build() -> dict[str, Any]:
        async with acting(context, client) as (session, actor):
            record = await clients.get(session, uuid.UUID(action["value"]), viewer=actor)
            return await _log_form_for(
                session, actor, record, LogFormState(response_url=body.get("response_url"))
            )

    try:
        await show_modal_first(client, body, context=context, title=LOG_TITLE, build=build)
    except DomainError as error:
        await notify_user(client, context.user_id, domain_error_reply(error), body.get("response_url"))


async def open_log_shortcut(
    ack: Any, shortcut: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """Global shortcut: ask for the client first."""
    await ack()
    await check_origin(context, client)
    await client.views_open(
        trigger_id=shortcut["trigger_id"], view=comm_views.pick_client_form(state=LogFormState())
    )


async def open_log_message_shortcut(
    ack: Any, shortcut: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """ "Log to client" on a message: its text as notes, its author and mentions as participants, its
    permalink, and its files as attachments."""
    await ack()
    message = shortcut.get("message") or {}
    channel = (shortcut.get("channel") or {}).get("id")
    people = [message["user"]] if message.get("user") else []
    people += [u for u in MENTIONS.findall(message.get("text") or "") if u not in people]

    async def build() -> dict[str, Any]:  # the permalink is a Slack call: after the modal is open
        permalink = None
        if channel and message.get("ts"):
            try:
                permalink = (await client.chat_getPermalink(channel=channel, message_ts=message["ts"]))[
                    "permalink"
                ]
            except SlackApiError:
                log.info("no permalink for %s/%s", channel, message.get("ts"))
        state = LogFormState(
            response_url=shortcut.get("response_url"),
            permalink=permalink,
            participants=people[:20],
            message_file_ids=[f["id"] for f in message.get("files") or []][:10],
            from_message=True,
        )
        text = message.get("text") or ""
        async with acting(context, client) as (session, actor):
            suggested = await clients.named_in(session, unescape(text), viewer=actor)
            names = await _display_names(session, client, MENTIONS.findall(text)[:20])
        notes = unescape(comm_views.names_for_mentions(text, names))
        return comm_views.pick_client_form(state=state, notes=notes, suggested=suggested)

    await open_modal_first(client, shortcut["trigger_id"], context=context, title=LOG_TITLE, build=build)


async def _display_names(session: Any, client: AsyncWebClient, slack_ids: list[str]) -> dict[str, str]:
    """Names for people mentioned in a message: as clientbot knows them, else as Slack does."""
    names: dict[str, str] = {}
    for slack_id in dict.fromkeys(slack_ids):
        known = await users.by_slack_id(session, slack_id)
        profile = None if known and known.display_name else await slack_profile(client, slack_id)
        name = (known.display_name if known else None) or (profile.display_name if profile else None)
        if name:
            names[slack_id] = name
    return names


async def submit_pick_client(
    ack: Any, view: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """Step two: the full log form for the chosen client, keeping what the message shortcut carried."""
    state = LogFormState.decode(view.get("private_metadata"))
    values = view_state(view)
    picked = ((values.get("client") or {}).get(CLIENT_PICKER) or {}).get("selected_option") or {}
    notes = ((values.get("notes") or {}).get("value") or {}).get("value")
    try:
        async with acting(context, client) as (session, actor):
            record = await clients.get(session, uuid.UUID(picked["value"]), viewer=actor)
            form = await _log_form_for(
                session,
                actor,
                record,
                state,
                {"notes": notes},
            )
    except (KeyError, ValueError):
        await ack(response_action="errors", errors={"client": "Pick a client."})
        return
    except DomainError as error:
        await ack(response_action="errors", errors={"client": str(error)[:150]})
        return
    await ack(response_action="update", view=form)


async def submit_log_form(
    ack: Any, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """Validate in the modal, then show progress while the files are fetched and checked by content;
    a rejected file brings the form back with everything typed so far, and nothing is stored."""
    state = LogFormState.decode(view.get("private_metadata"))
    raw, files = comm_views.read_log_form(view_state(view))
    raw["permalink"] = state.permalink
    raw["supersedes_id"] = state.supersedes_id
    try:
        data = communications.parse_communication(raw)
        oversized = [f.get("name", "a file") for f in files if int(f.get("size") or 0) > ATTACHMENT_MAX_BYTES]
        if oversized:
            raise ValidationFailed({"attachments": f"{oversized[0]} is larger than 10 MB."})
        if len(files) + len(state.message_file_ids) > communications.MAX_ATTACHMENTS:
            raise ValidationFailed({"attachments": "Attach at most 10 files."})
        if state.client_id is None:
            raise ValidationFailed({"attachments": "The form lost its client; please start again."})
    except ValidationFailed as error:
        await ack(response_action="errors", errors=comm_views.log_form_errors(error.fields))
        return
    count = len(files) + len(state.message_file_ids)
    await ack(
        response_action="update",
        view=comm_views.progress_view(f"Checking {count} attachment(s) and saving…" if count else "Saving…"),
    )
    rt = runtime(context)
    view_id = body["view"]["id"]
    try:
        incoming = [await _download(client, rt, f["id"]) for f in files]
        try:
            incoming += [await _download(client, rt, file_id) for file_id in state.message_file_ids]
        except ValidationFailed as error:
            state.message_file_ids = []  # the form comes back without them, so it can still be saved
            left_out = "The message's files were left out; attach them by hand if needed."
            raise ValidationFailed({"attachments": f"{error.detail} {left_out}"}) from None
        async with acting(context, client) as (session, actor):
            stored = await communications.save_attachments(rt.storage, incoming)
            record = await communications.log(
                session, actor=actor, client_id=state.client_id, data=data, attachments=stored
            )
            owner = await clients.get(session, record.client_id, viewer=actor)
    except DomainError as error:
        text = f"Nothing was saved. {error.detail} Please attach your files again."
        async with acting(context, client) as (session, actor):
            owner = await clients.get(session, state.client_id, viewer=actor)
            choices = await jobs.choices_for_client(session, client_id=owner.id)
        form = comm_views.log_form(
            state=state, client=owner, jobs=choices, initial=raw, now=clock.now(), error=text
        )
        if not await update_view(client, form, view_id=view_id):  # closed meanwhile: say so elsewhere
            await notify_user(client, context.user_id, error_message(text), state.response_url)
        return
    except Exception:  # never leave the modal on "Saving…": nothing was saved, the error handler says why
        await update_view(
            client,
            comm_views.progress_view(
                "Nothing was saved: something went wrong on our side. clientbot sent you the details; "
                "please try again.",
                done=True,
            ),
            view_id=view_id,
        )
        raise
    # Saved: whatever happens to the progress view now (the user may have closed it), say so.
    shown = await update_view(client, comm_views.logged_view(record, owner), view_id=view_id)
    if state.response_url or not shown:
        await notify_user(
            client, context.user_id, comm_views.logged_message(record, owner), state.response_url
        )


async def _download(client: AsyncWebClient, rt: Any, file_id: str) -> IncomingFile:
    try:
        info, content = await fetch_slack_file(
            client,
            file_id,
            max_bytes=ATTACHMENT_MAX_BYTES,
            seconds=60,
            trusted_hosts=rt.settings.slack_file_hosts,
        )
    except FileTooLarge as error:
        raise ValidationFailed(
            {"attachments": f"{error.args[0] or 'A file'} is larger than 10 MB."}
        ) from None
    except SlackFileRefused as error:
        raise ValidationFailed({"attachments": error.reason}) from None
    except (SlackApiError, OSError, TimeoutError):
        raise ValidationFailed({"attachments": "Slack didn't hand over a file; please try again."}) from None
    return IncomingFile(name=info.get("name") or "attachment", content=content)


def _parse_history_query(words: list[str]) -> tuple[HistoryFilter, str]:
    filters, described, text = HistoryFilter(), [], []
    for word in words:
        lowered = word.lower()
        match = _FILTER.match(word)
        if lowered == "important":
            filters.important = True
        elif lowered in ("followup", "follow-up"):
            filters.follow_up = True
        elif lowered == "archived":
            filters.include_archived = True
        elif match:
            key, value = match.group(1).lower(), match.group(2)
            if key == "type":
                for name in value.split(","):
                    kind = communications.TYPE_ALIASES.get(name.strip().lower().replace("-", "_"))
                    if kind is None:
                        raise ValidationFailed(
                            {"type": f"Unknown type “{name}”: use meeting, call, email, video or contract."}
                        )
                    filters.types.append(kind)
            elif key == "job":
                filters.job_reference = value
            else:
                try:
                    day = date.fromisoformat(value)
                except ValueError:
                    raise ValidationFailed({key: f"“{value}” is not a date: use YYYY-MM-DD."}) from None
                setattr(filters, "date_from" if key == "from" else "date_to", day)
        else:
            text.append(word)
            continue
        described.append(word)
    if text:
        filters.text = " ".join(text)
        described.append(f"“{filters.text}”")
    return filters, " ".join(described)


async def _history_payload(
    context: AsyncBoltContext, client: AsyncWebClient, client_id: uuid.UUID | None, query: str, page: int
) -> dict[str, Any]:
    async with acting(context, client, read_only=True) as (session, actor):
        words = split_args(query)
        if client_id is None:
            if not words:
                raise ValidationFailed(
                    {
                        "text": "Usage: `/client history CODE [type:call] [important] [followup] "
                        "[job:REF] [from:DATE] [to:DATE] [text]`"
                    }
                )
            record = await clients.find(session, words[0], viewer=actor, details=False, entity=False)
            query = " ".join(f'"{w}"' if " " in w else w for w in words[1:])
            words = words[1:]
        else:
            record = await clients.get(session, client_id, viewer=actor, details=False, entity=False)
        filters, described = _parse_history_query(words)
        result = await communications.history(
            session,
            actor=actor,
            client=record,
            filters=filters,
            page=page,
            tz=runtime(context).settings.tz,
        )
        manager = has_role(actor, Role.MANAGER)
        return comm_views.history_message(
            record,
            result,
            query=query,
            described=described,
            can_archive=lambda r: manager or r.logged_by == actor.id,
        )


@subcommand("history")
async def command_history(request: CommandRequest) -> None:
    await request.reply(await _history_payload(request.context, request.client, None, request.args, 1))


async def click_history(
    ack: Any,
    action: dict[str, Any],
    respond: Any,
    client: AsyncWebClient,
    context: AsyncBoltContext,
    body: dict[str, Any],
) -> None:
    await ack()
    try:
        payload = await _history_payload(context, client, uuid.UUID(action["value"]), "", 1)
    except DomainError as error:
        payload = domain_error_reply(error)
    await notify_user(client, context.user_id, payload, body.get("response_url"))


async def click_history_page(
    ack: Any, action: dict[str, Any], respond: Any, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    client_id, query, page = comm_views.read_page_value(action["value"])
    try:
        payload = await _history_payload(context, client, client_id, query, page)
    except DomainError as error:
        payload = domain_error_reply(error)
    await reply(respond, payload, replace=True)


async def click_entry_menu(
    ack: Any,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Any,
    client: AsyncWebClient,
    context: AsyncBoltContext,
) -> None:
    """Download (the bot uploads the file to the requester's DM, never a public link) or archive."""
    await ack()
    kind, comm_id, index = comm_views.read_menu_value(action["selected_option"]["value"])
    rt = runtime(context)
    if kind == "fix":
        await _open_correction(client, context, body, comm_id)
        return
    try:
        async with acting(context, client) as (session, actor):
            if kind == "ar":  # asks first: the prompt's red button archives
                record = await communications.archivable(session, actor=actor, communication_id=comm_id)
                await reply(respond, comm_views.archive_prompt(record))
                return
            files = await communications.attachments(
                session, actor=actor, communication_id=comm_id, index=index
            )
    except DomainError as error:
        await reply(respond, domain_error_reply(error))
        return
    await send_stored_files_to_user(
        client,
        context.user_id,
        rt.storage,
        files=files,
        comment=comm_views.files_comment([meta["name"] for meta in files]),
    )


async def click_archive(
    ack: Any, action: dict[str, Any], respond: Any, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """The archive prompt's red button: archive, and the prompt becomes the outcome."""
    await ack()
    try:
        async with acting(context, client) as (session, actor):
            record = await communications.archive(
                session, actor=actor, communication_id=uuid.UUID(action["value"])
            )
    except DomainError as error:
        await reply(respond, domain_error_reply(error), replace=True)
        return
    await reply(respond, comm_views.archived_message(record), replace=True)


async def click_archive_cancel(ack: Any, respond: Any) -> None:
    await ack()
    await respond(delete_original=True)


async def _open_correction(
    client: AsyncWebClient, context: AsyncBoltContext, body: dict[str, Any], comm_id: uuid.UUID
) -> None:
    """The log form prefilled from a record, saved as a new record that supersedes it."""

    async def build() -> dict[str, Any]:
        return await _correction_form(client, context, body, comm_id)

    try:
        await open_modal_first(client, body["trigger_id"], context=context, title=LOG_TITLE, build=build)
    except DomainError as error:
        await notify_user(client, context.user_id, domain_error_reply(error), body.get("response_url"))


async def _correction_form(
    client: AsyncWebClient, context: AsyncBoltContext, body: dict[str, Any], comm_id: uuid.UUID
) -> dict[str, Any]:
    async with acting(context, client) as (session, actor):
        record, owner = await communications.get(session, actor=actor, communication_id=comm_id)
        initial = {
            "communication_type": record.communication_type,
            "communication_date": record.communication_date,
            "subject": record.subject,
            "notes": record.notes,
            "follow_up_date": record.follow_up_date,
            "is_important": record.is_important,
            "follow_up_required": record.follow_up_required,
            "slack_participants": [
                p["slack_user_id"] for p in record.participants or [] if p.get("slack_user_id")
            ],
            "external_participants": ", ".join(
                p.get("email") or p.get("name") or ""
                for p in record.participants or []
                if not p.get("slack_user_id")
            ),
        }
        state = LogFormState(supersedes_id=record.id, response_url=body.get("response_url"))
        return await _log_form_for(session, actor, owner, state, initial)


async def click_follow_up(
    ack: Any, action: dict[str, Any], respond: Any, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """Done or Snooze 1 week on a follow-up nudge."""
    await ack()
    comm_id = uuid.UUID(action["value"])
    snooze = action["action_id"] == comm_views.FOLLOW_UP_SNOOZE_ACTION
    async with acting(context, client) as (session, actor):
        if snooze:
            today = clock.today(runtime(context).settings.tz)
            record = await communications.snooze_follow_up(
                session, actor=actor, communication_id=comm_id, today=today
            )
        else:
            record = await communications.complete_follow_up(session, actor=actor, communication_id=comm_id)
    await reply(respond, comm_views.follow_up_result_message(record, snoozed=snooze))


def register(app: AsyncApp) -> None:
    app.shortcut("log_communication")(open_log_shortcut)
    app.shortcut("log_to_client")(open_log_message_shortcut)
    app.view(comm_views.PICK_CALLBACK)(submit_pick_client)
    app.view(comm_views.LOG_CALLBACK)(submit_log_form)
    app.action(comm_views.LOG_ACTION)(click_log)
    app.action(comm_views.HISTORY_ACTION)(click_history)
    app.action(re.compile(f"^{comm_views.HISTORY_PAGE_ACTION}_(prev|next)$"))(click_history_page)
    app.action(comm_views.ENTRY_MENU_ACTION)(click_entry_menu)
    app.action(comm_views.ARCHIVE_ACTION)(click_archive)
    app.action(comm_views.ARCHIVE_CANCEL_ACTION)(click_archive_cancel)
    app.action(comm_views.FOLLOW_UP_DONE_ACTION)(click_follow_up)
    app.action(comm_views.FOLLOW_UP_SNOOZE_ACTION)(click_follow_up)
