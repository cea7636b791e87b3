"""The one slash command, `/client`: the first word picks a sub-command registered by a feature module."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import DomainError
from handlers.common import domain_error_reply, log, on_error, reply
from views.help import help_message


@dataclass
class CommandRequest:
    """A parsed `/client SUB args…` invocation and what a sub-command needs to answer it."""

    name: str
    args: str
    body: dict[str, Any]
    context: AsyncBoltContext
    client: AsyncWebClient
    respond: Any

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
        await reply(self.respond, payload)


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
        intro = f"I don't know `{name}`." if name and name.lower() != "help" else None
        await reply(respond, help_message(available(), intro))
        return
    request = CommandRequest(name.lower(), args.strip(), body, context, client, respond)
    try:
        await route(request)
    except DomainError as error:
        await reply(respond, domain_error_reply(error))
    except Exception as error:  # after the ack: report it here, Bolt would turn a quick failure into a 404
        await on_error(error, body, context, log, client)


def register(app: AsyncApp) -> None:
    app.command("/client")(on_client_command)
