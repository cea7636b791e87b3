"""Client profiles in Slack: the new/edit modal, the card, the paged list, status changes."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Collection
from datetime import date, timedelta
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import clock
from bot.errors import DomainError, DuplicateSuspected, PermissionDenied, ValidationFailed
from bot.models import ClientStatus, Role, User
from bot.roles import has_role, require
from bot.services import clients, communications, health, users
from bot.storage import LOGO_MAX_BYTES, sniff_image
from handlers.commands import CommandRequest, subcommand
from handlers.common import (
    FileTooLarge,
    SlackFileRefused,
    acting,
    domain_error_reply,
    fetch_slack_file,
    from_modal,
    mentioned_user,
    notify_user,
    open_modal_first,
    reply,
    runtime,
    split_args,
)
from handlers.health import thresholds
from views import clients as client_views
from views.clients import ClientFormState
from views.common import view_state

log = logging.getLogger("clientbot.clients")
PRECHECK_SECONDS = 2.0  # what may run before a modal submission is acked (Slack allows 3 s)


async def open_client_form(
    client: AsyncWebClient,
    context: AsyncBoltContext,
    trigger_id: str,
    *,
    response_url: str | None = None,
    push: bool = False,
    client_id: uuid.UUID | None = None,
    reference: str | None = None,
) -> None:
    """Open the new-client modal, or the edit modal for `client_id` (or `reference`); managers and admins
    only. The modal opens at once on the trigger and is filled when the user and data are known."""

    async def build() -> dict[str, Any]:
        async with acting(context, client) as (session, actor):
            if client_id is None and reference is None:
                require(actor, Role.MANAGER, "create clients")
                state, title = ClientFormState(response_url=response_url), None
                values = {"account_manager_id": str(actor.id)}  # the creator manages it unless changed
            else:
                require(actor, Role.MANAGER, "edit clients")
                record = (
                    await clients.get(session, client_id, viewer=actor)
                    if client_id
                    else await clients.find(session, reference or "", viewer=actor)
                )
                state = client_views.edit_form_state(record, response_url=response_url)
                values, title = client_views.client_values(record), f"Edit {record.client_code}"
            managers = await users.account_managers(session)
        return client_views.client_form(state=state, managers=managers, values=values, title=title)

    editing = client_id is not None or reference is not None
    await open_modal_first(
        client,
        trigger_id,
        context=context,
        title="Edit client" if editing else "New client",
        build=build,
        push=push,
    )


@subcommand("new")
async def command_new(request: CommandRequest) -> None:
    await open_client_form(
        request.client, request.context, request.trigger_id, response_url=request.response_url
    )


@subcommand("edit")
async def command_edit(request: CommandRequest) -> None:
    await open_client_form(
        request.client,
        request.context,
        request.trigger_id,
        response_url=request.response_url,
        reference=request.args,
    )


async def open_new_client_shortcut(
    ack: Any, shortcut: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    await _open_or_tell(client, context, shortcut["trigger_id"])


async def click_new_client(
    ack: Any, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    await _open_or_tell(client, context, body["trigger_id"])


async def click_edit_client(
    ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    in_modal = from_modal(body)
    await _open_or_tell(
        client,
        context,
        body["trigger_id"],
        client_id=uuid.UUID(action["value"]),
        push=in_modal,
        response_url=body.get("response_url"),
    )


async def _open_or_tell(
    client: AsyncWebClient, context: AsyncBoltContext, trigger_id: str, **kwargs: Any
) -> None:
    try:
        await open_client_form(client, context, trigger_id, **kwargs)
    except DomainError as error:
        await notify_user(client, context.user_id, domain_error_reply(error), kwargs.get("response_url"))


async def click_add_contact(
    ack: Any, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """Grow the modal by one contact section, keeping everything typed so far."""
    await ack()
    await _regrow(body, client, context, contacts=1)


async def click_add_address(
    ack: Any, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """Unfold the address inputs, keeping everything typed so far."""
    await ack()
    await _regrow(body, client, context, address=True)


async def _regrow(
    body: dict[str, Any],
    client: AsyncWebClient,
    context: AsyncBoltContext,
    *,
    contacts: int = 0,
    address: bool = False,
) -> None:
    view = body["view"]
    state = ClientFormState.decode(view.get("private_metadata"))
    values, _ = client_views.read_client_form(view_state(view), state)
    state.contacts = min(state.contacts + contacts, client_views.MAX_FORM_CONTACTS)
    state.show_address = state.show_address or address
    async with acting(context, client) as (session, _actor):
        managers = await users.account_managers(session)
    title = view.get("title", {}).get("text")
    new_view = client_views.client_form(state=state, managers=managers, values=values, title=title)
    try:
        await client.views_update(view_id=view["id"], hash=view.get("hash"), view=new_view)
    except SlackApiError as error:
        if error.response.get("error") not in ("not_found", "hash_conflict"):  # closed, or edited meanwhile
            raise


async def _logo_from_slack(
    client: AsyncWebClient, files: list[dict[str, Any]], trusted_hosts: Collection[str]
) -> tuple[bytes, str, str] | None:
    """The chosen logo's bytes, extension and Slack file id, checked by content; ValidationFailed on the
    `logo` field."""
    if not files:
        return None
    try:
        _info, content = await fetch_slack_file(
            client,
            files[0]["id"],
            max_bytes=LOGO_MAX_BYTES,
            seconds=PRECHECK_SECONDS,
            trusted_hosts=trusted_hosts,
            check_claim=False,  # sniff_image below judges the bytes, with its own precise reasons
        )
    except FileTooLarge:
        raise ValidationFailed({"logo": "The logo is larger than 2 MB."}) from None
    except SlackFileRefused as error:
        raise ValidationFailed({"logo": error.reason[:150]}) from None
    except (TimeoutError, SlackApiError, OSError):
        raise ValidationFailed(
            {"logo": "Slack didn't hand over the file in time; please try again."}
        ) from None
    image = sniff_image(content)
    return content, image.extension, files[0]["id"]


async def submit_client_form(
    ack: Any, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """Validate in the modal (field errors, duplicate warning), ack, then write and confirm."""
    state = ClientFormState.decode(view.get("private_metadata"))
    form_values = view_state(view)
    raw, sources = client_views.read_client_form(form_values, state)
    logo_files, confirmed = client_views.read_form_extras(form_values)
    if not logo_files and state.logo_file_ids:
        logo_files = [{"id": file_id} for file_id in state.logo_file_ids]
    problems: dict[str, str] = {}  # every field's problem in one answer, not one round at a time
    try:
        async with asyncio.timeout(PRECHECK_SECONDS + 0.5):
            try:
                data = clients.parse_client(raw)
            except ValidationFailed as error:
                problems |= error.fields
            try:
                logo = await _logo_from_slack(client, logo_files, runtime(context).settings.slack_file_hosts)
            except ValidationFailed as error:
                problems |= error.fields
            async with acting(context, client) as (session, actor):
                require(actor, Role.MANAGER, "create clients" if state.mode == "new" else "edit clients")
                try:
                    await clients.check_account_manager(session, raw.get("account_manager_id") or None)
                except ValidationFailed as error:
                    problems |= error.fields
                if problems:
                    raise ValidationFailed(problems)
                duplicates = (
                    await clients.find_duplicates(session, data)
                    if state.mode == "new" and not confirmed
                    else []
                )
                managers = await users.account_managers(session) if duplicates else []
    except ValidationFailed as error:
        await ack(response_action="errors", errors=client_views.form_errors(error.fields, sources))
        return
    except PermissionDenied as error:
        await ack(response_action="errors", errors={"name": str(error)[:150]})
        return
    except TimeoutError:
        log.warning(
            "client form: checks took over %.1f s; asked the user to submit again", PRECHECK_SECONDS + 0.5
        )
        await ack(
            response_action="errors", errors={"name": "clientbot is slow right now; please submit again."}
        )
        return
    if duplicates:
        state.logo_file_ids = [f["id"] for f in logo_files]
        await ack(
            response_action="update",
            view=client_views.client_form(state=state, managers=managers, values=raw, duplicates=duplicates),
        )
        return
    await ack()
    await _save_client(client, context, state, data, logo, confirmed)


async def _save_client(
    client: AsyncWebClient,
    context: AsyncBoltContext,
    state: ClientFormState,
    data: clients.ClientIn,
    logo: tuple[bytes, str, str] | None,
    confirmed: bool,
) -> None:
    rt = runtime(context)
    try:
        logo_key = logo_file_id = None
        if logo:
            content, extension, logo_file_id = logo
            stored = await rt.storage.put(
                content,
                kind="logos",
                extension=extension,
                mime=f"image/{'png' if extension == 'png' else 'jpeg'}",
            )
            logo_key = stored.key
        async with acting(context, client) as (session, actor):
            if state.mode == "new":
                # The duplicate gate ran before the ack; unless the user confirmed, it runs again here, in
                # the transaction that inserts, so a client created meanwhile is not created twice.
                record = await clients.create(
                    session,
                    actor=actor,
                    data=data,
                    confirm_duplicate=confirmed,
                    logo_key=logo_key,
                    logo_slack_file_id=logo_file_id,
                    tz=rt.settings.tz,
                )
                payload = client_views.created_message(record, can_edit=True)
            else:
                assert state.client_id is not None
                record = await clients.update(
                    session,
                    actor=actor,
                    client_id=state.client_id,
                    data=data,
                    logo_key=logo_key,
                    logo_slack_file_id=logo_file_id,
                )
                payload = client_views.updated_message(record, can_edit=True)
    except DuplicateSuspected as error:
        payload = client_views.duplicate_meanwhile_message(data.name, error.matches)
    except DomainError as error:
        payload = domain_error_reply(error)
    await notify_user(client, context.user_id, payload, state.response_url)


async def _card_details(session: Any, context: AsyncBoltContext, actor: User, record: Any) -> dict[str, Any]:
    """What the card shows besides the profile: follow-ups due within a week. Checks the viewer may see it."""
    communications.require_view(actor, record)
    today = clock.today(runtime(context).settings.tz)
    due = await communications.follow_ups_due(session, client_id=record.id, until=today + timedelta(days=7))
    return {"can_edit": has_role(actor, Role.MANAGER), "follow_ups": due, "today": today}


async def click_open_client(
    ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """ "Open" on a list row or the Home tab: the client card in a modal."""
    await ack()

    async def build() -> dict[str, Any]:
        async with acting(context, client, read_only=True) as (session, actor):
            record = await clients.get(session, uuid.UUID(action["value"]), viewer=actor)
            details = await _card_details(session, context, actor, record)
            return client_views.client_card_modal(record, **details)

    await open_modal_first(
        client, body["trigger_id"], context=context, title="Client", build=build, push=from_modal(body)
    )


_STATUS_WORDS = {s.value: s for s in ClientStatus} | {
    "onhold": ClientStatus.ON_HOLD,
    "hold": ClientStatus.ON_HOLD,
}


@subcommand("status")
async def command_status(request: CommandRequest) -> None:
    words = split_args(request.args)
    if len(words) < 2 or words[1].lower() not in _STATUS_WORDS:
        raise ValidationFailed(
            {"text": "Usage: `/client status CODE active|inactive|on-hold|archived [reason]`"}
        )
    await _change_status(request, words[0], _STATUS_WORDS[words[1].lower()], " ".join(words[2:]))


@subcommand("deactivate")
async def command_deactivate(request: CommandRequest) -> None:
    words = split_args(request.args)
    if not words:
        raise ValidationFailed({"text": "Usage: `/client deactivate CODE reason…`"})
    await _change_status(request, words[0], ClientStatus.INACTIVE, " ".join(words[1:]))


async def _change_status(request: CommandRequest, reference: str, status: ClientStatus, reason: str) -> None:
    async with acting(request.context, request.client) as (session, actor):
        record = await clients.find(session, reference, viewer=actor)
        old = record.status
        record = await clients.change_status(
            session, actor=actor, client_id=record.id, status=status, reason=reason
        )
    await request.reply(client_views.status_changed_message(record, old))


_FILTER = re.compile(r"^(status|industry|manager|from|to|health|sort):(.*)$", re.IGNORECASE)


async def _parse_list_query(session: Any, text: str) -> tuple[clients.ClientFilter, str]:
    """`status:active industry:"Health care" manager:@ann from:2026-01-01 acme` -> filter + description."""
    filters, described, search = clients.ClientFilter(), [], []
    for word in split_args(text):
        match = _FILTER.match(word)
        if not match:
            search.append(word)
            continue
        key, value = match.group(1).lower(), match.group(2).strip()
        if key == "status":
            if value.lower() not in _STATUS_WORDS:
                raise ValidationFailed(
                    {"status": f"Unknown status “{value}”: use active, inactive, on-hold or archived."}
                )
            filters.status = _STATUS_WORDS[value.lower()]
        elif key == "industry":
            filters.industry = value
        elif key == "manager":
            slack_id = mentioned_user(value)
            manager: User | None = await users.by_slack_id(session, slack_id) if slack_id else None
            if manager is None:
                raise ValidationFailed({"manager": f"{value} is not a known account manager."})
            filters.account_manager_id = manager.id
        elif key == "health":
            filters.health = health.parse_level(value).value
        elif key == "sort":
            clients.check_sort(value)
            filters.sort_by = value.lower()
        else:
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise ValidationFailed({key: f"“{value}” is not a date: use YYYY-MM-DD."}) from None
            setattr(filters, "created_from" if key == "from" else "created_to", day)
        described.append(f"{key}: {value}")
    if search:
        filters.search = " ".join(search)
        described.append(f"“{filters.search}”")
    if filters.health and not any(d.startswith("sort: ") for d in described):
        filters.sort_by = "health"  # `health:at-risk`: the worst first
    return filters, ", ".join(described)


async def _client_list_payload(
    context: AsyncBoltContext, client: AsyncWebClient, query: str, page: int
) -> dict[str, Any]:
    async with acting(context, client, read_only=True) as (session, actor):
        filters, described = await _parse_list_query(session, query)
        settings = runtime(context).settings
        result = await clients.list_clients(
            session,
            filters=filters,
            page=page,
            tz=settings.tz,
            viewer=actor,
            health_on=clock.today(settings.tz),
            thresholds=thresholds(context),
            summaries=True,
        )
        return client_views.client_list(result, query=query, filters_text=described)


@subcommand("list")
async def command_list(request: CommandRequest) -> None:
    await request.reply(await _client_list_payload(request.context, request.client, request.args, 1))


async def click_list_page(
    ack: Any, action: dict[str, Any], respond: Any, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    query, page = client_views.read_page_value(action["value"])
    try:
        payload = await _client_list_payload(context, client, query, page)
    except DomainError as error:
        payload = domain_error_reply(error)
    await reply(respond, payload, replace=True)


def register(app: AsyncApp) -> None:
    app.view(client_views.FORM_CALLBACK)(submit_client_form)
    app.action(client_views.ADD_CONTACT_ACTION)(click_add_contact)
    app.action(client_views.NEW_CLIENT_ACTION)(click_new_client)
    app.action(client_views.EDIT_ACTION)(click_edit_client)
    app.action(client_views.OPEN_ACTION)(click_open_client)
    app.action(client_views.ADDRESS_ACTION)(click_add_address)
    app.action(re.compile(f"^{client_views.LIST_PAGE_ACTION}_(prev|next)$"))(click_list_page)
    app.shortcut("new_client")(open_new_client_shortcut)
