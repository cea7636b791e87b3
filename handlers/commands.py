"""The one slash command, `/client`: the first word picks a sub-command registered by a feature module."""

from __future__ import annotations

import difflib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import DomainError
from bot.models import Role
from bot.roles import has_role
from handlers.common import (
    acting,
    domain_error_reply,
    explain,
    log,
    on_error,
    reply,
    unexpected_error_reply,
)
from views.clients import PICK_ACTION
from views.common import read_value
from views.help import HELP_ACTION, help_message, unknown_command_message


@dataclass
class CommandRequest:
    """A parsed `/client SUB args…` invocation and what a sub-command needs to answer it."""

    name: str
    args: str
    body: dict[str, Any]
    context: AsyncBoltContext
    client: AsyncWebClient
    respond: Any
    progress_shown: bool = False  # a progress note was posted: the next answer replaces it

    @property
    def user_id(self) -> str:
        return self.body["user_id"]

    @property
    def trigger_id(self) -> str:
        return self.body["trigger_id"]

    @property
    def response_url(self) -> str | None:
        return self.body.get("response_url")

    async def reply(self, payload: dict[str, Any]) -> None:
        """Answer; the answer takes the place of a progress note, if one is up."""
        await reply(self.respond, payload, replace=self.progress_shown)
        self.progress_shown = False

    async def progress(self, payload: dict[str, Any]) -> None:
        """A progress note ("⏳ Building…") that the answer, or the error, replaces."""
        await reply(self.respond, payload, replace=self.progress_shown)
        self.progress_shown = True


SubCommand = Callable[[CommandRequest], Awaitable[None]]
ROUTES: dict[str, SubCommand] = {}


def subcommand(*names: str) -> Callable[[SubCommand], SubCommand]:
    def register_route(func: SubCommand) -> SubCommand:
        for name in names:
            ROUTES[name] = func
        return func

    return register_route


def available() -> list[str]:
    return list(ROUTES)


async def on_client_command(
    ack: Any, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient, respond: Any
) -> None:
    await ack()  # always within 3 s; the work and the answer follow through the response_url
    name, _, args = (body.get("text") or "").strip().partition(" ")
    route = ROUTES.get(name.lower())
    if route is None:
        if name and name.lower() != "help":  # a typo: the command it was probably meant to be, not all help
            guess = difflib.get_close_matches(name.lower(), available(), n=1, cutoff=0.6)
            await reply(respond, unknown_command_message(name, guess[0] if guess else None, args.strip()))
        else:
            await _help(context, client, respond)
        return
    await _run(route, CommandRequest(name.lower(), args.strip(), body, context, client, respond))


async def _help(context: AsyncBoltContext, client: AsyncWebClient, respond: Any) -> None:
    """Help for what the user's role allows."""
    try:
        async with acting(context, client, read_only=True) as (_session, actor):
            role = next(r for r in (Role.ADMIN, Role.MANAGER, Role.RECRUITER) if has_role(actor, r))
    except DomainError as error:
        await reply(respond, domain_error_reply(error))
        return
    await reply(respond, help_message(available(), role=role))


async def click_help(ack: Any, context: AsyncBoltContext, client: AsyncWebClient, respond: Any) -> None:
    await ack()
    await _help(context, client, respond)


async def _run(route: SubCommand, request: CommandRequest) -> None:
    try:
        await route(request)
    except DomainError as error:
        await request.reply(await explain(request.context, error, (request.name, request.args)))
    except Exception as error:  # after the ack: report it here, Bolt would turn a quick failure into a 404
        if request.progress_shown:  # "⏳ Building…" never stays on screen after a failure
            await request.reply(unexpected_error_reply(error, log))
        else:
            await on_error(error, request.body, request.context, log, request.client)


def with_code(args: str, query: str, code: str) -> str:
    """`args` as typed with the client name `query` (quoted or not) replaced by `code`; just `code` when
    the name can't be found in them."""
    for typed in (f'"{query}"', f"'{query}'", f"“{query}”"):
        at = args.lower().find(typed.lower())
        if at >= 0:
            return args[:at] + code + args[at + len(typed) :]
    match = re.search(rf"(?<!\S){re.escape(query)}(?!\S)", args, flags=re.IGNORECASE)
    return args[: match.start()] + code + args[match.end() :] if match else code


async def click_pick(
    ack: Any,
    body: dict[str, Any],
    action: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    respond: Any,
) -> None:
    """A *Pick* under "matches several clients" (or "did you mean"): the command the user typed, run again
    (as them, with every check) with the picked client's code in place of the name; or a button that runs
    a command as it is (no code: *Browse clients*, *Run /client show*)."""
    await ack()
    try:
        picked = read_value(action.get("value") or "")
        name, args = str(picked["n"]), str(picked.get("a") or "")
        if picked.get("c"):
            args = with_code(args, str(picked.get("q") or ""), str(picked["c"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        return
    route = ROUTES.get(name)
    if route is None:
        return
    command_body = {
        "user_id": body["user"]["id"],
        "trigger_id": body.get("trigger_id"),
        "response_url": body.get("response_url"),
        "channel_id": (body.get("channel") or {}).get("id"),
        "text": f"{name} {args}",
    }
    await _run(route, CommandRequest(name, args, command_body, context, client, respond))


def register(app: AsyncApp) -> None:
    app.command("/client")(on_client_command)
    app.action(re.compile(f"^{PICK_ACTION}_\\w+$"))(click_pick)
    app.action(HELP_ACTION)(click_help)
