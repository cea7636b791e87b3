"""The App Home tab: the viewer's own portfolio."""

from __future__ import annotations

from typing import Any

from bot.models import Client, User
from bot.roles import ROLE_TITLES
from views.clients import NEW_CLIENT_ACTION, OPEN_ACTION, STATUS_ICONS
from views.common import actions, button, context, divider, escape, header, section


def home_view(user: User, clients: list[Client], *, total: int, can_create: bool) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        header("clientbot"),
        context(f"You are {ROLE_TITLES[user.role_enum]}. Type `/client help` for every command."),
    ]
    if can_create:
        new_client = button("New client", NEW_CLIENT_ACTION, style="primary")
        blocks.append(actions(new_client, block_id="home_actions"))
    blocks += [divider(), section(f"*Your clients* ({total})")]
    if not clients:
        blocks.append(context("You are not the account manager of any client yet."))
    for client in clients[:40]:
        blocks.append(
            section(
                f"{STATUS_ICONS.get(client.status, '')} *{escape(client.name)}* `{client.client_code}`"
                f"{' · ' + escape(client.industry) if client.industry else ''}",
                accessory=button("Open", OPEN_ACTION, str(client.id)),
            )
        )
    if total > len(clients[:40]):
        blocks.append(context(f"Showing {len(clients[:40])} of {total}: use `/client list manager:@you`."))
    return {"type": "home", "blocks": blocks}
