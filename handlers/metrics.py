"""`/client metrics [PERIOD]`: the agency's success metrics (HR Managers and Admins), and their App Home
section."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Role, User
from bot.roles import has_role
from bot.runtime import Runtime
from bot.services import metrics
from handlers.commands import CommandRequest, subcommand
from handlers.common import acting, runtime, split_args
from views import metrics as metrics_views


@subcommand("metrics")
async def command_metrics(request: CommandRequest) -> None:
    words = split_args(request.args)
    rt = runtime(request.context)
    async with acting(request.context, request.client) as (session, actor):
        figures = await metrics.build(
            session, actor=actor, period=words[0] if words else None, tz=rt.settings.tz
        )
    await request.reply(metrics_views.metrics_message(figures))


async def home_blocks(session: AsyncSession, actor: User, rt: Runtime) -> list[dict[str, Any]]:
    """The App Home section for HR Managers and Admins; nothing for anyone else."""
    if not has_role(actor, Role.MANAGER):
        return []
    figures = await metrics.build(session, actor=actor, period=None, tz=rt.settings.tz, history=False)
    return metrics_views.home_section(figures)


def register(app: AsyncApp) -> None:
    """The sub-command registers itself with `/client` on import."""
