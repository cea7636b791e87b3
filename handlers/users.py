"""`/client role @user admin|manager|recruiter` (HR Admins only)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.errors import ValidationFailed
from bot.models import Role
from bot.services import users
from handlers.commands import CommandRequest, subcommand
from handlers.common import acting, mentioned_user, runtime, slack_profile, split_args
from views.users import role_changed_message

USAGE = "Usage: `/client role @user admin|manager|recruiter`"


@subcommand("role")
async def command_role(request: CommandRequest) -> None:
    words = split_args(request.args)
    target = mentioned_user(words[0]) if words else None
    roles = {r.value for r in Role}
    if len(words) != 2 or target is None or words[1].lower() not in roles:
        raise ValidationFailed({"text": USAGE}, USAGE)
    profile = await slack_profile(request.client, target)
    async with acting(request.context, request.client) as (session, actor):
        user = await users.set_role(
            session,
            actor=actor,
            target_slack_id=target,
            role=Role(words[1].lower()),
            admins=runtime(request.context).settings.admins,
        )
        if profile.get("display_name"):
            user.display_name = profile["display_name"]
    await request.reply(role_changed_message(user))  # after the commit, so what we say is what is stored


def register(app: AsyncApp) -> None:
    """Sub-commands register themselves with the router on import."""
