"""Role changes, users clientbot refuses to serve, and deactivated account managers."""

from __future__ import annotations

from typing import Any

from bot.models import User
from bot.roles import ROLE_TITLES
from bot.services.users import Departure
from views.common import context, escape, mention, message, section

CLIENTS_LISTED_MAX = 40  # one line each in a section; the rest are counted


def role_changed_message(user: User) -> dict[str, Any]:
    who = mention(user.slack_user_id)
    text = f":bust_in_silhouette: {who} is now *{ROLE_TITLES[user.role_enum]}* (`{user.role}`)."
    return message(f"{user.display_name} is now {user.role}", [section(text)])


REFUSALS = {
    "unknown": (
        "Slack couldn't tell clientbot who you are just now (it didn't answer in time, or doesn't show your "
        "account to the app), so nothing was done. Please try again in a minute; if this keeps happening, "
        "ask an HR Admin to check clientbot's access."
    ),
    "external": (
        "Your Slack account belongs to another organisation (Slack Connect, or another workspace), so "
        "clientbot doesn't show you client records and nothing was done. clientbot is only for members of "
        "the organisation that installed it."
    ),
    "bot": "clientbot serves people only: bots and apps can't use it, so nothing was done.",
    "deactivated": "This Slack account is deactivated, so clientbot does nothing for it.",
}


def access_refused_message(reason: str) -> dict[str, Any]:
    """What a user clientbot won't serve is told (ephemerally), by reason: unknown, external, bot,
    deactivated."""
    text = REFUSALS.get(reason, REFUSALS["unknown"])
    return message(text, [section(f":no_entry: {text}")])


def departed_manager_message(departure: Departure) -> dict[str, Any]:
    """To each HR Admin: an account manager was deactivated in Slack; their clients need a new one."""
    who = f"{mention(departure.slack_user_id)} ({escape(departure.display_name)})"
    lines = [f"• `{code}` {escape(name)}" for code, name in departure.clients[:CLIENTS_LISTED_MAX]]
    more = len(departure.clients) - len(lines)
    if more > 0:
        lines.append(f"…and {more} more.")
    count = len(departure.clients)
    blocks = [
        section(
            f":busts_in_silhouette: {who} was deactivated in Slack, so they no longer have a clientbot role. "
            f"They were the account manager of {count} client{'s' if count != 1 else ''} that need a new one:"
        ),
        section("\n".join(lines)),
        context(
            "To reassign: `/client bulk` → *Reassign account manager*, filtered by their name; "
            "or `/client edit CODE` for one client."
        ),
    ]
    return message(f"{departure.display_name} was deactivated: {count} client(s) to reassign", blocks)


def permission_message(text: str, people: list[str]) -> dict[str, Any]:
    """A refusal that says who can do it (`people`: Slack ids holding the role needed)."""
    blocks = [section(f":no_entry_sign: {escape(text)}")]
    if people:
        blocks.append(context("Who can: " + ", ".join(mention(p) for p in people) + ". Ask one of them."))
    return message(text, blocks)
