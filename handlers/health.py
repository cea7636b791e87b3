"""Client health in Slack: `/client hot CODE on|off`, and the health the list, dashboard and Home show."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot import clock
from bot.errors import ValidationFailed
from bot.services import clients, health
from handlers.commands import CommandRequest, subcommand
from handlers.common import acting, runtime, split_args
from views import health as health_views

_SWITCH = {"on": True, "yes": True, "true": True, "off": False, "no": False, "false": False}


def thresholds(context: AsyncBoltContext) -> health.Thresholds:
    return health.Thresholds.of(runtime(context).settings)


async def page_health(
    session: Any, context: AsyncBoltContext, client_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, health.Health]:
    """Live health of the clients on a page (already filtered by what the viewer may see)."""
    today = clock.today(runtime(context).settings.tz)
    return await health.compute(session, client_ids, today=today, thresholds=thresholds(context))


@subcommand("hot")
async def command_hot(request: CommandRequest) -> None:
    words = split_args(request.args)
    if len(words) != 2 or words[1].lower() not in _SWITCH:
        raise ValidationFailed({"text": "Usage: `/client hot CODE on|off`"})
    hot = _SWITCH[words[1].lower()]
    async with acting(request.context, request.client) as (session, actor):
        record = await clients.find(session, words[0], viewer=actor)
        changed = await health.set_hot(session, actor=actor, client=record, hot=hot)
        payload = health_views.hot_changed_message(record, hot, changed)
    await request.reply(payload)


def register(app: AsyncApp) -> None:
    """Nothing but the sub-command (registered on import)."""
