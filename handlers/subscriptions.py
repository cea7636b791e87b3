"""`/client subscribe CODE [events…]`, `/client subscriptions`, `/client unsubscribe CODE`, in a channel."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import ValidationFailed
from bot.services import clients, subscriptions
from handlers.commands import CommandRequest, subcommand
from handlers.common import acting, log, split_args
from views import subscriptions as views

USAGE = "Use `/client subscribe CODE [status hires important feedback health]` in the channel to post into."


def _reference_and_events(args: str) -> tuple[str, list[str]]:
    """`Acme Corp hires status` -> ("Acme Corp", ["hires", "status"]): trailing event names are events,
    the words before them name the client (a code, or a name that may be quoted). After a client code,
    every word is an event."""
    words = split_args(args)
    if words and clients.CODE_PATTERN.match(words[0]):
        return words[0], words[1:]
    cut = len(words)
    while cut > 1 and all(
        part in subscriptions.ALIASES for part in words[cut - 1].lower().split(",") if part
    ):
        cut -= 1
    return " ".join(words[:cut]), words[cut:]


async def channel_state(client: AsyncWebClient, channel_id: str) -> subscriptions.ChannelState:
    """What conversations.info says about the channel; an error (channel_not_found) is kept, not raised."""
    try:
        info = (await client.conversations_info(channel=channel_id))["channel"]
    except SlackApiError as error:
        log.info("conversations.info %s: %s", channel_id, error.response.get("error"))
        return subscriptions.ChannelState(channel_id, error=str(error.response.get("error")))
    return subscriptions.ChannelState(
        channel_id,
        is_member=bool(info.get("is_member")),
        is_archived=bool(info.get("is_archived")),
        is_im=bool(info.get("is_im") or info.get("is_mpim")),
    )


def _channel_id(request: CommandRequest) -> str:
    return str(request.body.get("channel_id") or "")


@subcommand("subscribe")
async def command_subscribe(request: CommandRequest) -> None:
    reference, words = _reference_and_events(request.args)
    if not reference:
        raise ValidationFailed({"client": USAGE})
    events = subscriptions.parse_events(words)
    async with acting(request.context, request.client) as (session, actor):
        state = await channel_state(request.client, _channel_id(request))
        sub, created = await subscriptions.subscribe(
            session, actor=actor, channel=state, reference=reference, events=events
        )
        answer = views.subscribed_message(sub, created=created)
    await request.reply(answer)


@subcommand("unsubscribe")
async def command_unsubscribe(request: CommandRequest) -> None:
    reference = " ".join(split_args(request.args))
    if not reference:
        raise ValidationFailed({"client": "Use `/client unsubscribe CODE` in the subscribed channel."})
    async with acting(request.context, request.client) as (session, actor):
        sub = await subscriptions.unsubscribe(
            session, actor=actor, channel_id=_channel_id(request), reference=reference
        )
        answer = views.unsubscribed_message(sub)
    await request.reply(answer)


@subcommand("subscriptions")
async def command_subscriptions(request: CommandRequest) -> None:
    async with acting(request.context, request.client) as (session, actor):
        subs = await subscriptions.in_channel(session, actor=actor, channel_id=_channel_id(request))
        answer = views.subscriptions_message(subs)
    await request.reply(answer)


def register(app: AsyncApp) -> None:
    """The sub-commands register themselves with `/client` on import."""
