"""`/client role @user admin|manager|recruiter` (HR Admins only), and keeping Slack profiles fresh
(`user_change`, `team_join`)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import ValidationFailed
from bot.models import Role
from bot.services import users
from handlers.commands import CommandRequest, subcommand
from handlers.common import (
    acting,
    installation,
    log,
    mentioned_user,
    profile_of,
    runtime,
    slack_profile,
    split_args,
    tell_admins_of_departure,
)
from views.users import role_changed_message

USAGE = "Usage: `/client role @user admin|manager|recruiter`"


@subcommand("role")
async def command_role(request: CommandRequest) -> None:
    words = split_args(request.args)
    target = mentioned_user(words[0]) if words else None
    roles = {r.value for r in Role}
    if len(words) != 2 or target is None or words[1].lower() not in roles:
        raise ValidationFailed({"text": USAGE}, USAGE)
    profile = await slack_profile(request.client, target)  # None: Slack can't tell who it is
    async with acting(request.context, request.client) as (session, actor):
        user = await users.set_role(
            session,
            actor=actor,
            target_slack_id=target,
            role=Role(words[1].lower()),
            admins=runtime(request.context).settings.admins,
            profile=profile,
            home=await installation(request.context, request.client),
        )
    await request.reply(role_changed_message(user))  # after the commit, so what we say is what is stored


async def on_user_change(event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient) -> None:
    """Slack tells us a profile changed (`user_change`) or a member joined (`team_join`): store it at once,
    so a member made a guest, deactivated, or moved out of the organisation loses access now rather than
    at the next daily re-read. A deactivated account manager's clients are listed to the HR Admins."""
    user = event.get("user")
    if not isinstance(user, dict) or not user.get("id"):
        return
    home = await installation(context, client)
    if not home.includes(team_id=context.team_id, enterprise_id=context.enterprise_id):
        log.warning("%s for another installation (%s) ignored", event.get("type"), context.team_id)
        return
    rt = runtime(context)
    async with rt.db.session() as session:
        _, departure = await users.learn(
            session,
            profile=profile_of(user),
            admins=rt.settings.admins,
            home=home,
            create=event.get("type") == "team_join",
        )
    await tell_admins_of_departure(client, departure)


def register(app: AsyncApp) -> None:
    """Sub-commands register themselves with the router on import."""
    app.event("user_change")(on_user_change)
    app.event("team_join")(on_user_change)
